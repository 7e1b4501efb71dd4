// Package errs is Margin's one error vocabulary. Every error a user can cause
// carries a machine-readable Code, a human sentence and, where it applies, the
// path of the offending field. The HTTP edge maps codes to statuses in exactly
// one place (Status); nothing else in Margin chooses an HTTP status.
package errs

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is a stable, machine-readable error code. Clients may switch on it.
type Code string

// The codes Margin returns. Each maps to one HTTP status in Status.
const (
	Invalid         Code = "invalid"          // a value breaks a rule (400)
	MalformedJSON   Code = "malformed_json"   // the body is not valid JSON (400)
	UnknownField    Code = "unknown_field"    // the body has a field the endpoint does not take (400)
	InvalidEmail    Code = "invalid_email"    // an email address is not one (400)
	WeakPassword    Code = "weak_password"    // a password is too short or too common (400)
	Unauthenticated Code = "unauthenticated"  // no valid session or token (401)
	LinkExpired     Code = "link_expired"     // an access link was rotated, expired or revoked (401)
	Forbidden       Code = "forbidden"        // signed in, but this role may not do this (403)
	NotFound        Code = "not_found"        // no such thing, or not yours to see (404)
	Conflict        Code = "conflict"         // the change clashes with the current state (409)
	VersionConflict Code = "version_conflict" // an edit was made against a stale version (409)
	EmailTaken      Code = "email_taken"      // the email already has an account (409)
	TooLarge        Code = "body_too_large"   // the request body is over the limit (413)
	UnsupportedType Code = "unsupported_type" // the content type or file type is not accepted (415)
	Unprocessable   Code = "unprocessable"    // well-formed, but cannot be acted on as a whole (422)
	RateLimited     Code = "rate_limited"     // too many attempts; try again later (429)
	Internal        Code = "internal"         // our fault; never a user's mistake (500)
	Unavailable     Code = "unavailable"      // a dependency is down (503)

	// InsufficientCredit: the school's credit does not cover the work (402);
	// the error's Data says by how much, and where to buy more.
	InsufficientCredit Code = "insufficient_credit"
)

var statuses = map[Code]int{
	Invalid:         http.StatusBadRequest,
	MalformedJSON:   http.StatusBadRequest,
	UnknownField:    http.StatusBadRequest,
	InvalidEmail:    http.StatusBadRequest,
	WeakPassword:    http.StatusBadRequest,
	Unauthenticated: http.StatusUnauthorized,
	LinkExpired:     http.StatusUnauthorized,
	Forbidden:       http.StatusForbidden,
	NotFound:        http.StatusNotFound,
	Conflict:        http.StatusConflict,
	VersionConflict: http.StatusConflict,
	EmailTaken:      http.StatusConflict,
	TooLarge:        http.StatusRequestEntityTooLarge,
	UnsupportedType: http.StatusUnsupportedMediaType,
	Unprocessable:   http.StatusUnprocessableEntity,
	RateLimited:     http.StatusTooManyRequests,
	Internal:        http.StatusInternalServerError,
	Unavailable:     http.StatusServiceUnavailable,

	InsufficientCredit: http.StatusPaymentRequired,
}

// Status is the HTTP status for a code; an unknown code is a 500, so that a
// typo can never pass an internal failure off as the user's mistake.
func Status(c Code) int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is an error a user can act on.
type Error struct {
	Code    Code   `json:"code" bson:"code"`                       // machine-readable
	Message string `json:"message" bson:"message"`                 // one human sentence, safe to show
	Field   string `json:"field,omitempty" bson:"field,omitempty"` // JSON path of the offending field, e.g. "criteria[2].weight"; may be empty
	Err     error  `json:"-" bson:"-"`                             // the underlying cause, never shown to users

	// Data holds machine-readable facts about the error, safe to show (for
	// InsufficientCredit: the amount short and the path to buy credit).
	Data map[string]any `json:"data,omitempty" bson:"-"`
}

func (e *Error) Error() string {
	msg := string(e.Code) + ": " + e.Message
	if e.Field != "" {
		msg += " (" + e.Field + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// E builds an Error with a formatted message.
func E(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// F builds an Error about one field.
func F(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an internal Error around a cause; its message is generic so
// that internals never leak to users. Wrap(nil, …) is nil, so
// `return errs.Wrap(err, "op")` is safe after any call.
func Wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &Error{Code: Internal, Message: "Something went wrong on our side.", Err: fmt.Errorf(format+": %w", append(args, err)...)}
}

// CodeOf reports the code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries the given code.
func Is(err error, code Code) bool {
	return err != nil && CodeOf(err) == code
}

// List is several user errors found at once (for example every bad row of a
// roster, or every reason a submission is incomplete). Its Code is the code
// of the first error.
type List []*Error

func (l List) Error() string {
	if len(l) == 0 {
		return "no errors"
	}
	s := l[0].Error()
	if len(l) > 1 {
		s += fmt.Sprintf(" (and %d more)", len(l)-1)
	}
	return s
}

// Err returns nil for an empty list, so callers can write `return l.Err()`.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// As lets errors.As find the first *Error in a List.
func (l List) As(target any) bool {
	if p, ok := target.(**Error); ok && len(l) > 0 {
		*p = l[0]
		return true
	}
	return false
}
