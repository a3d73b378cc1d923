package policy

import (
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// bundleFS is the default policy bundle shipped with Sluice.
//
//go:embed bundle/*.rego bundle/data.json
var bundleFS embed.FS

// dataFile is the name of a bundle's data document; it becomes the root of
// data in Rego (data.defaults, data.level4_purposes, …).
const dataFile = "data.json"

// file is one file of a policy bundle.
type file struct {
	name string // as shown in errors: the path in Dir, or bundle/… when embedded
	text []byte
}

// sources are the files of a policy bundle: the modules the engine compiles,
// the Rego tests next to them, and the data document.
type sources struct {
	modules  []file
	tests    []file
	data     *file // nil when the bundle has none
	revision string
}

// readSources reads a bundle: *.rego and data.json at the top of dir, or of
// the embedded bundle when dir is "". Subdirectories are not read.
func readSources(dir string) (*sources, error) {
	var (
		fsys    fs.FS
		display func(string) string
	)
	if dir == "" {
		sub, err := fs.Sub(bundleFS, "bundle")
		if err != nil {
			return nil, err
		}
		fsys, display = sub, func(name string) string { return path.Join("bundle", name) }
	} else {
		fsys, display = os.DirFS(dir), func(name string) string { return filepath.Join(dir, name) }
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read policy directory: %w", err)
	}
	src := &sources{}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") {
			continue
		}
		isRego, isData := strings.HasSuffix(name, ".rego"), name == dataFile
		if !isRego && !isData {
			continue
		}
		text, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read policy file: %w", err)
		}
		f := file{name: display(name), text: text}
		switch {
		case isData:
			src.data = &f
		case strings.HasSuffix(name, "_test.rego"):
			src.tests = append(src.tests, f)
		default:
			src.modules = append(src.modules, f)
		}
	}
	if len(src.modules) == 0 {
		return nil, fmt.Errorf("policy directory %s holds no .rego policy", display("."))
	}
	sort.Slice(src.modules, func(i, j int) bool { return src.modules[i].name < src.modules[j].name })
	sort.Slice(src.tests, func(i, j int) bool { return src.tests[i].name < src.tests[j].name })
	src.revision = revision(src)
	return src, nil
}

// revision is the first 12 hex digits of the SHA-256 of the policy modules
// and the data document, by base name, so that the same bundle has the same
// revision wherever it is loaded from. Tests do not count: they decide nothing.
func revision(src *sources) string {
	h := sha256.New()
	put := func(f file) {
		name := path.Base(filepath.ToSlash(f.name))
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(name)))
		h.Write(n[:])
		h.Write([]byte(name))
		binary.BigEndian.PutUint64(n[:], uint64(len(f.text)))
		h.Write(n[:])
		h.Write(f.text)
	}
	for _, m := range src.modules {
		put(m)
	}
	if src.data != nil {
		put(*src.data)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
