package s3

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"sluice"
)

// MetaSHA256 is the user-metadata key (x-amz-meta-sha256) holding an
// object's SHA-256 as lowercase hex.
const MetaSHA256 = "sha256"

// Object describes one stored object, as uploaded or as fetched.
type Object struct {
	Location  string // s3://bucket/key
	ETag      string // without quotes
	VersionID string // empty when the bucket is not versioned
	Size      int64
	SHA256    string // lowercase hex
}

// Store reads and writes objects in one S3-compatible endpoint and caches
// fetched objects in a local directory. A Store is safe for concurrent use.
type Store struct {
	client *minio.Client
	core   minio.Core
	scrub  scrubber
	cache  *cache

	mu      sync.Mutex
	flights map[string]*flight // downloads in progress, by cache file name

	bg sync.WaitGroup // background fsyncs (persist)
}

// Open returns a Store for cfg. It makes no request to the server; it
// creates the cache directory, removes temporary files that crashed
// downloads left there and indexes the cached files.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.envErr != nil {
		return nil, sluice.Errorf(sluice.EINVALID, "s3: %v", cfg.envErr)
	}
	host, secure, err := cfg.endpoint()
	if err != nil {
		return nil, sluice.Errorf(sluice.EINVALID, "s3: %v", err)
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, sluice.Errorf(sluice.EINVALID, "s3: no credentials (set SLUICE_S3_ACCESS_KEY and SLUICE_S3_SECRET_KEY)")
	}
	if cfg.CacheMaxBytes < 0 {
		return nil, sluice.Errorf(sluice.EINVALID, "s3: negative CacheMaxBytes %d", cfg.CacheMaxBytes)
	}
	dir := cfg.CacheDir
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, sluice.Errorf(sluice.EINVALID, "s3: no cache directory (set SLUICE_CACHE_DIR): %v", err)
		}
		dir = filepath.Join(base, "sluice", "s3")
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("s3: cache directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("s3: cache directory: %w", err)
	}
	s := &Store{scrub: newScrubber(cfg), flights: map[string]*flight{}}
	s.client, err = minio.New(host, &minio.Options{
		Creds:           credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:          secure,
		Region:          cfg.Region,
		Transport:       cfg.Transport,
		TrailingHeaders: true, // needed for the server-verified SHA-256 checksum on upload
	})
	if err != nil {
		return nil, sluice.Errorf(sluice.EINVALID, "s3: client for %s: %s", host, s.scrub.scrub(err.Error()))
	}
	s.core = minio.Core{Client: s.client}
	s.cache = newCache(dir, cfg.CacheMaxBytes)
	if err := s.cache.load(); err != nil {
		return nil, fmt.Errorf("s3: cache directory %s: %w", dir, err)
	}
	return s, nil
}

// String describes the Store without its credentials.
func (s *Store) String() string {
	return fmt.Sprintf("s3.Store{Endpoint:%q CacheDir:%q}", s.client.EndpointURL().String(), s.cache.dir)
}

// CacheDir returns the directory of the local cache.
func (s *Store) CacheDir() string { return s.cache.dir }

// CacheUsage returns the number and total size of the cached files.
func (s *Store) CacheUsage() (files int, bytes int64) { return s.cache.usage() }

