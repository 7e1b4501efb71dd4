package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/intake"
)

// intakeRoutes registers classes, rosters, access links, assignments,
// rubrics and submissions.
func (s *Server) intakeRoutes() {
	s.handle(fiber.MethodPost, "/api/v1/classes", teachers, s.createClass)
	s.handle(fiber.MethodGet, "/api/v1/classes", teachers, s.listClasses)
	s.handle(fiber.MethodGet, "/api/v1/classes/:id", teachers, s.getClass)
	s.handle(fiber.MethodPost, "/api/v1/classes/:id/roster", teachers, s.importRoster)
	s.handle(fiber.MethodGet, "/api/v1/classes/:id/students", teachers, s.listStudents)
	s.handle(fiber.MethodPost, "/api/v1/classes/:id/students/:studentId/access-link", teachers, s.rotateAccessLink)
	s.handle(fiber.MethodDelete, "/api/v1/classes/:id/students/:studentId", teachers, s.removeStudent)
	s.handle(fiber.MethodGet, "/api/v1/classes/:id/assignments", teachers, s.listAssignments)
	s.handle(fiber.MethodPost, "/api/v1/student-sessions", public, s.redeemAccessLink)

	s.handle(fiber.MethodPost, "/api/v1/assignments", teachers, s.createAssignment)
	s.handle(fiber.MethodGet, "/api/v1/assignments/:id", teachers, s.getAssignment)
	s.handle(fiber.MethodPut, "/api/v1/assignments/:id", teachers, s.updateAssignment)
	s.handle(fiber.MethodPost, "/api/v1/assignments/:id/publish", teachers, s.publishAssignment)
	s.handle(fiber.MethodPost, "/api/v1/assignments/:id/submissions", teachers, s.uploadSubmissions)
	s.handle(fiber.MethodGet, "/api/v1/assignments/:id/submissions", teachers, s.listSubmissions)
	s.handle(fiber.MethodGet, "/api/v1/uploads/:id", anyone, s.getUpload)

	s.handle(fiber.MethodPost, "/api/v1/rubrics", teachers, s.saveRubric)
	s.handle(fiber.MethodGet, "/api/v1/rubrics", teachers, s.listRubrics)

	s.handle(fiber.MethodGet, "/api/v1/me/submissions", students, s.mySubmissions)
	s.handle(fiber.MethodGet, "/api/v1/submissions/:id", Roles{account.Teacher, account.Admin, account.Student}, s.getSubmission)
	s.handle(fiber.MethodGet, "/api/v1/submissions/:id/versions/:n/original", Roles{account.Teacher, account.Admin, account.Student}, s.downloadOriginal)
	s.handle(fiber.MethodPost, "/api/v1/submissions/:id/versions", students, s.uploadRevision)
	s.handle(fiber.MethodPost, "/api/v1/submissions/:id/versions/:n/confirm", teachers, s.confirmVersion)
	s.handle(fiber.MethodPost, "/api/v1/submissions/:id/versions/:n/reassign", teachers, s.reassignVersion)
}

func (s *Server) createClass(c *fiber.Ctx) error {
	var in intake.ClassInput
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	cl, err := s.deps.Intake.CreateClass(c.UserContext(), caller(c), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(cl)
}

func (s *Server) listClasses(c *fiber.Ctx) error {
	cls, err := s.deps.Intake.Classes(c.UserContext(), caller(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"classes": cls})
}

func (s *Server) getClass(c *fiber.Ctx) error {
	cl, err := s.deps.Intake.AuthorizeClass(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(cl)
}

// importRoster takes the CSV as the body (text/csv) or as the file field
// "roster" of a multipart form.
func (s *Server) importRoster(c *fiber.Ctx) error {
	body := readBody(c)
	var r io.Reader = bytes.NewReader(body)
	if mt, params, _ := mime.ParseMediaType(c.Get(fiber.HeaderContentType)); mt == "multipart/form-data" {
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		found := false
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return errs.E(errs.Invalid, "The form could not be read: %v.", err)
			}
			if p.FormName() == "roster" {
				r, found = p, true
				break
			}
		}
		if !found {
			return errs.F(errs.Invalid, "roster", "Attach the roster CSV as the form field \"roster\".")
		}
	}
	res, err := s.deps.Intake.ImportRoster(c.UserContext(), caller(c), param(c, "id"), r)
	if err != nil {
		return err
	}
	return c.JSON(res)
}

