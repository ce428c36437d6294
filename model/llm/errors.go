package llm

import (
	"context"
	"errors"
	"fmt"
)

// ErrorKind classifies LLM failures for telemetry and for the cascade's
// fallback reason.
type ErrorKind string

const (
	KindTimeout         ErrorKind = "timeout"          // an attempt ran past Config.Timeout
	KindRateLimited     ErrorKind = "rate_limited"     // HTTP 429
	KindServerError     ErrorKind = "server_error"     // HTTP 5xx
	KindAuth            ErrorKind = "auth"             // HTTP 401/403: never retried
	KindClientError     ErrorKind = "client_error"     // other HTTP 4xx (bad model name, bad request)
	KindNetwork         ErrorKind = "network"          // connection refused, DNS, TLS, reset
	KindInvalidResponse ErrorKind = "invalid_response" // unreadable body or answer not matching the schema
	KindBudget          ErrorKind = "budget"           // token budget per minute or per hour exhausted
	KindCanceled        ErrorKind = "canceled"         // the caller's context ended
)

// Kinds lists every ErrorKind in a stable order (for telemetry).
func Kinds() []ErrorKind { return append([]ErrorKind(nil), kindIndex[:]...) }

// Sentinels matched with errors.Is against any error returned by this package.
var (
	ErrTimeout         = errors.New("llm request timed out")
	ErrRateLimited     = errors.New("llm endpoint rate limited")
	ErrServer          = errors.New("llm endpoint server error")
	ErrAuth            = errors.New("llm endpoint rejected the credentials")
	ErrClient          = errors.New("llm endpoint rejected the request")
	ErrNetwork         = errors.New("llm endpoint unreachable")
	ErrInvalidResponse = errors.New("llm answer invalid")
	// ErrBudget means the token budget (per minute or per hour) cannot cover
	// the request now. It is returned at once rather than queueing, so the
	// cascade can fall back to the small model.
	ErrBudget = errors.New("llm token budget exhausted")
)

func (k ErrorKind) sentinel() error {
	switch k {
	case KindTimeout:
		return ErrTimeout
	case KindRateLimited:
		return ErrRateLimited
	case KindServerError:
		return ErrServer
	case KindAuth:
		return ErrAuth
	case KindClientError:
		return ErrClient
	case KindNetwork:
		return ErrNetwork
	case KindInvalidResponse:
		return ErrInvalidResponse
	case KindBudget:
		return ErrBudget
	}
	return nil
}

// Error is the only error type this package returns from Judge. Its message
// is built from our own words, a status code and an attempt count: never the
// server's body, the request, or the API key.
type Error struct {
	Kind       ErrorKind
	Op         string // what was being done, e.g. "evol detect (neighbour 2)"
	StatusCode int    // HTTP status of the last attempt, 0 when none
	Attempts   int    // HTTP attempts made
	detail     string // sanitised detail
	ctxErr     error  // context.Canceled / DeadlineExceeded for KindCanceled
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("llm %s: %s", e.Op, e.Kind)
	if e.StatusCode != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.StatusCode)
	}
	if e.Attempts > 1 {
		msg += fmt.Sprintf(" after %d attempts", e.Attempts)
	}
	if e.detail != "" {
		msg += ": " + e.detail
	}
	return msg
}

// Unwrap exposes the kind's sentinel and, for cancellations, the context
// error, so errors.Is(err, context.Canceled) holds. A request timeout also
// matches context.DeadlineExceeded, so packages that cannot import this one
// (the root model package) can still tell timeouts apart.
func (e *Error) Unwrap() []error {
	var out []error
	if s := e.Kind.sentinel(); s != nil {
		out = append(out, s)
	}
	if e.ctxErr != nil {
		out = append(out, e.ctxErr)
	} else if e.Kind == KindTimeout {
		out = append(out, context.DeadlineExceeded)
	}
	return out
}

// KindName returns the kind as a plain string, for callers that match
// errors with errors.As against interface{ KindName() string } instead of
// importing this package.
func (e *Error) KindName() string { return string(e.Kind) }

// KindOf returns the ErrorKind of an error from this package, KindCanceled
// for bare context errors, and "" otherwise.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return KindCanceled
	}
	return ""
}
