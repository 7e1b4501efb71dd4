package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/pkg/errs"
)

const bodyKey = "margin.body"

// drainLimit is how much of an oversized body readBody reads and drops.
const drainLimit = 8 << 20

// readBody returns the request body, refusing one over limit bytes with
// TooLarge. It works whether or not Fiber streamed the body, and may be
// called more than once per request (a streamed body is kept after the
// first read).
func readBody(c *fiber.Ctx, limit int64) ([]byte, error) {
	if b, ok := c.Locals(bodyKey).([]byte); ok {
		return b, nil
	}
	tooLarge := errs.E(errs.TooLarge, "The request body is over the limit of %d bytes.", limit)
	if cl := c.Request().Header.ContentLength(); cl > 0 && int64(cl) > limit {
		// Read and drop a modestly oversized body, so the client sees the
		// 413 rather than a connection reset in the middle of its write.
		if stream := c.Context().RequestBodyStream(); stream != nil && int64(cl) <= limit+drainLimit {
			_, _ = io.Copy(io.Discard, io.LimitReader(stream, int64(cl)))
		}
		return nil, tooLarge
	}
	if stream := c.Context().RequestBodyStream(); stream != nil {
		b, err := io.ReadAll(io.LimitReader(stream, limit+1))
		if err != nil {
			return nil, errs.E(errs.Invalid, "The request body could not be read.")
		}
		if int64(len(b)) > limit {
			return nil, tooLarge
		}
		c.Locals(bodyKey, b)
		return b, nil
	}
	b := c.Body()
	if int64(len(b)) > limit {
		return nil, tooLarge
	}
	return b, nil
}

// decodeJSON reads a JSON object into v, strictly: a body without
// Content-Type: application/json is UnsupportedType (a browser can send a
// form or text/plain from any site, but not JSON), a malformed body is
// MalformedJSON, a field v does not have is UnknownField, trailing data is
// MalformedJSON, and a body over the JSON limit is TooLarge.
func (s *Server) decodeJSON(c *fiber.Ctx, v any) error {
	ct := c.Get(fiber.HeaderContentType)
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != fiber.MIMEApplicationJSON {
		return errs.E(errs.UnsupportedType, "Send JSON with Content-Type: application/json (got %q).", ct)
	}
	body, err := readBody(c, s.cfg.MaxJSONBody)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errs.E(errs.MalformedJSON, "The request body is empty; send a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return errs.E(errs.MalformedJSON, "The body has data after the JSON object.")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errs.E(errs.MalformedJSON, "The body is not valid JSON (at byte %d: %s).", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		return errs.F(errs.Invalid, field, "The field %q must be a %s, not a JSON %s.", field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.E(errs.MalformedJSON, "The body is not valid JSON: it ends too soon.")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errs.F(errs.UnknownField, name, "The field %q is not accepted here; check its spelling.", name)
	}
	return errs.E(errs.MalformedJSON, "The body is not valid JSON: %s.", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "list"
	case "struct", "map":
		return "object"
	}
	if strings.HasPrefix(k, "int") || strings.HasPrefix(k, "uint") || strings.HasPrefix(k, "float") {
		return "number"
	}
	return fmt.Sprint(k)
}