func (s *Server) listStudents(c *fiber.Ctx) error {
	sts, err := s.deps.Intake.Roster(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"students": sts})
}

func (s *Server) rotateAccessLink(c *fiber.Ctx) error {
	tok, until, err := s.deps.Intake.RotateAccessLink(c.UserContext(), caller(c), param(c, "id"), param(c, "studentId"))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"token": tok, "path": "/s/" + tok, "expires_at": until})
}

// removeStudent takes a student off the class: their link stops working and
// their sessions end; their work stays.
func (s *Server) removeStudent(c *fiber.Ctx) error {
	if err := s.deps.Intake.RemoveStudent(c.UserContext(), caller(c), param(c, "id"), param(c, "studentId")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) redeemAccessLink(c *fiber.Ctx) error {
	var in struct {
		Token string `json:"token"`
	}
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Token) == "" {
		return errs.F(errs.Invalid, "token", "Give the access link's token.")
	}
	tok, u, err := s.deps.Intake.RedeemAccessLink(c.UserContext(), in.Token)
	if err != nil {
		return err
	}
	s.setSessionCookie(c, tok, account.SessionTTL)
	return c.Status(fiber.StatusCreated).JSON(loginResponse{Token: tok, User: u})
}

func (s *Server) listAssignments(c *fiber.Ctx) error {
	as, err := s.deps.Intake.Assignments(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"assignments": as})
}

