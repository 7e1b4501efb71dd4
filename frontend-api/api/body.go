package api

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/pkg/errs"
)

// Request bodies are bounded per route, before anything reads them. Fiber
// streams every body (StreamRequestBody) and does not pre-parse multipart
// forms (DisablePreParseMultipartForm), so nothing is read or spooled
// before prepare has looked at the route: a small body is read whole, up to
// its route's limit, and then served to handlers as usual (c.Body,
// c.FormValue, c.FormFile); an upload is left on the connection and read
// part by part, in order, through the request's formStream.

// bodyPolicy is how one route takes its request body.
type bodyPolicy struct {
	// limit is the most bytes the body may have; 0 means the route takes
	// no body.
	limit int64
	// stream means the handler reads the body itself, part by part
	// (uploads); otherwise prepare reads it whole before any handler.
	stream bool
}

// Body limits of the routes that are neither JSON nor a plain form.
const (
	// maxSignInBody caps sign-in, sign-up and access-link bodies: an email,
	// a password and a few short fields.
	maxSignInBody = 16 << 10
	// maxRosterBody caps a roster CSV upload (about 50,000 students).
	maxRosterBody = 5 << 20
	// formOverhead is what multipart framing and a few fields add to a file.
	formOverhead = 64 << 10
	// drainLimit is how much of a body over its limit prepare still reads
	// and drops, so that the client sees the 413 rather than a connection
	// reset in the middle of its write. Anything larger is refused unread.
	drainLimit = 8 << 20
)

// bodyPolicyFor is the body policy of the route method path (a pattern as
// registered). Reads (GET, HEAD) and deletes take no body; uploads stream;
// everything else is JSON or a form, capped at MaxJSONBody.
func (s *Server) bodyPolicyFor(method, path string) bodyPolicy {
	switch method + " " + path {
	case "POST /api/v1/assignments/:id/submissions":
		return bodyPolicy{limit: s.cfg.MaxUploadBody, stream: true}
	case "POST /api/v1/submissions/:id/versions", "POST /student/submissions/:id/revision":
		return bodyPolicy{limit: s.maxFileSize() + formOverhead, stream: true}
	case "POST /api/v1/classes/:id/roster", "POST /teacher/classes/:id/roster":
		return bodyPolicy{limit: maxRosterBody + formOverhead}
	case "POST /api/v1/signup", "POST /api/v1/sessions", "POST /api/v1/student-sessions", "POST /signin", "POST /s/:token":
		return bodyPolicy{limit: maxSignInBody}
	case "POST /api/v1/webhooks/stripe":
		return bodyPolicy{limit: maxWebhookBody}
	}
	switch method {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodDelete, fiber.MethodOptions:
		return bodyPolicy{}
	}
	return bodyPolicy{limit: s.cfg.MaxJSONBody}
}

// maxFileSize is the intake service's file size limit (its default when
// the server runs without intake, as some tests do).
func (s *Server) maxFileSize() int64 {
	if s.deps.Intake == nil {
		return 25 << 20
	}
	return s.deps.Intake.MaxFileSize()
}

// routeEntry is one registered route, for finding a request's body policy
// before Fiber has routed it.
type routeEntry struct {
	method string
	segs   []string
	policy bodyPolicy
}

func pathSegments(p string) []string {
	return strings.Split(strings.Trim(strings.ToLower(p), "/"), "/")
}

// addRoute records a route's body policy.
func (s *Server) addRoute(method, path string) {
	s.routeTable = append(s.routeTable, routeEntry{method: method, segs: pathSegments(path), policy: s.bodyPolicyFor(method, path)})
}

// routeFor finds the route a request will reach, as Fiber matches them
// (first registered wins; ":name" is one segment, "*" the rest; case and a
// trailing slash do not matter). ok is false for a path or method no route
// takes.
func (s *Server) routeFor(method, path string) (routeEntry, bool) {
	segs := pathSegments(path)
	for _, r := range s.routeTable {
		if r.method == method && segmentsMatch(r.segs, segs) {
			return r, true
		}
	}
	return routeEntry{}, false
}

func segmentsMatch(pattern, segs []string) bool {
	for i, p := range pattern {
		if p == "*" {
			return true
		}
		if i >= len(segs) || (!strings.HasPrefix(p, ":") && p != segs[i]) || (strings.HasPrefix(p, ":") && segs[i] == "") {
			return false
		}
	}
	return len(pattern) == len(segs)
}

// requestBody is one request's body as prepare left it.
type requestBody struct {
	policy bodyPolicy
	// r is the limited stream of a streamed body; form reads it as
	// multipart parts.
	r    *limitedReader
	form *formStream
	// done is true once the body has been read to its end (or there was
	// none), so the connection is at the start of the next request.
	done bool
}

