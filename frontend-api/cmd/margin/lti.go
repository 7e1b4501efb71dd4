package main

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/marginschool/margin/frontend-api/api"
	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/lti"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
)

// The LTI wiring: pkg/lti's Directory over accounts and intake, and the
// LMS gradebook fed by feedback's releases. Each adapter only calls the
// owning service; none writes another's collections.

// ltiInterval is how often the LTI loop looks for scores to post when
// there were none.
const ltiInterval = 5 * time.Second

// openLTI builds the LTI tool and its adapters when MARGIN_PUBLIC_URL is
// set, and hooks the gradebook to feedback's releases; with no public URL
// LTI is off and d.lti stays nil.
func (d *deps) openLTI(cfg lti.Config, logger *slog.Logger) error {
	if cfg.PublicURL == "" {
		return nil
	}
	tool, err := lti.New(d.store.DB, cfg, lti.WithLogger(logger.With("service", "lti")))
	if err != nil {
		return err
	}
	d.lti = tool
	d.ltiGrades = &ltiGrades{tool: tool, feedback: d.feedback, log: logger.With("service", "lti")}
	d.feedback.OnRelease(d.ltiGrades)
	return nil
}

// ltiAPI is what the HTTP layer needs for LTI, or nil when it is off.
func (d *deps) ltiAPI() *api.LTI {
	if d.lti == nil {
		return nil
	}
	return &api.LTI{Tool: d.lti, Directory: ltiDirectory{accounts: d.accounts, intake: d.intake}, Grades: d.ltiGrades}
}

// ltiRun posts queued scores and sweeps expired logins (lti.Run) until
// ctx ends; with LTI off it only waits.
func (d *deps) ltiRun(ctx context.Context) error {
	if d.lti == nil {
		<-ctx.Done()
		return nil
	}
	d.lti.Run(ctx, ltiInterval)
	return nil
}

// ltiDirectory is lti.Directory over accounts and intake: one school per
// LMS (issuer), one class per course (intake.LMSClassID of its key), one
// teacher account per (issuer, sub), and one enrolment per (class, student
// ID).
type ltiDirectory struct {
	accounts *account.Service
	intake   *intake.Service
}

var _ lti.Directory = ltiDirectory{}

func (d ltiDirectory) EnsureClass(ctx context.Context, c lti.Course) (string, error) {
	sc, err := d.accounts.EnsureSchool(ctx, account.ExternalSchoolID(c.Issuer), schoolName(c.Issuer))
	if err != nil {
		return "", err
	}
	cls, err := d.intake.EnsureLMSClass(ctx, c.Key, sc.ID, c.Title, c.Label)
	return cls.ID, err
}

// schoolName names an LMS's school after its host.
func schoolName(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Host != "" {
		return "LMS " + u.Host
	}
	return "LMS school"
}

func (d ltiDirectory) EnsureTeacher(ctx context.Context, classID string, p lti.Person) (string, error) {
	cls, err := d.intake.Class(ctx, classID)
	if err != nil {
		return "", err
	}
	u, err := d.accounts.EnsureExternalTeacher(ctx, p.Issuer, p.Subject, cls.SchoolID, personName(p), p.Email)
	if err != nil {
		return "", err
	}
	// The first instructor to arrive owns the class; the launch tells
	// any other that the class has a teacher already.
	_, err = d.intake.ClaimLMSClass(ctx, classID, u.ID)
	return u.ID, err
}

func (d ltiDirectory) EnsureStudent(ctx context.Context, classID string, p lti.Person) (string, error) {
	return d.intake.EnrolLMSStudent(ctx, classID, intake.LMSStudent{
		StudentID: p.StudentID, GivenName: p.GivenName, FamilyName: p.FamilyName, Name: p.Name, Email: p.Email,
	})
}

func (d ltiDirectory) MarkStudentLeft(ctx context.Context, classID, studentID string) error {
	return d.intake.MarkLMSStudentLeft(ctx, classID, studentID)
}

func (d ltiDirectory) AssignmentClass(ctx context.Context, assignmentID string) (string, string, error) {
	a, err := d.intake.Assignment(ctx, assignmentID)
	return a.ClassID, a.Title, err
}

func personName(p lti.Person) string {
	if p.Name != "" {
		return p.Name
	}
	return strings.TrimSpace(p.GivenName + " " + p.FamilyName)
}

// ltiGrades queues an assignment's released grades for its LMS gradebook
// column: on every release (feedback.ReleaseListener), and when a teacher
// looks at or retries the column (which repeats what a crash between a
// release and its queueing cut short). Queueing is idempotent per grade.
type ltiGrades struct {
	tool     *lti.Tool
	feedback *feedback.Service
	log      *slog.Logger
}

// Released queues the grades and never fails the release: an assignment
// from no LMS is skipped, any other error logged.
func (g *ltiGrades) Released(ctx context.Context, assignmentID string) {
	if _, err := g.Queue(ctx, assignmentID); err != nil && !errs.Is(err, errs.NotFound) {
		g.log.Error("lti: queue released scores", "assignment", assignmentID, "err", err)
	}
}

// Queue queues every released grade of the assignment that its LMS has
// not been sent, and returns how many. It returns errs.NotFound when the
// assignment is not linked to an LMS gradebook.
func (g *ltiGrades) Queue(ctx context.Context, assignmentID string) (int, error) {
	if _, err := g.tool.Gradebook(ctx, assignmentID); err != nil {
		return 0, err
	}
	grades, err := g.feedback.ReleasedGrades(ctx, assignmentID)
	if err != nil {
		return 0, err
	}
	scores := make([]lti.StudentScore, len(grades))
	for i, gr := range grades {
		scores[i] = lti.StudentScore{
			StudentID: gr.StudentID, Version: gr.Key, Given: gr.Earned, Maximum: gr.Possible, GradedAt: gr.At,
			Comment: "Your feedback is in Margin: " + g.tool.URL("/student/submissions/"+url.PathEscape(gr.SubmissionID)),
		}
	}
	return g.tool.QueueScores(ctx, assignmentID, scores)
}
