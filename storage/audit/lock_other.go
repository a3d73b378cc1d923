//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package audit

import "os"

// flockSupported says whether Open locks the file.
const flockSupported = false

// lockFile does nothing where flock is not available: the caller must make
// sure only one Log appends to a file.
func lockFile(f *os.File) error { return nil }
