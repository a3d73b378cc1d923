package s3

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

func TestScratchSeq(t *testing.T) {
	f := newFixture(t, 0)
	f.bucket(t, "bench", false)
	size := int64(1 << 30)
	ctx := context.Background()
	if _, err := f.store.Put(ctx, "s3://bench/o", newPattern(99, size), size); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	base := func() {
		syscall.Sync()
		w0 := time.Now()
		obj, _ := f.raw.GetObject(ctx, "bench", "o", minio.GetObjectOptions{})
		out, _ := os.Create(filepath.Join(dir, "x"))
		io.Copy(out, obj)
		out.Close()
		obj.Close()
		fmt.Printf("baseline %v\n", time.Since(w0))
		os.Remove(out.Name())
	}
	cold := func(i int, keep bool) {
		syscall.Sync()
		cfg := f.cfg
		cfg.CacheDir = filepath.Join(dir, fmt.Sprint("c", i))
		cfg.Transport = nil
		s, _ := Open(ctx, cfg)
		w0 := time.Now()
		if _, _, err := s.Fetch(ctx, "s3://bench/o"); err != nil {
			t.Fatal(err)
		}
		d := time.Since(w0)
		s.Close()
		if !keep {
			os.RemoveAll(cfg.CacheDir)
		}
		fmt.Printf("cold %v (keep %v) write %v hash %v waitfree %v read %v\n", d, keep, DbgWrite, DbgHash, DbgFree, DbgRead)
		DbgWrite, DbgHash, DbgFree, DbgRead = 0, 0, 0, 0
	}
	base()
	for i := 0; i < 3; i++ {
		cold(i, false)
	}
	for i := 0; i < 3; i++ {
		base()
	}
	for i := 3; i < 6; i++ {
		cold(i, true)
	}
	for i := 0; i < 2; i++ {
		base()
	}
}
