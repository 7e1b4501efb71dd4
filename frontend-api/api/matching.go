package api

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/services/matching"
)

// classTeachers are teachers only: block and prefer lists are a teacher's
// own, so an admin has none.
var classTeachers = Roles{account.Teacher}

// matchingRoutes registers the matching service's routes.
func (s *Server) matchingRoutes() {
	s.handle(fiber.MethodGet, "/api/v1/grader/profile", graders, s.myGraderProfile)
	s.handle(fiber.MethodPut, "/api/v1/grader/profile", graders, s.saveGraderProfile)
	s.handle(fiber.MethodGet, "/api/v1/grader/offers", graders, s.myOffers)
	s.handle(fiber.MethodPost, "/api/v1/grader/offers/:id/accept", graders, s.acceptOffer)
	s.handle(fiber.MethodPost, "/api/v1/grader/offers/:id/decline", graders, s.declineOffer)
	s.handle(fiber.MethodGet, "/api/v1/grader/tasks", graders, s.myTasks)
	s.handle(fiber.MethodGet, "/api/v1/grader/calibrations", graders, s.myCalibrations)
	s.handle(fiber.MethodGet, "/api/v1/grader/calibration/:assignmentId", graders, s.calibrationTask)
	s.handle(fiber.MethodPost, "/api/v1/grader/calibration/:assignmentId", graders, s.calibrate)

	s.handle(fiber.MethodGet, "/api/v1/admin/graders", adminOnly, s.adminGraders)
	s.handle(fiber.MethodPut, "/api/v1/admin/graders/:id/vetting", adminOnly, s.vetGrader)
	s.handle(fiber.MethodPost, "/api/v1/admin/matching/rounds", adminOnly, s.adminRunRound)

	s.handle(fiber.MethodGet, "/api/v1/teacher/grader-preferences", classTeachers, s.graderPreferences)
	s.handle(fiber.MethodPut, "/api/v1/teacher/grader-preferences/:graderId", classTeachers, s.setGraderPreference)
	s.handle(fiber.MethodGet, "/api/v1/assignments/:id/matching", teachers, s.assignmentMatching)
	s.handle(fiber.MethodPost, "/api/v1/assignments/:id/matching/rounds", teachers, s.assignmentRunRound)
	s.handle(fiber.MethodGet, "/api/v1/assignments/:id/anchors", teachers, s.getAnchors)
	s.handle(fiber.MethodPut, "/api/v1/assignments/:id/anchors", teachers, s.setAnchors)
}

func (s *Server) myGraderProfile(c *fiber.Ctx) error {
	p, err := s.deps.Matching.MyProfile(c.UserContext(), caller(c))
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) saveGraderProfile(c *fiber.Ctx) error {
	var in matching.ProfileInput
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	if _, err := s.deps.Matching.SaveProfile(c.UserContext(), caller(c), in); err != nil {
		return err
	}
	return s.myGraderProfile(c)
}

func (s *Server) myOffers(c *fiber.Ctx) error {
	offers, err := s.deps.Matching.GraderOffers(c.UserContext(), caller(c), c.Query("state") == "open")
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"offers": offers})
}

func (s *Server) acceptOffer(c *fiber.Ctx) error {
	return s.decideOffer(c, s.deps.Matching.Accept)
}

func (s *Server) declineOffer(c *fiber.Ctx) error {
	return s.decideOffer(c, s.deps.Matching.Decline)
}

// decideOffer accepts or declines the path's offer and answers with the
// offer as the grader sees it.
func (s *Server) decideOffer(c *fiber.Ctx, decide func(context.Context, account.User, string) (matching.Offer, error)) error {
	ctx, u := c.UserContext(), caller(c)
	o, err := decide(ctx, u, param(c, "id"))
	if err != nil {
		return err
	}
	v, err := s.deps.Matching.OfferViewOf(ctx, u, o)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Server) myTasks(c *fiber.Ctx) error {
	ts, err := s.deps.Matching.MyTasks(c.UserContext(), caller(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tasks": ts})
}

func (s *Server) calibrationTask(c *fiber.Ctx) error {
	t, err := s.deps.Matching.Calibration(c.UserContext(), caller(c), param(c, "assignmentId"))
	if err != nil {
		return err
	}
	return c.JSON(t)
}

func (s *Server) myCalibrations(c *fiber.Ctx) error {
	cs, err := s.deps.Matching.Calibrations(c.UserContext(), caller(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"calibrations": cs})
}

type calibrateRequest struct {
	Levels map[string]string `json:"levels"`
}

func (s *Server) calibrate(c *fiber.Ctx) error {
	var in calibrateRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	r, err := s.deps.Matching.Calibrate(c.UserContext(), caller(c), param(c, "assignmentId"), in.Levels)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(r)
}

func (s *Server) adminGraders(c *fiber.Ctx) error {
	gs, err := s.deps.Matching.Graders(c.UserContext(), caller(c), matching.VettingStatus(c.Query("status")))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"graders": gs})
}

type vettingRequest struct {
	Status matching.VettingStatus `json:"status"`
}

func (s *Server) vetGrader(c *fiber.Ctx) error {
	var in vettingRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	p, err := s.deps.Matching.Vet(c.UserContext(), caller(c), param(c, "id"), in.Status)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) adminRunRound(c *fiber.Ctx) error {
	r, err := s.deps.Matching.RunRound(c.UserContext())
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(r)
}

func (s *Server) graderPreferences(c *fiber.Ctx) error {
	p, err := s.deps.Matching.Preferences(c.UserContext(), caller(c))
	if err != nil {
		return err
	}
	return c.JSON(p)
}

type preferenceRequest struct {
	Preference matching.Preference `json:"preference"`
}

func (s *Server) setGraderPreference(c *fiber.Ctx) error {
	var in preferenceRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	p, err := s.deps.Matching.SetPreference(c.UserContext(), caller(c), param(c, "graderId"), in.Preference)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) assignmentMatching(c *fiber.Ctx) error {
	m, err := s.deps.Matching.ForAssignment(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(m)
}

func (s *Server) assignmentRunRound(c *fiber.Ctx) error {
	m, err := s.deps.Matching.RunRoundFor(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(m)
}

func (s *Server) getAnchors(c *fiber.Ctx) error {
	a, err := s.deps.Matching.AnchorsFor(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(a)
}

type anchorsRequest struct {
	Anchors []matching.AnchorInput `json:"anchors"`
}

func (s *Server) setAnchors(c *fiber.Ctx) error {
	var in anchorsRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	a, err := s.deps.Matching.SetAnchors(c.UserContext(), caller(c), param(c, "id"), in.Anchors)
	if err != nil {
		return err
	}
	return c.JSON(a)
}
