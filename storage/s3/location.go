package s3

import (
	"strings"

	"sluice"
)

// ParseLocation splits "s3://bucket/key" into its bucket and key. The bucket
// must be a valid S3 bucket name and the key must not be empty; errors are
// EINVALID and name the part that is wrong.
func ParseLocation(location string) (bucket, key string, err error) {
	const scheme = "s3://"
	if !strings.HasPrefix(location, scheme) {
		if i := strings.Index(location, "://"); i >= 0 {
			return "", "", sluice.Errorf(sluice.EINVALID, "location %q: scheme %q is not s3://", location, location[:i+3])
		}
		return "", "", sluice.Errorf(sluice.EINVALID, "location %q: want s3://bucket/key", location)
	}
	rest := location[len(scheme):]
	bucket, key, found := strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", sluice.Errorf(sluice.EINVALID, "location %q: no bucket (want s3://bucket/key)", location)
	}
	if msg := checkBucket(bucket); msg != "" {
		return "", "", sluice.Errorf(sluice.EINVALID, "location %q: bucket %q %s", location, bucket, msg)
	}
	if !found || key == "" {
		return "", "", sluice.Errorf(sluice.EINVALID, "location %q: no object key after bucket %q (want s3://bucket/key)", location, bucket)
	}
	if len(key) > 1024 {
		return "", "", sluice.Errorf(sluice.EINVALID, "location %q: key is %d bytes long, more than 1024", location, len(key))
	}
	if strings.ContainsAny(key, "\x00\r\n") {
		return "", "", sluice.Errorf(sluice.EINVALID, "location %q: key contains a control character", location)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			return "", "", sluice.Errorf(sluice.EINVALID, "location %q: key has a %q path segment", location, seg)
		}
	}
	return bucket, key, nil
}

// checkBucket returns why name is not a valid bucket name, or "".
func checkBucket(name string) string {
	if len(name) < 3 || len(name) > 63 {
		return "must be 3 to 63 characters long"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return "may hold only lowercase letters, digits, '-' and '.'"
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return "must begin and end with a letter or digit"
	}
	if strings.Contains(name, "..") {
		return "must not contain \"..\""
	}
	return ""
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// location formats bucket and key as an s3:// location.
func location(bucket, key string) string { return "s3://" + bucket + "/" + key }
