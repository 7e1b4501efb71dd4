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

// decodeJSON reads a JSON object into v, strictly: a body without
// Content-Type: application/json is UnsupportedType (a browser can send a
// form or text/plain from any site, but not JSON), a malformed body is
// MalformedJSON, a field v does not have is UnknownField, trailing data is
// MalformedJSON. (A body over the route's limit never gets here: prepare
// refuses it with TooLarge.)
func (s *Server) decodeJSON(c *fiber.Ctx, v any) error {
	ct := c.Get(fiber.HeaderContentType)
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != fiber.MIMEApplicationJSON {
		return errs.E(errs.UnsupportedType, "Send JSON with Content-Type: application/json (got %q).", ct)
	}
	body := readBody(c)
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