// Put uploads size bytes of r to location. size may be -1 when unknown. The
// object's SHA-256 is computed first, sent as a checksum that the server
// verifies, and recorded as user metadata "sha256" for Fetch to verify
// downloads against. When r is an io.ReadSeeker (an *os.File) it is read
// twice from its current offset; otherwise it is spooled to a temporary file
// in the cache directory, which is removed afterwards.
func (s *Store) Put(ctx context.Context, loc string, r io.Reader, size int64) (Object, error) {
	bucket, key, err := ParseLocation(loc)
	if err != nil {
		return Object{}, err
	}
	loc = location(bucket, key)

	var body io.Reader
	var sum string
	if rs, ok := r.(io.ReadSeeker); ok {
		start, err := rs.Seek(0, io.SeekCurrent)
		if err != nil {
			return Object{}, s.objErr(loc, sluice.EINTERNAL, "upload: read source", err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rs)
		if err != nil {
			return Object{}, s.objErr(loc, sluice.EINTERNAL, "upload: read source", err)
		}
		if size >= 0 && n != size {
			return Object{}, s.objErrf(loc, sluice.EINVALID, "upload: size mismatch", "source has %d bytes, %d declared", n, size)
		}
		if _, err := rs.Seek(start, io.SeekStart); err != nil {
			return Object{}, s.objErr(loc, sluice.EINTERNAL, "upload: rewind source", err)
		}
		body, size, sum = io.LimitReader(rs, n), n, hex.EncodeToString(h.Sum(nil))
		if ra, ok := r.(io.ReaderAt); ok {
			body = io.NewSectionReader(ra, start, n) // lets minio-go upload parts in parallel
		}
	} else {
		f, err := os.CreateTemp(s.cache.dir, tmpPrefix+"put-*")
		if err != nil {
			return Object{}, s.objErr(loc, sluice.EINTERNAL, "upload: spool", err)
		}
		defer func() { f.Close(); os.Remove(f.Name()) }()
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, h), r)
		if err != nil {
			return Object{}, s.objErr(loc, sluice.EINTERNAL, "upload: read source", err)
		}
		if size >= 0 && n != size {
			return Object{}, s.objErrf(loc, sluice.EINVALID, "upload: size mismatch", "source has %d bytes, %d declared", n, size)
		}
		body, size, sum = io.NewSectionReader(f, 0, n), n, hex.EncodeToString(h.Sum(nil))
	}

	info, err := s.client.PutObject(ctx, bucket, key, body, size, minio.PutObjectOptions{
		UserMetadata: map[string]string{MetaSHA256: sum},
		Checksum:     minio.ChecksumSHA256,
		ContentType:  contentType(key),
	})
	if err != nil {
		return Object{}, s.objErr(loc, codeOf(err), failed("upload", err), err)
	}
	if info.Size != size {
		return Object{}, s.objErrf(loc, sluice.EINTERNAL, "upload: size mismatch", "server stored %d bytes, sent %d", info.Size, size)
	}
	// The server checked what minio-go sent against the SHA-256 minio-go
	// computed while sending. Where the server reports that checksum for
	// the whole object (single-part uploads), it must also be the one
	// recorded in the metadata, or the source changed between the two reads.
	if b, err := base64.StdEncoding.DecodeString(info.ChecksumSHA256); err == nil && len(b) == sha256.Size {
		if got := hex.EncodeToString(b); got != sum {
			return Object{}, s.objErrf(loc, sluice.EINTERNAL, "upload: source changed while uploading",
				"stored sha256 %s, metadata sha256 %s", got, sum)
		}
	}
	return Object{Location: loc, ETag: info.ETag, VersionID: info.VersionID, Size: size, SHA256: sum}, nil
}

// Stat returns what the server says of the object at location, including
// the SHA-256 recorded by Put ("" when there is none).
func (s *Store) Stat(ctx context.Context, loc string) (Object, error) {
	bucket, key, err := ParseLocation(loc)
	if err != nil {
		return Object{}, err
	}
	loc = location(bucket, key)
	info, err := s.client.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return Object{}, s.objErr(loc, codeOf(err), failed("stat", err), err)
	}
	return Object{
		Location:  loc,
		ETag:      strings.Trim(info.ETag, `"`),
		VersionID: info.VersionID,
		Size:      info.Size,
		SHA256:    strings.ToLower(info.Metadata.Get("X-Amz-Meta-" + MetaSHA256)),
	}, nil
}

// Remove deletes the object at location, then its cached copy (in that
// order, so a Fetch racing with it cannot cache the object again after).
// An object that is already gone is not an error. A copy a Fetch returned
// shortly before stays readable by whoever holds it open (POSIX keeps an
// open file's data). On a versioned bucket the server keeps the object's
// earlier versions behind a delete marker: their lifecycle is the
// bucket's.
func (s *Store) Remove(ctx context.Context, loc string) error {
	bucket, key, err := ParseLocation(loc)
	if err != nil {
		return err
	}
	loc = location(bucket, key)
	obj, statErr := s.Stat(ctx, loc)
	if statErr != nil && sluice.ErrorCode(statErr) != sluice.ENOTFOUND {
		return statErr
	}
	if err := s.client.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}); err != nil {
		if code := codeOf(err); code != sluice.ENOTFOUND {
			return s.objErr(loc, code, failed("remove", err), err)
		}
	}
	if statErr == nil {
		s.cache.remove(cacheName(bucket, key, obj))
	}
	return nil
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Fetch returns the path of a local, verified copy of the object at
// location, downloading it into the cache if it is not there yet, and what
// the server says of the object. See the package documentation for the
// cache's guarantees; the file must not be modified, and a caller that uses
// the path later than MinEvictAge after Fetch returned must fetch again.
//
// Errors are *Error values naming the location and what failed: ENOTFOUND
// for a missing bucket or object, EUNAVAILABLE when the server cannot be
// reached or the download is interrupted, EINTERNAL when the object has no
// sha256 metadata or its bytes do not match it.
func (s *Store) Fetch(ctx context.Context, loc string) (string, Object, error) {
	bucket, key, err := ParseLocation(loc)
	if err != nil {
		return "", Object{}, err
	}
	for attempt := 0; ; attempt++ {
		p, obj, err := s.fetch(ctx, bucket, key)
		// The object changed between stat and download (If-Match failed):
		// stat again, once.
		if err != nil && attempt == 0 && errors.Is(err, errChanged) {
			continue
		}
		return p, obj, err
	}
}

