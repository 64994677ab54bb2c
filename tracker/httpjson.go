package tracker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/chorus-music/chorus/protocol"
)

// apiError is an error with its HTTP status and wire code. Handlers return
// it; writeError turns it into a protocol.Error body. Only here do errors
// become wire codes.
type apiError struct {
	status  int
	code    string
	msg     string
	retryIn int // seconds, for 429
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.msg) }

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: protocol.CodeBadRequest, msg: fmt.Sprintf(format, args...)}
}

func unauthorized(msg string) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: protocol.CodeUnauthorized, msg: msg}
}

func forbidden(msg string) *apiError {
	return &apiError{status: http.StatusForbidden, code: protocol.CodeForbidden, msg: msg}
}

func notFound(msg string) *apiError {
	return &apiError{status: http.StatusNotFound, code: protocol.CodeNotFound, msg: msg}
}

var errInternal = &apiError{status: http.StatusInternalServerError, code: protocol.CodeInternal, msg: "internal error"}

// writeJSON writes v as a JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Our own wire types always marshal; this is a programming error.
		status = http.StatusInternalServerError
		body = []byte(`{"error":"internal error","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n')) //nolint:errcheck // the client may have gone
}

// writeError writes err as a protocol.Error. Errors that are not apiErrors
// are logged and answered with a bare 500, never their text.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.log.ErrorContext(r.Context(), "request failed", slog.String("route", r.Pattern), slog.Any("err", err))
		ae = errInternal
	}
	if ae.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="chorus"`)
	}
	if ae.retryIn > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(ae.retryIn))
	}
	writeJSON(w, ae.status, protocol.Error{Error: ae.msg, Code: ae.code})
}

// decodeJSON reads exactly one JSON object of type T from body: at most
// protocol.MaxRequestBody bytes, no unknown fields, nothing after it.
func decodeJSON[T any](body io.Reader) (T, error) {
	var v T
	data, err := io.ReadAll(io.LimitReader(body, protocol.MaxRequestBody+1))
	if err != nil {
		return v, badRequest("reading body: %v", err)
	}
	if len(data) > protocol.MaxRequestBody {
		return v, &apiError{status: http.StatusRequestEntityTooLarge, code: protocol.CodeBadRequest,
			msg: fmt.Sprintf("body exceeds %d bytes", protocol.MaxRequestBody)}
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return v, badRequest("body must be one JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, badRequest("bad JSON body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return v, badRequest("bad JSON body: trailing data after the object")
	}
	return v, nil
}
