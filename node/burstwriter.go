package node

import (
	"bufio"
	"io"
	"sync"
)

// burstWriter buffers a burst of writes to w that ends in Flush, in a
// bufio.Writer lent from pool for the burst only. A node keeps a chunk
// stream open to every peer it exchanges chunks with, and most of them are
// idle most of the time: a buffer per stream (64 KiB serving, 32 KiB
// fetching) held for the stream's life added up to a gigabyte in a
// hundred-node swarm. Its caller serializes Write and Flush (the stream's
// write lock).
type burstWriter struct {
	pool *sync.Pool // of *bufio.Writer
	w    io.Writer
	bw   *bufio.Writer // nil between bursts
}

// newWriterPool returns a pool of bufio.Writers of size bytes.
func newWriterPool(size int) *sync.Pool {
	return &sync.Pool{New: func() any { return bufio.NewWriterSize(nil, size) }}
}

// Write buffers p, borrowing a buffer if the burst has none yet.
func (b *burstWriter) Write(p []byte) (int, error) {
	if b.bw == nil {
		b.bw = b.pool.Get().(*bufio.Writer)
		b.bw.Reset(b.w)
	}
	return b.bw.Write(p)
}

// Flush writes what is buffered and gives the buffer back. On an error the
// unwritten rest is dropped (the stream is failed by then).
func (b *burstWriter) Flush() error {
	if b.bw == nil {
		return nil
	}
	err := b.bw.Flush()
	b.bw.Reset(nil)
	b.pool.Put(b.bw)
	b.bw = nil
	return err
}
