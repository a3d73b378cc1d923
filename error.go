package sluice

import (
	"errors"
	"fmt"
)

// Application error codes. The transport maps each to one status.
const (
	EINVALID      = "invalid"      // the request is malformed or the SQL is outside the subset
	ENOTFOUND     = "not_found"    // an unknown dataset, column, application …
	EUNAUTHORIZED = "unauthorized" // no or bad credentials
	EFORBIDDEN    = "forbidden"    // the policy refuses
	ECONFLICT     = "conflict"     // a state transition that is not allowed now
	EBUDGET       = "budget"       // the privacy budget would be overspent
	EUNAVAILABLE  = "unavailable"  // the service cannot take the request now
	EINTERNAL     = "internal"     // anything else; details are logged, never shown
)

// Steps of a query's path; a refusal names the step that refused.
const (
	StepAnalysis = "analysis"
	StepPolicy   = "policy"
	StepBudget   = "budget"
	StepSandbox  = "sandbox"
	StepRelease  = "release"
	StepAudit    = "audit"
)

// Error is Sluice's application error. Message is shown to the user; internals
// never are.
type Error struct {
	Code    string `json:"code"`
	Step    string `json:"step,omitempty"`
	Rule    string `json:"rule,omitempty"`     // a stable rule id, e.g. "sql.table_function"
	Pos     int    `json:"position,omitempty"` // 1-based byte offset in the analyst's SQL, 0 if none
	Message string `json:"message"`
}

func (e *Error) Error() string {
	s := e.Message
	if e.Pos > 0 {
		s = fmt.Sprintf("%s (at position %d)", s, e.Pos)
	}
	if e.Rule != "" {
		s = fmt.Sprintf("%s [%s]", s, e.Rule)
	}
	if e.Step != "" {
		s = e.Step + ": " + s
	}
	return s
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err's *Error, or EINTERNAL.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return EINTERNAL
}

// ErrorRule returns the rule of err's *Error, or "".
func ErrorRule(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Rule
	}
	return ""
}

// ErrorMessage returns the user-facing message of err, hiding internals.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return "internal error"
}