// prepareBody applies the route's body policy: it refuses a body that is
// compressed (415), declared over the limit (413, without reading it), or
// sent to a route that takes none (413); reads a small body whole, failing
// with 413 once more than the limit arrives (chunked bodies too); and
// leaves an upload to be streamed. A body sent to an unknown route is left
// unread, and the connection is closed after the 404 or 405.
func (s *Server) prepareBody(c *fiber.Ctx, rt routeEntry, known bool) (*requestBody, error) {
	b := &requestBody{policy: rt.policy}
	cl := c.Request().Header.ContentLength() // -1: chunked
	if cl == 0 || cl < -1 {
		b.done = true
		return b, nil
	}
	if ce := strings.TrimSpace(c.Get(fiber.HeaderContentEncoding)); ce != "" && !strings.EqualFold(ce, "identity") {
		return b, errs.E(errs.UnsupportedType, "Send the request body uncompressed (no Content-Encoding).")
	}
	if !known {
		return b, nil
	}
	limit := rt.policy.limit
	tooLarge := &errs.Error{Code: errs.TooLarge, Message: "The request body is over this endpoint's limit of " + sizeText(limit) + ".", Err: errBodyTooLarge}
	if limit == 0 {
		tooLarge.Message = "This endpoint takes no request body."
	}
	stream := c.Context().RequestBodyStream()
	if stream == nil {
		return b, errs.E(errs.Invalid, "The request body could not be read.")
	}
	if cl > 0 && int64(cl) > limit {
		if int64(cl) <= limit+drainLimit {
			if n, _ := io.Copy(io.Discard, io.LimitReader(stream, int64(cl))); n == int64(cl) {
				b.done = true
			}
		}
		return b, tooLarge
	}
	b.r = &limitedReader{r: stream, n: limit, err: tooLarge}
	if rt.policy.stream {
		return b, nil
	}
	data, err := io.ReadAll(b.r)
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) {
			return b, e
		}
		return b, errs.E(errs.Invalid, "The request body could not be read to its end.")
	}
	b.done = true
	// The stream is spent: from here on handlers see an ordinary body.
	c.Request().SetBodyRaw(data)
	return b, nil
}

// errBodyTooLarge is in the chain of the TooLarge error of a body over its
// route's limit, to tell it from one file over the file size limit.
var errBodyTooLarge = errors.New("request body over the route's limit")

// limitedReader reads at most n bytes from r and fails with err (a 413)
// once more arrives; eof records that r was read to its end.
type limitedReader struct {
	r   io.Reader
	n   int64
	err error
	eof bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, l.err
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n + int(l.n), l.err
	}
	if err == io.EOF {
		l.eof = true
	}
	return n, err
}

func bodyOf(c *fiber.Ctx) *requestBody {
	b, _ := c.Locals(bodyKey).(*requestBody)
	return b
}

// readBody returns the request body, which prepareBody has already read
// and bounded by the route's limit.
func readBody(c *fiber.Ctx) []byte {
	return c.Body()
}

// formPart is one part of a streamed multipart form: a value field (Value)
// or a file (File, to read before asking for the next part).
type formPart struct {
	Name  string
	Value string
	File  *multipart.Part
}

// Bounds on the value fields of a streamed form.
const (
	maxFieldBytes   = 4 << 10
	maxLeadingParts = 64
)

// formStream reads a streamed multipart body part by part, in the order the
// client sent them. Value fields before the first file can be looked up
// (Leading) without reading any file; Next still returns them in order.
type formStream struct {
	mr    *multipart.Reader
	ahead []formPart
	err   error
}

// formStreamOf returns the request's streamed form: UnsupportedType unless
// the body is multipart/form-data, Invalid on a route that does not stream.
func formStreamOf(c *fiber.Ctx) (*formStream, error) {
	b := bodyOf(c)
	if b == nil || !b.policy.stream {
		return nil, errs.E(errs.Invalid, "This endpoint does not take an upload.")
	}
	if b.form != nil {
		return b.form, nil
	}
	mt, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, errs.E(errs.UnsupportedType, "Upload files as multipart/form-data (one or more file fields, or one ZIP).")
	}
	var r io.Reader = strings.NewReader("")
	if b.r != nil {
		r = b.r
	}
	b.form = &formStream{mr: multipart.NewReader(r, params["boundary"])}
	return b.form, nil
}

// read reads the next part from the body. A value field is read whole
// (at most maxFieldBytes); a file is returned unread.
func (f *formStream) read() (formPart, error) {
	if f.err != nil {
		return formPart{}, f.err
	}
	p, err := f.mr.NextPart()
	if err != nil {
		f.err = err
		return formPart{}, err
	}
	if p.FileName() != "" {
		return formPart{Name: p.FormName(), File: p}, nil
	}
	v, err := io.ReadAll(io.LimitReader(p, maxFieldBytes))
	if err != nil {
		f.err = err
		return formPart{}, err
	}
	return formPart{Name: p.FormName(), Value: strings.TrimSpace(string(v))}, nil
}

// Next returns the next part in the order sent, or io.EOF after the last.
// A body over the route's limit fails with a 413 *errs.Error.
func (f *formStream) Next() (formPart, error) {
	if len(f.ahead) > 0 {
		p := f.ahead[0]
		f.ahead = f.ahead[1:]
		return p, nil
	}
	return f.read()
}

// Leading returns the value of the field name if it comes before the first
// file (as a form's hidden fields do), reading no file content.
func (f *formStream) Leading(name string) string {
	for _, p := range f.ahead {
		if p.File == nil && p.Name == name {
			return p.Value
		}
	}
	for len(f.ahead) < maxLeadingParts && (len(f.ahead) == 0 || f.ahead[len(f.ahead)-1].File == nil) {
		p, err := f.read()
		if err != nil {
			return ""
		}
		f.ahead = append(f.ahead, p)
		if p.File == nil && p.Name == name {
			return p.Value
		}
	}
	return ""
}

// boundedFormValue is c.FormValue that never reads more than the route allows: a
// small body is already read and bounded; in an upload only the fields
// before the first file are seen; a body the route does not take is not
// read at all.
func boundedFormValue(c *fiber.Ctx, name string) string {
	b := bodyOf(c)
	switch {
	case b != nil && b.policy.stream:
		if v := c.Query(name); v != "" {
			return v
		}
		f, err := formStreamOf(c)
		if err != nil {
			return ""
		}
		return f.Leading(name)
	case b != nil && b.done:
		return c.FormValue(name)
	}
	return c.Query(name)
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return itoa64(n>>20) + " MB"
	case n >= 1<<10:
		return itoa64(n>>10) + " KB"
	}
	return itoa64(n) + " bytes"
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
