package s3

import (
	"fmt"

	"sluice"
)

// Error reports what failed for which object. It carries a sluice error code
// and unwraps both to a *sluice.Error, whose message ("object s3://b/k:
// checksum mismatch") is what users see, and to the cause, for logs and
// errors.Is. Neither ever contains credentials.
type Error struct {
	Location string // s3://bucket/key
	Code     string // a sluice error code: EINVALID, ENOTFOUND, EUNAVAILABLE, EINTERNAL
	What     string // what failed: "checksum mismatch", "download interrupted", …
	Err      error  // the cause; nil when What says it all
}

func (e *Error) Error() string {
	s := "object " + e.Location + ": " + e.What
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the user-facing *sluice.Error and the cause.
func (e *Error) Unwrap() []error {
	errs := []error{&sluice.Error{Code: e.Code, Message: "object " + e.Location + ": " + e.What}}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// scrubbedError is a lower layer's error with credentials removed from its
// text; it still unwraps to the original for errors.Is and errors.As.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

func (s *Store) objErr(loc, code, what string, cause error) *Error {
	if cause != nil {
		cause = &scrubbedError{msg: s.scrub.scrub(cause.Error()), err: cause}
	}
	return &Error{Location: loc, Code: code, What: what, Err: cause}
}

func (s *Store) objErrf(loc, code, what, format string, args ...any) *Error {
	return &Error{Location: loc, Code: code, What: what, Err: fmt.Errorf(format, args...)}
}