var errChanged = errors.New("object changed during download")

func (s *Store) fetch(ctx context.Context, bucket, key string) (string, Object, error) {
	obj, err := s.Stat(ctx, location(bucket, key))
	if err != nil {
		return "", Object{}, err
	}
	loc := obj.Location
	if obj.SHA256 == "" {
		return "", Object{}, s.objErrf(loc, sluice.EINTERNAL, "no sha256 metadata",
			"refusing an object whose download cannot be verified; upload it with Store.Put or set x-amz-meta-%s", MetaSHA256)
	}
	if !hexSHA256.MatchString(obj.SHA256) {
		return "", Object{}, s.objErrf(loc, sluice.EINTERNAL, "bad sha256 metadata", "%q is not 64 hex digits", obj.SHA256)
	}
	name := cacheName(bucket, key, obj)
	if p, ok := s.cache.lookup(name, obj.Size); ok {
		return p, obj, nil
	}
	p, err := s.shared(ctx, loc, name, func(ctx context.Context) (string, error) {
		return s.fill(ctx, bucket, key, name, obj)
	})
	if err != nil {
		return "", Object{}, err
	}
	s.cache.touch(name)
	return p, obj, nil
}

// fill makes cache file name hold the verified object, for the one Fetch
// that the others wait on: it reuses a file that is there but not yet
// trusted (written before a crash, or by another process) once its SHA-256
// checks out, and downloads the object otherwise.
func (s *Store) fill(ctx context.Context, bucket, key, name string, obj Object) (string, error) {
	if p, ok := s.cache.lookup(name, obj.Size); ok { // a flight that just ended filled it
		return p, nil
	}
	if p, ok := s.reverify(name, obj); ok {
		return p, nil
	}
	return s.download(ctx, bucket, key, name, obj)
}

// reverify hashes an existing cache file that is not trusted. A match makes
// it trusted (and durable, in the background); anything else removes it.
func (s *Store) reverify(name string, obj Object) (string, bool) {
	p := filepath.Join(s.cache.dir, name)
	f, err := os.Open(p)
	if err != nil {
		return "", false
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil || n != obj.Size || hex.EncodeToString(h.Sum(nil)) != obj.SHA256 {
		f.Close()
		s.cache.remove(name)
		return "", false
	}
	s.cache.commit(name, obj.Size, 0)
	s.persist(f)
	return p, true
}

// persist makes f's contents durable and then marks the file trusted, in
// the background; see the package documentation. It closes f.
func (s *Store) persist(f *os.File) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer f.Close()
		if f.Sync() == nil {
			_ = f.Chmod(trustedMode)
		}
	}()
}

// Close waits for the cache files written so far to be made durable. The
// Store stays usable; Close may be called more than once.
func (s *Store) Close() error {
	s.bg.Wait()
	return nil
}

