package s3

import (
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// The ring of copyBufs buffers of copyBufSize bytes fits a core's L2
// cache, so the write and the hash read the chunk from cache; 1 MiB chunks
// measured over twice the CPU per byte (1 GiB: 2.5 s against 1.1 s).
const (
	copyBufSize = 128 << 10 // bytes read from the network per chunk
	copyBufs    = 8         // chunks in flight
)

var errWrite = errors.New("write cache file")

type chunk struct {
	buf  []byte
	n    int
	refs atomic.Int32
}

// copyHashed copies r to f and writes the same bytes to h, returning how
// many bytes were copied. Reading, writing and hashing run in three
// goroutines over a small ring of buffers, so the SHA-256 costs no
// throughput on a machine with a spare core. Write errors wrap errWrite;
// read errors are returned as they are.
func copyHashed(f *os.File, r io.Reader, h hash.Hash) (int64, error) {
	free := make(chan *chunk, copyBufs)
	for i := 0; i < copyBufs; i++ {
		free <- &chunk{buf: make([]byte, copyBufSize)}
	}
	toWrite := make(chan *chunk, copyBufs)
	toHash := make(chan *chunk, copyBufs)
	put := func(c *chunk) {
		if c.refs.Add(-1) == 0 {
			free <- c
		}
	}

	var wg sync.WaitGroup
	var writeErr error
	var failed atomic.Bool
	wg.Add(2)
	go func() { // writer
		defer wg.Done()
		for c := range toWrite {
			if writeErr == nil {
				if _, err := f.Write(c.buf[:c.n]); err != nil {
					writeErr = fmt.Errorf("%w: %v", errWrite, err)
					failed.Store(true)
				}
			}
			put(c)
		}
	}()
	go func() { // hasher
		defer wg.Done()
		for c := range toHash {
			h.Write(c.buf[:c.n])
			put(c)
		}
	}()

	var total int64
	var readErr error
	for !failed.Load() {
		c := <-free
		n, err := fill(r, c.buf)
		if n > 0 {
			c.n = n
			c.refs.Store(2)
			total += int64(n)
			toWrite <- c
			toHash <- c
		} else {
			free <- c
		}
		if err != nil {
			if err != io.EOF {
				readErr = err
			}
			break
		}
	}
	close(toWrite)
	close(toHash)
	wg.Wait()
	if writeErr != nil {
		return total, writeErr
	}
	return total, readErr
}

// fill reads into buf until it is full or r returns an error, which it
// returns as is (io.EOF at the end).
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
