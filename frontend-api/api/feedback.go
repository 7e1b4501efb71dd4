package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/services/feedback"
)

// feedbackRoutes registers the feedback service's routes: the grader's
// workspace and comment bank, the teacher's review and release, and the
// student's view, ratings and reflections. Feedback IDs are task IDs
// ("<version id>:<reader>"); their colons may be sent as-is or
// percent-encoded.
func (s *Server) feedbackRoutes() {
	s.handle(fiber.MethodGet, "/api/v1/grader/tasks/:id/workspace", graders, s.gradingWorkspace)
	s.handle(fiber.MethodPut, "/api/v1/grader/tasks/:id/feedback", graders, s.saveDraft)
	s.handle(fiber.MethodPost, "/api/v1/grader/tasks/:id/submit", graders, s.submitFeedback)
	s.handle(fiber.MethodGet, "/api/v1/grader/comment-bank", graders, s.commentBank)
	s.handle(fiber.MethodPost, "/api/v1/grader/comment-bank", graders, s.saveToBank)
	s.handle(fiber.MethodDelete, "/api/v1/grader/comment-bank/:id", graders, s.deleteFromBank)

	s.handle(fiber.MethodGet, "/api/v1/assignments/:id/feedback", teachers, s.assignmentFeedback)
	s.handle(fiber.MethodGet, "/api/v1/assignments/:id/feedback-settings", teachers, s.feedbackSettings)
	s.handle(fiber.MethodPut, "/api/v1/assignments/:id/feedback-settings", teachers, s.setFeedbackSettings)
	s.handle(fiber.MethodPost, "/api/v1/assignments/:id/release", teachers, s.releaseFeedback)
	s.handle(fiber.MethodGet, "/api/v1/feedback/:id", teachers, s.reviewFeedback)
	s.handle(fiber.MethodPut, "/api/v1/feedback/:id", teachers, s.editFeedback)
	s.handle(fiber.MethodPost, "/api/v1/feedback/:id/return", teachers, s.returnFeedback)
	s.handle(fiber.MethodPost, "/api/v1/feedback/:id/approve", teachers, s.approveFeedback)
	s.handle(fiber.MethodPost, "/api/v1/feedback/:id/adjudicate", teachers, s.adjudicateFeedback)

	s.handle(fiber.MethodGet, "/api/v1/submissions/:id/feedback", students, s.studentFeedback)
	s.handle(fiber.MethodPost, "/api/v1/feedback/:id/ratings", students, s.rateFeedback)
	s.handle(fiber.MethodPost, "/api/v1/feedback/:id/reflections", students, s.reflectOnFeedback)
}

