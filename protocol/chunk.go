package protocol

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ChunkProtocol is the libp2p protocol ID of the peer-to-peer chunk exchange.
//
// A stream carries frames in both directions. Each side first sends Hello
// (its protocol version and its tracker-signed ticket, so a cold request needs
// no separate admission round trip), then the requester sends any number of
// Requests without waiting (pipelining) and the server answers each with a
// Response carrying the same ID, in any order. Cancel withdraws a request the
// requester no longer wants; the server may still answer it.
//
// Versions (each side says its own in Hello; a frame the other side's
// version lacks is never sent to it):
//   - 1: Hello, Request, Response, Cancel. A server answers a stream's
//     requests in the order they came.
//   - 2 (December 2026): adds DatedRequest, a Request with the requester's
//     deadline. A version-2 server serves a stream's undated requests first,
//     in order, then the dated ones earliest deadline first, so a window of
//     requests deep enough to fill the path does not hold back an urgent
//     chunk (after a seek, say). A requester sends DatedRequest only once
//     the server's Hello said version 2 or later: its first flight, sent
//     before any answer, is plain Requests.
//
// The protocol ID names the framing, which every version shares.
const ChunkProtocol = "/chorus/chunk/1.0.0"

// AdmitProtocol is the libp2p protocol ID of the one-way admission stream:
// the opener sends a single Hello frame carrying its ticket and closes. Each
// side opens one on every new connection and again whenever its ticket is
// renewed.
const AdmitProtocol = "/chorus/admit/1.0.0"

// ChunkVersion is the chunk protocol version sent in Hello.
const ChunkVersion = 2

// DatedRequestVersion is the first version that understands DatedRequest.
const DatedRequestVersion = 2

// MaxChunkData bounds the data of one Response: 1 MiB. Chunks are
// catalog.ChunkSize (16 KiB) today; the bound leaves room without letting a
// peer make us allocate much.
const MaxChunkData = 1 << 20

// MaxFramePayload bounds a frame's payload: MaxChunkData plus room for the
// response header. Larger frames are rejected before anything is allocated.
const MaxFramePayload = MaxChunkData + 64

// maxCIDSize bounds an encoded CID in a Request.
const maxCIDSize = 128

// Chunk protocol codec errors.
var (
	ErrFrameTooLarge = errors.New("chunk protocol: frame too large")
	ErrUnknownType   = errors.New("chunk protocol: unknown message type")
	ErrMalformed     = errors.New("chunk protocol: malformed message")
)

// MessageType is the first byte of a frame.
type MessageType byte

// Message types.
const (
	TypeHello    MessageType = 1
	TypeRequest  MessageType = 2
	TypeResponse MessageType = 3
	TypeCancel   MessageType = 4
	// TypeDatedRequest is version 2's: never send it to a version-1 peer.
	TypeDatedRequest MessageType = 5
)

// Message is one chunk protocol message: *Hello, *Request, *DatedRequest,
// *Response or *Cancel.
type Message interface {
	Type() MessageType
	appendPayload(b []byte) []byte
}

// Hello opens each direction of a chunk or admission stream.
type Hello struct {
	Version uint64
	Ticket  []byte // JSON-encoded Ticket (see DecodeTicket), at most MaxTicketSize bytes; may be empty
}

// Request asks for one chunk by CID. ID is chosen by the requester and
// unique among its outstanding requests on the stream.
type Request struct {
	ID  uint64
	CID []byte // binary CID (cid.Cid.Bytes()); the codec checks only its length
}

// DatedRequest is a Request with the requester's deadline for the chunk
// (version 2). Deadline counts milliseconds on the requester's own clock
// from any epoch it keeps for the stream: the server only compares the
// deadlines of one stream. ID shares the space of Request IDs.
type DatedRequest struct {
	ID       uint64
	Deadline uint64
	CID      []byte // as Request.CID
}

// Status is the outcome of a Request.
type Status byte

// Response statuses.
const (
	StatusOK       Status = 0 // Data holds the chunk
	StatusDontHave Status = 1 // the server does not hold the chunk
	StatusBusy     Status = 2 // the server has no free upload slot, or does not upload
	StatusError    Status = 3 // the server failed; try elsewhere
)

// String names the status.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusDontHave:
		return "dont-have"
	case StatusBusy:
		return "busy"
	case StatusError:
		return "error"
	}
	return fmt.Sprintf("status(%d)", byte(s))
}

// Response answers the Request with the same ID.
type Response struct {
	ID     uint64
	Status Status
	Data   []byte // the chunk when Status is StatusOK, else empty; at most MaxChunkData bytes
}

// Cancel withdraws the Request with the same ID.
type Cancel struct {
	ID uint64
}

// Type implements Message.
func (*Hello) Type() MessageType { return TypeHello }

// Type implements Message.
func (*Request) Type() MessageType { return TypeRequest }

// Type implements Message.
func (*DatedRequest) Type() MessageType { return TypeDatedRequest }

// Type implements Message.
func (*Response) Type() MessageType { return TypeResponse }

// Type implements Message.
func (*Cancel) Type() MessageType { return TypeCancel }

func (m *Hello) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, m.Version)
	return append(b, m.Ticket...)
}