func (s *Server) createAssignment(c *fiber.Ctx) error {
	var in intake.AssignmentInput
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	a, err := s.deps.Intake.CreateAssignment(c.UserContext(), caller(c), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(a)
}

func (s *Server) getAssignment(c *fiber.Ctx) error {
	a, err := s.deps.Intake.AuthorizeAssignment(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(a)
}

func (s *Server) updateAssignment(c *fiber.Ctx) error {
	var in intake.AssignmentInput
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	a, err := s.deps.Intake.UpdateAssignment(c.UserContext(), caller(c), param(c, "id"), in)
	if err != nil {
		return err
	}
	return c.JSON(a)
}

func (s *Server) publishAssignment(c *fiber.Ctx) error {
	a, err := s.deps.Intake.Publish(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(a)
}

// uploadSubmissions streams a multipart upload: each file part (any field
// name) is spooled to a temporary file and ingested as it arrives, so memory
// stays flat whatever the upload's size. A "student_id" field applies to the
// files after it, up to the next one; a file before any has a Canvas-style
// name, or is one ZIP of such files. "batch_id" (query) continues an
// earlier batch.
func (s *Server) uploadSubmissions(c *fiber.Ctx) error {
	b, err := s.deps.Intake.StartUpload(c.UserContext(), caller(c), param(c, "id"), c.Query("batch_id"))
	if err != nil {
		return err
	}
	return s.answerUpload(c, b, s.streamFiles(c, b, maxPartsPerRequest))
}

// uploadRevision takes one file, the student's revision.
func (s *Server) uploadRevision(c *fiber.Ctx) error {
	b, err := s.deps.Intake.StartRevision(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return s.answerUpload(c, b, s.streamFiles(c, b, 1))
}

// answerUpload ends the request's part of the batch and answers: 201 with
// the batch; or, if the request was stopped (shutdown, its time limit, the
// client gone) before it read every file, 503 with the batch so far
// (state "stopped") and an error saying how to send the rest; or readErr.
func (s *Server) answerUpload(c *fiber.Ctx, b *intake.Batch, readErr error) error {
	up, err := s.finishBatch(c, b, readErr)
	if err != nil {
		return err
	}
	if up.State == intake.UploadStopped {
		return c.Status(fiber.StatusServiceUnavailable).JSON(stoppedUpload{Upload: up, Error: stoppedError(c, up)})
	}
	if readErr != nil {
		return readErr
	}
	return c.Status(fiber.StatusCreated).JSON(up)
}

// finishBatch ends the request's part of the batch: stopped, if readErr
// says the request's context ended before every file was read.
func (s *Server) finishBatch(c *fiber.Ctx, b *intake.Batch, readErr error) (intake.Upload, error) {
	why := ""
	if errors.Is(readErr, intake.ErrStopped) {
		why = stopReason(c.UserContext())
	}
	return b.Finish(c.UserContext(), why)
}

// stoppedUpload is the answer to an upload stopped part-way: the batch so
// far, and the error.
type stoppedUpload struct {
	intake.Upload
	Error ErrorJSON `json:"error"`
}

func stoppedError(c *fiber.Ctx, up intake.Upload) ErrorJSON {
	rid, _ := c.Locals(requestIDKey).(string)
	why := map[string]string{
		intake.StopShutdown: "Margin is restarting",
		intake.StopTimeout:  "the upload ran past its time limit",
		intake.StopClient:   "the connection closed",
	}[up.StoppedBy]
	return ErrorJSON{Code: errs.Unavailable, RequestID: rid, Message: fmt.Sprintf(
		"The upload stopped because %s, after %d files; their outcomes are in batch %s. Send the files not listed again with batch_id=%s.",
		why, up.Counts.Files, up.ID, up.ID)}
}

// maxPartsPerRequest bounds the parts of one multipart request; a larger
// batch continues in another request with batch_id.
const maxPartsPerRequest = 2000

// streamFiles reads the request's multipart body part by part, in the
// order sent, and adds each file to b as it arrives (at most maxFiles
// files). It holds one of the caller's upload slots while it works: a user
// with UploadsPerUser uploads already being read gets RateLimited. A body
// over the route's limit stops it with TooLarge; files already added stay
// in the batch, and the message says how to continue. When the request's
// context ends it stops at the next file boundary (a body being read is
// interrupted) and returns intake.ErrStopped.
func (s *Server) streamFiles(c *fiber.Ctx, b *intake.Batch, maxFiles int) error {
	ctx := c.UserContext()
	release, ok := s.uploads.acquire(caller(c).ID)
	if !ok {
		return errs.E(errs.RateLimited, "You already have %d uploads being read; wait for them to finish, then send this one again.", s.cfg.UploadsPerUser)
	}
	defer release()
	if conn := c.Context().Conn(); conn != nil {
		// A read of the body blocks until the client sends more; the
		// request's end interrupts it.
		stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
		defer stop()
	}
	form, err := formStreamOf(c)
	if err != nil {
		return err
	}
	cutOff := func(files int, err error) error {
		id := b.Upload().ID
		var e *errs.Error
		switch {
		case ctx.Err() != nil || errors.Is(err, intake.ErrStopped):
			return intake.ErrStopped
		case errors.As(err, &e) && e.Code == errs.TooLarge:
			if files > 0 {
				return errs.E(errs.TooLarge, "%s The %d files before the limit are saved in batch %s; send the rest with batch_id=%s.", e.Message, files, id, id)
			}
			return e
		case files > 0:
			return errs.E(errs.Invalid, "The upload was cut off after %d files; they are saved in batch %s. Send the rest with batch_id=%s.", files, id, id)
		}
		return errs.E(errs.Invalid, "The multipart body could not be read: %v.", err)
	}
	studentID, files := "", 0
	for parts := 0; ; parts++ {
		if parts >= maxPartsPerRequest {
			return errs.E(errs.TooLarge, "One request holds at most %d parts; continue in another request with batch_id=%s.", maxPartsPerRequest, b.Upload().ID)
		}
		p, err := form.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return cutOff(files, err)
		}
		if p.File == nil {
			if p.Name == "student_id" {
				studentID = p.Value
			}
			continue
		}
		if files == maxFiles {
			return errs.E(errs.Invalid, "Send one file at a time here.")
		}
		files++
		if err := s.ingestPart(ctx, b, p.File, studentID); err != nil {
			return cutOff(files-1, err)
		}
		if ctx.Err() != nil {
			return intake.ErrStopped
		}
	}
	if files == 0 {
		return errs.E(errs.Invalid, "The upload has no files. Attach one or more files, or one ZIP.")
	}
	return nil
}

// ingestPart spools one file part and adds it to the batch. A file over its
// own size limit is recorded as rejected and the upload goes on; a body
// over the request's limit, or an interrupted one, stops it.
func (s *Server) ingestPart(ctx context.Context, b *intake.Batch, p *multipart.Part, studentID string) error {
	name := p.FileName()
	limit := s.deps.Intake.MaxFileSize()
	if strings.HasSuffix(strings.ToLower(name), ".zip") {
		limit = s.cfg.MaxUploadBody
	}
	f, n, err := intake.Spool(p, name, limit)
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) && e.Code == errs.TooLarge && !errors.Is(err, errBodyTooLarge) {
			if _, err := io.Copy(io.Discard, p); err != nil { // skip the rest of this part; the batch goes on
				return err
			}
			return b.Reject(ctx, name, err)
		}
		return err
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	return b.Add(ctx, name, studentID, f, n)
}

// userSlots counts each user's uploads in progress.
type userSlots struct {
	mu   sync.Mutex
	max  int
	used map[string]int
}

func newUserSlots(max int) *userSlots { return &userSlots{max: max, used: map[string]int{}} }

// acquire takes one of user's slots, or reports false if all are taken.
func (u *userSlots) acquire(user string) (release func(), ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.used[user] >= u.max {
		return nil, false
	}
	u.used[user]++
	return func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		if u.used[user]--; u.used[user] <= 0 {
			delete(u.used, user)
		}
	}, true
}

func (s *Server) listSubmissions(c *fiber.Ctx) error {
	limit := 0
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errs.F(errs.Invalid, "limit", "limit must be a whole number from 1 to 500.")
		}
		limit = n
	}
	p, err := s.deps.Intake.ListSubmissions(c.UserContext(), caller(c), param(c, "id"), c.Query("after"), limit)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) getUpload(c *fiber.Ctx) error {
	up, err := s.deps.Intake.UploadBatch(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(up)
}

func (s *Server) saveRubric(c *fiber.Ctx) error {
	var in struct {
		Name   string        `json:"name"`
		Rubric intake.Rubric `json:"rubric"`
	}
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	r, err := s.deps.Intake.SaveRubric(c.UserContext(), caller(c), in.Name, in.Rubric)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(r)
}

func (s *Server) listRubrics(c *fiber.Ctx) error {
	rs, err := s.deps.Intake.Library(c.UserContext(), caller(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"rubrics": rs})
}

func (s *Server) mySubmissions(c *fiber.Ctx) error {
	subs, err := s.deps.Intake.MySubmissions(c.UserContext(), caller(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"submissions": subs})
}

// getSubmission returns the submission with the text of its latest version
// (or of ?version=n): the original text, for its teacher or its student.
func (s *Server) getSubmission(c *fiber.Ctx) error {
	ctx := c.UserContext()
	sub, a, err := s.deps.Intake.SubmissionFor(ctx, caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	n := c.QueryInt("version", sub.Current().N)
	text, err := s.deps.Intake.TextFor(ctx, caller(c), sub.ID, n)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"submission": sub, "assignment_title": a.Title, "version": n, "text": text})
}

