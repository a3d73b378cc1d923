package s3

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// tmpPrefix starts the names of temporary files in the cache directory.
const tmpPrefix = ".tmp-"

// staleTmpAge is how old (unmodified) a temporary file must be for Open to
// treat it as left by a crashed download and remove it. Live downloads keep
// writing theirs, so they stay younger.
const staleTmpAge = time.Hour

// trustedMode marks a cache file whose verified contents were fsynced
// (persist sets it after the fsync). Files are created 0600, so a file left
// 0600 by a crash is verified again before use.
const trustedMode os.FileMode = 0o440

var cacheFilePattern = regexp.MustCompile(`^[0-9a-f]{64}(\.[a-z0-9]{1,12})?$`)

// cache indexes the files of the cache directory for LRU eviction. Only
// files whose names are cache names are indexed or ever removed.
type cache struct {
	dir string
	max int64            // 0: no cap
	now func() time.Time // injected by tests

	mu       sync.Mutex
	entries  map[string]*cacheEntry
	total    int64 // bytes of entries
	reserved int64 // bytes of downloads in flight
}

type cacheEntry struct {
	size    int64
	used    time.Time // when a Fetch last returned the file
	trusted bool      // verified by this process, or marked durable on disk
}

func newCache(dir string, max int64) *cache {
	return &cache{dir: dir, max: max, now: time.Now, entries: map[string]*cacheEntry{}}
}

// load indexes the directory's cache files, using their modification times
// as last use (touch keeps them current), and removes stale temporary files.
func (c *cache) load() error {
	des, err := os.ReadDir(c.dir)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		switch {
		case strings.HasPrefix(name, tmpPrefix):
			if now.Sub(info.ModTime()) > staleTmpAge {
				_ = os.Remove(filepath.Join(c.dir, name))
			}
		case cacheFilePattern.MatchString(name):
			c.entries[name] = &cacheEntry{size: info.Size(), used: info.ModTime(), trusted: info.Mode().Perm() == trustedMode}
			c.total += info.Size()
		}
	}
	c.evictLocked()
	return nil
}

// lookup returns the path of cache file name if it is there, has the given
// size and is trusted (verified by this process, or marked durable after a
// verified download), marking it used. A file of another size (truncated or
// tampered with outside Sluice) is removed so that it is downloaded again;
// one that is not trusted is left for fill to verify.
func (c *cache) lookup(name string, size int64) (string, bool) {
	p := filepath.Join(c.dir, name)
	c.mu.Lock()
	defer c.mu.Unlock()
	info, err := os.Stat(p)
	if err != nil || !info.Mode().IsRegular() {
		c.forgetLocked(name)
		return "", false
	}
	if info.Size() != size {
		_ = os.Remove(p)
		c.forgetLocked(name)
		return "", false
	}
	e := c.entries[name]
	if !(e != nil && e.trusted || info.Mode().Perm() == trustedMode) {
		return "", false
	}
	c.touchLocked(name, size)
	return p, true
}

// touch marks cache file name as just used.
func (c *cache) touch(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[name]; e != nil {
		c.touchLocked(name, e.size)
	}
}

func (c *cache) touchLocked(name string, size int64) {
	now := c.now()
	e := c.entries[name]
	if e == nil { // written by another process sharing the directory
		e = &cacheEntry{size: size}
		c.entries[name] = e
		c.total += size
	}
	e.used = now
	e.trusted = true
	_ = os.Chtimes(filepath.Join(c.dir, name), now, now) // survives a restart
}

// remove deletes cache file name.
func (c *cache) remove(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = os.Remove(filepath.Join(c.dir, name))
	c.forgetLocked(name)
}

func (c *cache) forgetLocked(name string) {
	if e := c.entries[name]; e != nil {
		c.total -= e.size
		delete(c.entries, name)
	}
}

var errTooLarge = errors.New("object larger than the cache")

// reserve accounts for a download of size bytes, evicting what it can to
// make room. An object larger than the whole cache is refused.
func (c *cache) reserve(size int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max > 0 && size > c.max {
		return fmt.Errorf("%w: %d bytes, cache holds at most %d (CacheMaxBytes)", errTooLarge, size, c.max)
	}
	c.reserved += size
	c.evictLocked()
	return nil
}

// release gives back a reservation whose download failed.
func (c *cache) release(size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reserved -= size
}

// commit records the verified cache file name, just renamed into place or
// verified again, as trusted and used, and gives back reserved bytes of the
// reservation it was downloaded under.
func (c *cache) commit(name string, size, reserved int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reserved -= reserved
	c.forgetLocked(name) // a concurrent download of the same object renamed over it
	c.entries[name] = &cacheEntry{size: size, used: c.now(), trusted: true}
	c.total += size
	c.evictLocked()
}

// evictLocked removes least recently used files not used within
// MinEvictAge until the cached and reserved bytes fit the cap.
func (c *cache) evictLocked() {
	if c.max <= 0 {
		return
	}
	cutoff := c.now().Add(-MinEvictAge)
	for c.total+c.reserved > c.max {
		var victim string
		var oldest time.Time
		for name, e := range c.entries {
			if e.used.After(cutoff) {
				continue
			}
			if victim == "" || e.used.Before(oldest) {
				victim, oldest = name, e.used
			}
		}
		if victim == "" {
			return // everything left is in use: over the cap until it ages
		}
		// A file that cannot be removed is forgotten all the same, so the
		// loop ends; it is indexed again by the next Open.
		_ = os.Remove(filepath.Join(c.dir, victim))
		c.forgetLocked(victim)
	}
}

func (c *cache) usage() (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.total
}
