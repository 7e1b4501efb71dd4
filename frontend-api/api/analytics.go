package api

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/analytics"
)

// studentSide are the roles that may see a student's progress or manage
// their family links: the class's teacher, an admin, or the student; the
// service checks which student.
var studentSide = Roles{account.Teacher, account.Admin, account.Student}

// analyticsRoutes registers the analytics service's routes: class
// summaries with their exports, charts and report; progress and the data
// wall; family share links; platform totals.
func (s *Server) analyticsRoutes() {
	const asg = "/api/v1/analytics/assignments/:id"
	s.handle(fiber.MethodGet, asg+"/summary", teachers, s.classSummary)
	s.handle(fiber.MethodGet, asg+"/summary.csv", teachers, s.summaryCSV)
	s.handle(fiber.MethodGet, asg+"/levels.csv", teachers, s.levelsCSV)
	s.handle(fiber.MethodGet, asg+"/gradebook.csv", teachers, s.gradebookCSV)
	s.handle(fiber.MethodGet, asg+"/levels.svg", teachers, s.levelsSVG)
	s.handle(fiber.MethodGet, asg+"/report.html", teachers, s.classReport)

	const cls = "/api/v1/analytics/classes/:id"
	s.handle(fiber.MethodGet, cls+"/data-wall", teachers, s.dataWall)
	s.handle(fiber.MethodGet, cls+"/students/:studentId/progress", studentSide, s.studentProgress)
	s.handle(fiber.MethodGet, cls+"/students/:studentId/progress.svg", studentSide, s.studentProgressSVG)
	s.handle(fiber.MethodPost, cls+"/students/:studentId/share-links", studentSide, s.createShareLink)
	s.handle(fiber.MethodGet, cls+"/students/:studentId/share-links", studentSide, s.listShareLinks)
	s.handle(fiber.MethodDelete, "/api/v1/analytics/share-links/:id", studentSide, s.revokeShareLink)

	s.handle(fiber.MethodGet, "/api/v1/analytics/me/progress", students, s.myProgress)
	s.handle(fiber.MethodGet, "/api/v1/analytics/me/progress.svg", students, s.myProgressSVG)
	// The family's token travels in the query string, which the request log
	// leaves out.
	s.handle(fiber.MethodGet, "/api/v1/analytics/family/progress", public, s.familyProgress)
	s.handle(fiber.MethodGet, "/api/v1/analytics/family/progress.svg", public, s.familyProgressSVG)

	s.handle(fiber.MethodGet, "/api/v1/analytics/admin/totals", adminOnly, s.platformTotals)
}

// summaryOptions reads ?names=true and ?support_below=<level key>.
func summaryOptions(c *fiber.Ctx) (analytics.Options, error) {
	var o analytics.Options
	if v := c.Query("names"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, errs.F(errs.Invalid, "names", "names must be true or false.")
		}
		o.Names = b
	}
	o.SupportBelow = c.Query("support_below")
	return o, nil
}

func (s *Server) summary(c *fiber.Ctx) (analytics.Summary, error) {
	o, err := summaryOptions(c)
	if err != nil {
		return analytics.Summary{}, err
	}
	return s.deps.Analytics.ClassSummary(c.UserContext(), caller(c), param(c, "id"), o)
}

func (s *Server) classSummary(c *fiber.Ctx) error {
	sum, err := s.summary(c)
	if err != nil {
		return err
	}
	return c.JSON(sum)
}

// sendFile sends body with a content type, as an attachment when name is
// set.
func sendFile(c *fiber.Ctx, ctype, name string, body []byte) error {
	if name != "" {
		c.Attachment(name) // sets a type from the extension; ours follows
	}
	c.Set(fiber.HeaderContentType, ctype)
	return c.Send(body)
}

const (
	csvType  = "text/csv; charset=utf-8"
	svgType  = "image/svg+xml"
	htmlType = "text/html; charset=utf-8"
)

func (s *Server) summaryCSV(c *fiber.Ctx) error {
	sum, err := s.summary(c)
	if err != nil {
		return err
	}
	return sendFile(c, csvType, "summary-"+sum.AssignmentID+".csv", analytics.SummaryCSV(sum))
}

func (s *Server) levelsCSV(c *fiber.Ctx) error {
	sum, err := s.summary(c)
	if err != nil {
		return err
	}
	return sendFile(c, csvType, "levels-"+sum.AssignmentID+".csv", analytics.LevelsCSV(sum))
}

func (s *Server) gradebookCSV(c *fiber.Ctx) error {
	body, err := s.deps.Analytics.Gradebook(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return sendFile(c, csvType, "gradebook-"+param(c, "id")+".csv", body)
}

func (s *Server) levelsSVG(c *fiber.Ctx) error {
	sum, err := s.summary(c)
	if err != nil {
		return err
	}
	svg, err := analytics.LevelsChart(sum)
	if err != nil {
		return err
	}
	return sendFile(c, svgType, "", svg)
}

func (s *Server) classReport(c *fiber.Ctx) error {
	sum, err := s.summary(c)
	if err != nil {
		return err
	}
	html, err := analytics.ReportHTML(sum)
	if err != nil {
		return err
	}
	return sendFile(c, htmlType, "", html)
}

func (s *Server) dataWall(c *fiber.Ctx) error {
	w, err := s.deps.Analytics.ClassWall(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(w)
}

func (s *Server) studentProgress(c *fiber.Ctx) error {
	p, err := s.deps.Analytics.StudentProgress(c.UserContext(), caller(c), param(c, "id"), param(c, "studentId"))
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) studentProgressSVG(c *fiber.Ctx) error {
	p, err := s.deps.Analytics.StudentProgress(c.UserContext(), caller(c), param(c, "id"), param(c, "studentId"))
	return progressSVG(c, p, err)
}

func progressSVG(c *fiber.Ctx, p analytics.Progress, err error) error {
	if err != nil {
		return err
	}
	svg, err := analytics.ProgressChart(p)
	if err != nil {
		return err
	}
	return sendFile(c, svgType, "", svg)
}

func (s *Server) myProgress(c *fiber.Ctx) error {
	p, err := s.deps.Analytics.MyProgress(c.UserContext(), caller(c))
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) myProgressSVG(c *fiber.Ctx) error {
	p, err := s.deps.Analytics.MyProgress(c.UserContext(), caller(c))
	return progressSVG(c, p, err)
}

func (s *Server) familyProgress(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	p, err := s.deps.Analytics.FamilyProgress(c.UserContext(), c.Query("token"))
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) familyProgressSVG(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	p, err := s.deps.Analytics.FamilyProgress(c.UserContext(), c.Query("token"))
	return progressSVG(c, p, err)
}

func (s *Server) createShareLink(c *fiber.Ctx) error {
	l, err := s.deps.Analytics.CreateShareLink(c.UserContext(), caller(c), param(c, "id"), param(c, "studentId"))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(l)
}

func (s *Server) listShareLinks(c *fiber.Ctx) error {
	ls, err := s.deps.Analytics.ShareLinks(c.UserContext(), caller(c), param(c, "id"), param(c, "studentId"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"share_links": ls})
}

func (s *Server) revokeShareLink(c *fiber.Ctx) error {
	l, err := s.deps.Analytics.RevokeShareLink(c.UserContext(), caller(c), param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(l)
}

func (s *Server) platformTotals(c *fiber.Ctx) error {
	t, err := s.deps.Analytics.PlatformTotals(c.UserContext(), caller(c))
	if err != nil {
		return err
	}
	return c.JSON(t)
}
