package main

import (
	"flag"
	"io"
	"reflect"
	"testing"
)

func TestParseFlagsInterspersed(t *testing.T) {
	tests := []struct {
		args    []string
		wantPos []string
		wantOut string
		wantErr bool
	}{
		{[]string{"TRACK", "--out", "f.wav"}, []string{"TRACK"}, "f.wav", false},
		{[]string{"--out", "f.wav", "TRACK"}, []string{"TRACK"}, "f.wav", false},
		{[]string{"a", "--out", "x", "b"}, []string{"a", "b"}, "x", false},
		{[]string{"--", "--out"}, []string{"--out"}, "", false},
		{[]string{"a", "--", "--out", "x"}, []string{"a", "--out", "x"}, "", false},
		{[]string{"--nope"}, nil, "", true},
		{nil, nil, "", false},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		out := fs.String("out", "", "")
		pos, err := parseFlags(fs, tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseFlags(%q) error = %v; want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if !reflect.DeepEqual(pos, tt.wantPos) || *out != tt.wantOut {
			t.Errorf("parseFlags(%q) = %q, out %q; want %q, out %q", tt.args, pos, *out, tt.wantPos, tt.wantOut)
		}
	}
}