// versionParam is the :n of a version route.
func versionParam(c *fiber.Ctx) (int, error) {
	n, err := strconv.Atoi(param(c, "n"))
	if err != nil || n < 1 {
		return 0, errs.E(errs.NotFound, "No such version.")
	}
	return n, nil
}

// confirmVersion closes a version's flag: the file is the student's.
func (s *Server) confirmVersion(c *fiber.Ctx) error {
	n, err := versionParam(c)
	if err != nil {
		return err
	}
	sub, err := s.deps.Intake.ConfirmVersion(c.UserContext(), caller(c), param(c, "id"), n)
	if err != nil {
		return err
	}
	return c.JSON(sub)
}

// reassignVersion moves a flagged version to the student it belongs to.
func (s *Server) reassignVersion(c *fiber.Ctx) error {
	n, err := versionParam(c)
	if err != nil {
		return err
	}
	var in struct {
		StudentID string `json:"student_id"`
	}
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	up, err := s.deps.Intake.ReassignVersion(c.UserContext(), caller(c), param(c, "id"), n, in.StudentID)
	if err != nil {
		return err
	}
	return c.JSON(up)
}

func (s *Server) downloadOriginal(c *fiber.Ctx) error {
	n, err := versionParam(c)
	if err != nil {
		return err
	}
	// The body is sent after the handler returns, when the request's
	// context has ended, so the read from S3 gets a context of its own that
	// ends when the stream is closed (sent, or the client gone) or timed out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.UserContext()), s.cfg.RequestTimeout)
	rc, v, err := s.deps.Intake.Original(ctx, caller(c), param(c, "id"), n)
	if err != nil {
		cancel()
		return err
	}
	c.Set(fiber.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": v.Filename}))
	c.Set(fiber.HeaderContentType, "application/octet-stream")
	return c.SendStream(cancelOnClose{rc, cancel}, int(v.Size))
}

// cancelOnClose is a response body stream that ends its context when
// fasthttp closes it.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (r cancelOnClose) Close() error {
	err := r.ReadCloser.Close()
	r.cancel()
	return err
}