func (m *Request) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ID)
	return append(b, m.CID...)
}

func (m *DatedRequest) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ID)
	b = binary.AppendUvarint(b, m.Deadline)
	return append(b, m.CID...)
}

func (m *Response) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ID)
	b = append(b, byte(m.Status))
	return append(b, m.Data...)
}

func (m *Cancel) appendPayload(b []byte) []byte {
	return binary.AppendUvarint(b, m.ID)
}

// validate checks the bounds WriteMessage enforces, so that a peer never
// receives a frame its ReadMessage would reject.
func validate(msg Message) error {
	switch m := msg.(type) {
	case *Hello:
		if len(m.Ticket) > MaxTicketSize {
			return fmt.Errorf("%w: hello ticket of %d bytes", ErrMalformed, len(m.Ticket))
		}
	case *Request:
		if len(m.CID) == 0 || len(m.CID) > maxCIDSize {
			return fmt.Errorf("%w: request CID of %d bytes", ErrMalformed, len(m.CID))
		}
	case *DatedRequest:
		if len(m.CID) == 0 || len(m.CID) > maxCIDSize {
			return fmt.Errorf("%w: dated request CID of %d bytes", ErrMalformed, len(m.CID))
		}
	case *Response:
		if len(m.Data) > MaxChunkData {
			return fmt.Errorf("%w: response data of %d bytes", ErrFrameTooLarge, len(m.Data))
		}
		if m.Status > StatusError {
			return fmt.Errorf("%w: status %d", ErrMalformed, m.Status)
		}
	case *Cancel:
	case nil:
		return fmt.Errorf("%w: nil message", ErrMalformed)
	default:
		return fmt.Errorf("%w: %T", ErrUnknownType, msg)
	}
	return nil
}

// WriteMessage writes msg as one frame: type byte, uvarint payload length,
// payload. It issues a single Write.
func WriteMessage(w io.Writer, msg Message) error {
	if err := validate(msg); err != nil {
		return err
	}
	payload := msg.appendPayload(make([]byte, 0, 64))
	if len(payload) > MaxFramePayload {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(payload))
	}
	frame := make([]byte, 0, 1+binary.MaxVarintLen64+len(payload))
	frame = append(frame, byte(msg.Type()))
	frame = binary.AppendUvarint(frame, uint64(len(payload)))
	frame = append(frame, payload...)
	if _, err := w.Write(frame); err != nil {
		return fmt.Errorf("chunk protocol: write %T: %w", msg, err)
	}
	return nil
}

// byteReader is what ReadMessage needs; *bufio.Reader satisfies it.
type byteReader interface {
	io.Reader
	io.ByteReader
}

// ReadMessage reads one frame from r. If r is not an io.ByteReader it is read
// one byte at a time for the header; wrap streams in a bufio.Reader and keep
// reusing it. A clean end of stream before a frame returns io.EOF; a frame cut
// short returns io.ErrUnexpectedEOF.
func ReadMessage(r io.Reader) (Message, error) {
	br, ok := r.(byteReader)
	if !ok {
		br = &oneByteReader{r: r}
	}
	t, err := br.ReadByte()
	if err != nil {
		return nil, err // io.EOF at a frame boundary is a clean close
	}
	mt := MessageType(t)
	if mt < TypeHello || mt > TypeDatedRequest {
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, t)
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: frame length: %v", ErrMalformed, err)
	}
	if n > MaxFramePayload {
		return nil, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return decodePayload(mt, payload)
}

func decodePayload(mt MessageType, p []byte) (Message, error) {
	id, k := binary.Uvarint(p)
	if k <= 0 {
		return nil, fmt.Errorf("%w: type %d: bad leading uvarint", ErrMalformed, mt)
	}
	rest := p[k:]
	var msg Message
	switch mt {
	case TypeHello:
		msg = &Hello{Version: id, Ticket: rest}
	case TypeRequest:
		msg = &Request{ID: id, CID: rest}
	case TypeResponse:
		if len(rest) < 1 {
			return nil, fmt.Errorf("%w: response without status", ErrMalformed)
		}
		msg = &Response{ID: id, Status: Status(rest[0]), Data: rest[1:]}
	case TypeDatedRequest:
		dl, k := binary.Uvarint(rest)
		if k <= 0 {
			return nil, fmt.Errorf("%w: dated request: bad deadline", ErrMalformed)
		}
		msg = &DatedRequest{ID: id, Deadline: dl, CID: rest[k:]}
	case TypeCancel:
		if len(rest) != 0 {
			return nil, fmt.Errorf("%w: cancel with %d trailing bytes", ErrMalformed, len(rest))
		}
		msg = &Cancel{ID: id}
	}
	if err := validate(msg); err != nil {
		return nil, err
	}
	return msg, nil
}

type oneByteReader struct {
	r   io.Reader
	buf [1]byte
}

func (o *oneByteReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func (o *oneByteReader) ReadByte() (byte, error) {
	if _, err := io.ReadFull(o.r, o.buf[:]); err != nil {
		return 0, err
	}
	return o.buf[0], nil
}

var _ byteReader = (*bufio.Reader)(nil)
