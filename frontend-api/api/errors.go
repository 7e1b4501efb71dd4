package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/pkg/errs"
)

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error ErrorJSON `json:"error"`
}

type ErrorJSON struct {
	Code      errs.Code   `json:"code"`
	Message   string      `json:"message"`
	Field     string      `json:"field,omitempty"`
	RequestID string      `json:"request_id,omitempty"`
	Details   []ErrorJSON `json:"details,omitempty"` // every error, when there are several

	Data map[string]any `json:"data,omitempty"` // machine-readable facts (errs.Error.Data)
}

// errorHandler is the one place where errors become HTTP responses: an
// HTML page for a browser on a page (pageError; a GET without a session
// goes to sign in instead), the JSON error body for everyone else, an API
// client or a page's script asking for JSON (wantsPage). It logs faults.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	rid, _ := c.Locals(requestIDKey).(string)
	body := ErrorJSON{RequestID: rid}

	var list errs.List
	var ue *errs.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &list) && len(list) > 0:
		body.Code, body.Message, body.Field = list[0].Code, list[0].Message, list[0].Field
		for _, e := range list {
			body.Details = append(body.Details, ErrorJSON{Code: e.Code, Message: e.Message, Field: e.Field})
		}
	case errors.As(err, &ue):
		body.Code, body.Message, body.Field, body.Data = ue.Code, ue.Message, ue.Field, ue.Data
	case errors.As(err, &fe):
		body.Code, body.Message = fiberCode(fe)
	default:
		body.Code, body.Message = errs.Internal, "Something went wrong on our side."
	}
	status := errs.Status(body.Code)
	switch stopped, _ := c.Locals(stoppedKey).(bool); {
	case stopped:
		s.log.Info("request stopped", "request_id", rid, "method", c.Method(), "path", logPath(c), "err", err)
	case status >= 500:
		s.log.Error("request failed", "request_id", rid, "method", c.Method(), "path", logPath(c), "err", err)
	}
	if s.pageError != nil && wantsPage(c) {
		perr := s.pageError(c, status, body)
		if perr == nil {
			return nil
		}
		s.log.Error("rendering the error page", "request_id", rid, "err", perr)
	}
	if status >= 500 {
		body.Message += " Quote request ID " + rid + " if you report it."
	}
	return c.Status(status).JSON(errorBody{Error: body})
}

// wantsPage reports whether an error should be answered as an HTML page:
// on a page (not the API, the probes or a static file), unless the client
// asks for JSON (the pages' scripts do) or sends it.
func wantsPage(c *fiber.Ctx) bool {
	if !IsPagePath(c.Path()) || strings.HasPrefix(c.Path(), "/static/") {
		return false
	}
	return !strings.Contains(c.Get(fiber.HeaderAccept), fiber.MIMEApplicationJSON) &&
		!strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON)
}

// fiberCode maps the errors Fiber itself raises (no route, a body over the
// limit, …) to our codes and sentences.
func fiberCode(fe *fiber.Error) (errs.Code, string) {
	switch fe.Code {
	case http.StatusNotFound:
		return errs.NotFound, "There is no such page or endpoint."
	case http.StatusMethodNotAllowed:
		return errs.Invalid, "That method is not allowed here."
	case http.StatusRequestEntityTooLarge:
		return errs.TooLarge, "The request is too large."
	case http.StatusTooManyRequests:
		return errs.RateLimited, "Too many attempts; wait a few minutes and try again."
	case http.StatusRequestTimeout:
		return errs.Invalid, "The request took too long to arrive."
	case http.StatusUnsupportedMediaType:
		return errs.UnsupportedType, fe.Message
	}
	if fe.Code >= 400 && fe.Code < 500 {
		return errs.Invalid, "The request could not be read: " + fe.Message
	}
	return errs.Internal, "Something went wrong on our side."
}

// logError logs at a level fitting the error: user mistakes are not errors.
func logLevel(status int) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelError
	case status >= 400:
		return slog.LevelInfo
	}
	return slog.LevelInfo
}
