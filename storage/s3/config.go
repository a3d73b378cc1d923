package s3

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// Config says where the object store is, how to sign in, and where the local
// cache lives. Its String, GoString, LogValue and MarshalJSON methods redact the
// credentials, so a Config can be logged or printed safely.
type Config struct {
	Endpoint      string // host[:port]; an http:// or https:// prefix sets Secure
	AccessKey     string
	SecretKey     string
	Secure        bool   // use TLS
	Region        string // optional; empty asks the server once per bucket
	CacheDir      string // local cache directory; empty means <user cache dir>/sluice/s3
	CacheMaxBytes int64  // cap on cached bytes; 0 means no cap

	// Transport, when not nil, carries the HTTP requests (custom CAs on
	// premises, tests counting requests). nil uses minio-go's default.
	Transport http.RoundTripper

	envErr error // a variable ConfigFromEnv could not parse
}

// ConfigFromEnv reads a Config from SLUICE_S3_ENDPOINT, SLUICE_S3_ACCESS_KEY,
// SLUICE_S3_SECRET_KEY, SLUICE_S3_SECURE (a Go boolean: 1, true, 0, false),
// SLUICE_S3_REGION, SLUICE_CACHE_DIR and SLUICE_CACHE_MAX_BYTES (bytes).
// Secure is also set by an https:// endpoint. A value that does not parse
// makes Open fail with an EINVALID error naming the variable.
func ConfigFromEnv() Config {
	c := Config{
		Endpoint:  os.Getenv("SLUICE_S3_ENDPOINT"),
		AccessKey: os.Getenv("SLUICE_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("SLUICE_S3_SECRET_KEY"),
		Region:    os.Getenv("SLUICE_S3_REGION"),
		CacheDir:  os.Getenv("SLUICE_CACHE_DIR"),
	}
	if v := os.Getenv("SLUICE_S3_SECURE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			c.envErr = fmt.Errorf("SLUICE_S3_SECURE=%q is not a boolean", v)
		}
		c.Secure = b
	}
	if v := os.Getenv("SLUICE_CACHE_MAX_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			c.envErr = fmt.Errorf("SLUICE_CACHE_MAX_BYTES=%q is not a byte count", v)
		}
		c.CacheMaxBytes = n
	}
	return c
}

const redacted = "[REDACTED]"

func redact(v string) string {
	if v == "" {
		return ""
	}
	return redacted
}

// String describes the Config with its credentials redacted.
func (c Config) String() string {
	return fmt.Sprintf("s3.Config{Endpoint:%q Secure:%t Region:%q AccessKey:%q SecretKey:%q CacheDir:%q CacheMaxBytes:%d}",
		c.Endpoint, c.Secure, c.Region, redact(c.AccessKey), redact(c.SecretKey), c.CacheDir, c.CacheMaxBytes)
}

// GoString is String, so that %#v redacts too.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer with the credentials redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", c.Endpoint),
		slog.Bool("secure", c.Secure),
		slog.String("region", c.Region),
		slog.String("access_key", redact(c.AccessKey)),
		slog.String("secret_key", redact(c.SecretKey)),
		slog.String("cache_dir", c.CacheDir),
		slog.Int64("cache_max_bytes", c.CacheMaxBytes),
	)
}

// MarshalJSON writes the Config with its credentials redacted.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Endpoint      string `json:"endpoint"`
		Secure        bool   `json:"secure"`
		Region        string `json:"region,omitempty"`
		AccessKey     string `json:"access_key"`
		SecretKey     string `json:"secret_key"`
		CacheDir      string `json:"cache_dir"`
		CacheMaxBytes int64  `json:"cache_max_bytes"`
	}{c.Endpoint, c.Secure, c.Region, redact(c.AccessKey), redact(c.SecretKey), c.CacheDir, c.CacheMaxBytes})
}

var (
	_ json.Marshaler = Config{}
	_ fmt.Stringer   = Config{}
	_ fmt.GoStringer = Config{}
	_ slog.LogValuer = Config{}
)

// endpoint splits an endpoint that may carry a scheme into host[:port] and
// whether TLS is asked for.
func (c Config) endpoint() (host string, secure bool, err error) {
	host, secure = c.Endpoint, c.Secure
	switch {
	case strings.HasPrefix(host, "https://"):
		host, secure = strings.TrimPrefix(host, "https://"), true
	case strings.HasPrefix(host, "http://"):
		host = strings.TrimPrefix(host, "http://")
	}
	host = strings.TrimSuffix(host, "/")
	if host == "" {
		return "", false, fmt.Errorf("no endpoint (set SLUICE_S3_ENDPOINT)")
	}
	if strings.ContainsAny(host, "/?#@ ") {
		return "", false, fmt.Errorf("endpoint %q: want host[:port], optionally prefixed by http:// or https://", host)
	}
	return host, secure, nil
}

// scrubber removes the credentials from text that may quote them (error
// messages of lower layers).
type scrubber struct{ secrets []string }

func newScrubber(c Config) scrubber {
	var s scrubber
	for _, v := range []string{c.SecretKey, c.AccessKey} {
		if len(v) >= 4 { // shorter values would redact ordinary words
			s.secrets = append(s.secrets, v)
		}
	}
	return s
}

func (s scrubber) scrub(text string) string {
	for _, v := range s.secrets {
		text = strings.ReplaceAll(text, v, redacted)
	}
	return text
}
