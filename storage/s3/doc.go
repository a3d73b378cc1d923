// Package s3 reads and writes Sluice's dataset files in S3-compatible object
// storage (MinIO on premises) through minio-go, and keeps a verified local
// read-through cache of them, because the sandbox's DuckDB reads local files
// only (it has no httpfs).
//
// # Integrity
//
// Put uploads an object with a SHA-256 checksum that the server verifies
// (x-amz-checksum-sha256, per part for multipart uploads) and records the
// object's SHA-256 as user metadata "sha256" (lowercase hex). Fetch refuses an
// object that has no such metadata: a corrupt or partial download is never
// queried, and without a checksum that cannot be told. Objects uploaded by
// other tools must therefore carry x-amz-meta-sha256; re-upload them with
// Store.Put (or `mc cp --attr sha256=<hex>`).
//
// # The cache
//
// Fetch stats the object (ETag, version id, size, sha256 metadata) and names
// its cache file by the SHA-256 of bucket, key, ETag, version id and the
// expected SHA-256, so a changed object gets a new file and a file's name
// says which content it was verified against. A missing file is downloaded
// with If-Match on the stat's ETag (and the stat's version id) into a temporary
// file in CacheDir while being hashed, checked for size and SHA-256 and
// renamed into place. On any failure the temporary file is removed: a cache
// file exists only once it is complete and verified. Concurrent Fetches of
// one object in a process share one download; a caller that gives up does
// not cancel it for the others.
//
// # Durability without a synchronous fsync
//
// The verified file is renamed into place and returned at once; it is
// fsynced in the background and only then marked trusted on disk (mode
// 0440; downloads are created 0600). Within a boot the page cache serves
// the verified bytes, so this is safe; after a power loss a renamed file
// whose data never reached the disk may hold zeros, so a file that is not
// marked trusted and was not verified by this process is hashed again
// before it is returned, and downloaded again if it does not match. The
// SHA-256 guarantee is the same as with an fsync before the rename, but a
// cold Fetch is not bound by the disk's fsync bandwidth (an fsync of 1 GiB
// takes over 3 s on a 300 MB/s disk, longer than the download). Close
// waits for the pending fsyncs.
//
// # Eviction, and the race with readers
//
// CacheMaxBytes caps the bytes of cache files; the least recently fetched
// files are removed first. A path returned by Fetch is read afterwards (by
// DuckDB), so evicting it right away would break that reader. The cache
// therefore never evicts a file fetched within the last MinEvictAge (10
// minutes): callers fetch again (one HEAD when cached) before each use and
// finish opening the file within that window; once a file is open, removing
// it does not disturb the reader on Unix. This is simpler than reference
// counting (no release call to forget) and correct under that contract. The
// price: when every file is younger than MinEvictAge, the cache may exceed
// CacheMaxBytes until they age; a single object larger than CacheMaxBytes
// is refused.
//
// One Store per CacheDir is intended. Several processes sharing a CacheDir
// never see partial files (downloads are renamed into place), but each
// process accounts and evicts only what it has seen.
package s3
