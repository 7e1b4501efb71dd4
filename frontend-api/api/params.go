package api

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// param returns the path parameter name, percent-decoded and copied out of
// Fiber's reused buffer. Every route and page reads its path parameters
// through it, so an ID reads the same everywhere: as it is, or with any of
// its characters percent-encoded (":" as %3A; the "/" of a batch split
// before IDs were opaque, which only works encoded, as %2F). A parameter
// that is not valid percent-encoding is taken as it is, and then matches
// nothing.
func param(c *fiber.Ctx, name string) string {
	v := c.Params(name)
	if u, err := url.PathUnescape(v); err == nil {
		v = u
	}
	return strings.Clone(v)
}