// download fetches the object described by obj into the cache file name,
// verifying its size and SHA-256.
func (s *Store) download(ctx context.Context, bucket, key, name string, obj Object) (_ string, err error) {
	loc := obj.Location
	if err := s.cache.reserve(obj.Size); err != nil {
		return "", s.objErr(loc, sluice.EUNAVAILABLE, "cache", err)
	}
	committed := false
	defer func() {
		if !committed {
			s.cache.release(obj.Size)
		}
	}()

	tmp, err := os.CreateTemp(s.cache.dir, tmpPrefix+name+"-*")
	if err != nil {
		return "", s.objErr(loc, sluice.EINTERNAL, "cache", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name()) // no partial file is ever left behind
		}
	}()

	opts := minio.GetObjectOptions{VersionID: obj.VersionID}
	if obj.ETag != "" {
		_ = opts.SetMatchETag(obj.ETag)
	}
	body, info, _, err := s.core.GetObject(ctx, bucket, key, opts)
	if err != nil {
		if r := minio.ToErrorResponse(err); r.StatusCode == http.StatusPreconditionFailed || r.Code == "PreconditionFailed" {
			return "", s.objErr(loc, sluice.EUNAVAILABLE, "download failed", errChanged)
		}
		return "", s.objErr(loc, codeOf(err), failed("download", err), err)
	}
	defer body.Close()
	if info.Size != obj.Size {
		return "", s.objErrf(loc, sluice.EUNAVAILABLE, "download failed", "%w: server sends %d bytes, stat said %d", errChanged, info.Size, obj.Size)
	}

	h := sha256.New()
	n, err := copyHashed(tmp, body, h)
	switch {
	case err != nil && ctx.Err() != nil:
		return "", s.objErr(loc, sluice.EUNAVAILABLE, "download cancelled", fmt.Errorf("after %d of %d bytes: %w", n, obj.Size, ctx.Err()))
	case err != nil && errors.Is(err, errWrite):
		return "", s.objErr(loc, sluice.EINTERNAL, "cache write failed", err)
	case err != nil:
		return "", s.objErr(loc, sluice.EUNAVAILABLE, "download interrupted", fmt.Errorf("after %d of %d bytes: %w", n, obj.Size, err))
	case n != obj.Size:
		return "", s.objErrf(loc, sluice.EUNAVAILABLE, "download interrupted", "got %d of %d bytes", n, obj.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != obj.SHA256 {
		return "", s.objErrf(loc, sluice.EINTERNAL, "checksum mismatch", "want sha256 %s, got %s", obj.SHA256, got)
	}
	// The file is complete and verified: rename it into place now, and let
	// persist fsync it and mark it trusted on disk in the background.
	final := filepath.Join(s.cache.dir, name)
	if err = os.Rename(tmp.Name(), final); err != nil {
		return "", s.objErr(loc, sluice.EINTERNAL, "cache write failed", err)
	}
	s.cache.commit(name, obj.Size, obj.Size)
	committed = true
	s.persist(tmp)
	return final, nil
}

// cacheName names the cache file of an object: the SHA-256 of bucket, key,
// ETag, version id and expected SHA-256 (each length-prefixed), plus the
// key's extension so tools recognise the format.
func cacheName(bucket, key string, obj Object) string {
	h := sha256.New()
	for _, f := range []string{"sluice-s3-cache-v1", bucket, key, obj.ETag, obj.VersionID, obj.SHA256} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil)) + safeExt(key)
}

var extPattern = regexp.MustCompile(`^\.[a-z0-9]{1,12}$`)

func safeExt(key string) string {
	ext := strings.ToLower(path.Ext(key))
	if extPattern.MatchString(ext) {
		return ext
	}
	return ""
}

func contentType(key string) string {
	switch safeExt(key) {
	case ".parquet":
		return "application/vnd.apache.parquet"
	case ".csv":
		return "text/csv"
	case ".json":
		return "application/json"
	}
	return "application/octet-stream"
}

// failed names what failed: "not found" when the server says so, else
// "<op> failed".
func failed(op string, err error) string {
	if codeOf(err) == sluice.ENOTFOUND {
		return "not found"
	}
	return op + " failed"
}

// codeOf maps a minio-go error to a sluice error code.
func codeOf(err error) string {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return sluice.EUNAVAILABLE
	}
	switch r := minio.ToErrorResponse(err); {
	case r.Code == "NoSuchKey" || r.Code == "NoSuchBucket" || r.Code == "NoSuchVersion" || r.StatusCode == http.StatusNotFound:
		return sluice.ENOTFOUND
	case r.Code == "AccessDenied" || r.Code == "InvalidAccessKeyId" || r.Code == "SignatureDoesNotMatch" ||
		r.StatusCode == http.StatusForbidden || r.StatusCode == http.StatusBadRequest:
		return sluice.EINTERNAL // the service's own credentials or requests are wrong
	}
	return sluice.EUNAVAILABLE
}

// flight is one download shared by the Fetches waiting for it.
type flight struct {
	done    chan struct{}
	waiters int
	cancel  context.CancelFunc
	path    string
	err     error
}

// shared runs fn once for all concurrent callers with the same name. fn's
// context carries ctx's values but is cancelled only when every caller has
// given up, so one caller's cancellation does not fail the others.
func (s *Store) shared(ctx context.Context, loc, name string, fn func(context.Context) (string, error)) (string, error) {
	s.mu.Lock()
	f := s.flights[name]
	if f == nil {
		dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), cancel: cancel}
		s.flights[name] = f
		go func() {
			p, err := fn(dctx)
			cancel()
			s.mu.Lock()
			if s.flights[name] == f {
				delete(s.flights, name)
			}
			f.path, f.err = p, err
			s.mu.Unlock()
			close(f.done)
		}()
	}
	f.waiters++
	s.mu.Unlock()

	select {
	case <-f.done:
		return f.path, f.err
	case <-ctx.Done():
		s.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			f.cancel()
			if s.flights[name] == f {
				delete(s.flights, name) // a later Fetch starts afresh
			}
		}
		s.mu.Unlock()
		return "", s.objErr(loc, sluice.EUNAVAILABLE, "fetch cancelled", ctx.Err())
	}
}

// MinEvictAge is how long after a Fetch returned its file is safe from
// eviction; see the package documentation.
const MinEvictAge = 10 * time.Minute