func (s *Server) gradingWorkspace(c *fiber.Ctx) error {
	w, err := s.deps.Feedback.Open(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(w)
}

// draftRequest is a save: the Rev the client last read and the whole
// content.
type draftRequest struct {
	Rev int `json:"rev"`
	feedback.Content
	Note string `json:"note,omitempty"` // a teacher's edit note
}

func (s *Server) saveDraft(c *fiber.Ctx) error {
	var in draftRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	f, err := s.deps.Feedback.Save(c.UserContext(), caller(c), param(c, "id"), in.Rev, in.Content)
	if err != nil {
		return err
	}
	return c.JSON(f.ForGrader())
}

type revRequest struct {
	Rev int `json:"rev"`
}

func (s *Server) submitFeedback(c *fiber.Ctx) error {
	var in revRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	f, err := s.deps.Feedback.Submit(c.UserContext(), caller(c), param(c, "id"), in.Rev)
	if err != nil {
		return err
	}
	return c.JSON(f.ForGrader())
}

func (s *Server) commentBank(c *fiber.Ctx) error {
	es, err := s.deps.Feedback.Bank(c.UserContext(), caller(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"entries": es})
}

type bankRequest struct {
	Criterion string        `json:"criterion"`
	Kind      feedback.Kind `json:"kind"`
	Text      string        `json:"text"`
}

func (s *Server) saveToBank(c *fiber.Ctx) error {
	var in bankRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	e, err := s.deps.Feedback.SaveToBank(c.UserContext(), caller(c), feedback.BankEntry{Criterion: in.Criterion, Kind: in.Kind, Text: in.Text})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(e)
}

func (s *Server) deleteFromBank(c *fiber.Ctx) error {
	if err := s.deps.Feedback.DeleteFromBank(c.UserContext(), caller(c), param(c, "id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) assignmentFeedback(c *fiber.Ctx) error {
	rows, err := s.deps.Feedback.List(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"feedback": rows})
}

func (s *Server) feedbackSettings(c *fiber.Ctx) error {
	ctx, id := c.UserContext(), param(c, "id")
	if _, err := s.deps.Intake.AuthorizeAssignment(ctx, caller(c), id); err != nil {
		return err
	}
	st, err := s.deps.Feedback.Settings(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(st)
}

func (s *Server) setFeedbackSettings(c *fiber.Ctx) error {
	var in feedback.Settings
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	st, err := s.deps.Feedback.SetSettings(c.UserContext(), caller(c), param(c, "id"), in)
	if err != nil {
		return err
	}
	return c.JSON(st)
}

type releaseRequest struct {
	StudentID string `json:"student_id,omitempty"` // empty: every student
}

func (s *Server) releaseFeedback(c *fiber.Ctx) error {
	var in releaseRequest
	if c.Request().Header.ContentLength() > 0 { // the body is optional
		if err := s.decodeJSON(c, &in); err != nil {
			return err
		}
	}
	res, err := s.deps.Feedback.Release(c.UserContext(), caller(c), param(c, "id"), in.StudentID)
	if err != nil {
		return err
	}
	return c.JSON(res)
}

func (s *Server) reviewFeedback(c *fiber.Ctx) error {
	r, err := s.deps.Feedback.Review(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(r)
}

func (s *Server) editFeedback(c *fiber.Ctx) error {
	var in draftRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	f, err := s.deps.Feedback.Edit(c.UserContext(), caller(c), param(c, "id"), in.Rev, in.Content, in.Note)
	if err != nil {
		return err
	}
	return c.JSON(f)
}

type noteRequest struct {
	Note string `json:"note"`
}

func (s *Server) returnFeedback(c *fiber.Ctx) error {
	var in noteRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	f, err := s.deps.Feedback.Return(c.UserContext(), caller(c), param(c, "id"), in.Note)
	if err != nil {
		return err
	}
	return c.JSON(f)
}

func (s *Server) approveFeedback(c *fiber.Ctx) error {
	f, err := s.deps.Feedback.Approve(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(f)
}

type adjudicateRequest struct {
	Levels map[string]string `json:"levels"`
	Note   string            `json:"note"`
	// Approve approves both reads in the same action
	// (feedback.Service.AdjudicateAndApprove).
	Approve bool `json:"approve"`
}

func (s *Server) adjudicateFeedback(c *fiber.Ctx) error {
	var in adjudicateRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	adjudicate := s.deps.Feedback.Adjudicate
	if in.Approve {
		adjudicate = s.deps.Feedback.AdjudicateAndApprove
	}
	f, err := adjudicate(c.UserContext(), caller(c), param(c, "id"), in.Levels, in.Note)
	if err != nil {
		return err
	}
	return c.JSON(f)
}

func (s *Server) studentFeedback(c *fiber.Ctx) error {
	sf, err := s.deps.Feedback.ForSubmission(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(sf)
}

type rateRequest struct {
	CommentID string `json:"comment_id"`
	Stars     int    `json:"stars"`
}

// ratingResponse is what a student gets back: their ratings, not the whole
// feedback document (which names the grader's account).
type ratingResponse struct {
	Ratings     []feedback.Rating     `json:"ratings"`
	Reflections []feedback.Reflection `json:"reflections"`
}

func (s *Server) rateFeedback(c *fiber.Ctx) error {
	var in rateRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	f, err := s.deps.Feedback.Rate(c.UserContext(), caller(c), param(c, "id"), in.CommentID, in.Stars)
	if err != nil {
		return err
	}
	return c.JSON(ratingResponse{Ratings: f.Ratings, Reflections: f.Reflections})
}

type reflectRequest struct {
	Kind string `json:"kind"`
	Text string `json:"text"`
}

func (s *Server) reflectOnFeedback(c *fiber.Ctx) error {
	var in reflectRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	f, err := s.deps.Feedback.Reflect(c.UserContext(), caller(c), param(c, "id"), in.Kind, in.Text)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(ratingResponse{Ratings: f.Ratings, Reflections: f.Reflections})
}
