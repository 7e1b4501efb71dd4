package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/feedback/anchor"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
)

// demodata is a copy of the sample class in testdata/class-a: its roster,
// rubric and submissions ZIP.
//
//go:embed demodata
var demodata embed.FS

// demoPassword is every demo account's password; the demo is for a
// laptop, never for a server with real users.
const demoPassword = "margin-demo-2026"

// errNotEmpty is loadDemo's refusal of a data directory that has users.
var errNotEmpty = errors.New("demo: the data directory already has users; the demo school loads only into an empty one (set MARGIN_DATA_DIR to a new directory)")

// demoLogin is one account the demo created, as printed.
type demoLogin struct{ Role, Name, Email string }

// demoSchool is what loadDemo created, for printing.
type demoSchool struct {
	Logins       []demoLogin
	StudentLinks map[string]string // student name -> path /s/<token>
	AssignmentID string
}

// demo is `margin demo`: it loads the demo school into an empty data
// directory and prints the logins, then exits.
func demo(ctx context.Context, cfg Config, logger *slog.Logger, stdout io.Writer) error {
	d, err := open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer d.close(context.WithoutCancel(ctx))
	school, err := loadDemo(ctx, d)
	if err != nil {
		return err
	}
	printDemo(stdout, "http://"+cfg.Addr, school)
	fmt.Fprintln(stdout, "Now run `margin serve` on the same data directory and open the address above.")
	return nil
}

// loadDemo creates, through the services' own APIs, a school with a
// teacher, an admin and three vetted graders; the sample class with its
// roster; a published assignment with the sample submissions; two of them
// graded by a grader, approved and released; a third graded and submitted,
// awaiting the teacher's review; and a fourth read twice (the assignment's
// blind second read, by another grader) with levels far enough apart to be
// flagged for the teacher to adjudicate. It returns errNotEmpty for a data
// directory that already has users.
func loadDemo(ctx context.Context, d *deps) (demoSchool, error) {
	n, err := d.store.DB.Collection("users").EstimatedDocumentCount(ctx)
	if err != nil {
		return demoSchool{}, err
	}
	if n > 0 {
		return demoSchool{}, errNotEmpty
	}
	var out demoSchool
	login := func(u account.User) { out.Logins = append(out.Logins, demoLogin{string(u.Role), u.Name, u.Email}) }

	teacher, err := d.accounts.SignUp(ctx, account.SignUp{Email: "rivera@lincoln.example.org", Password: demoPassword, Name: "Ms Rivera", Role: account.Teacher, School: "Lincoln High (demo)"})
	if err != nil {
		return out, fmt.Errorf("demo teacher: %w", err)
	}
	login(teacher)
	admin, err := d.accounts.Create(ctx, "admin@margin.example.com", demoPassword, "Ada Admin", account.Admin, "")
	if err != nil {
		return out, fmt.Errorf("demo admin: %w", err)
	}
	login(admin)
	var graders []account.User
	for _, g := range []struct{ email, name string }{
		{"ana@tutors.example.net", "Ana Okoye"}, {"ben@graders.example.com", "Ben Larsen"}, {"cho@readers.example.net", "Cho Park"},
	} {
		u, err := demoGrader(ctx, d, admin, g.email, g.name)
		if err != nil {
			return out, err
		}
		graders = append(graders, u)
		login(u)
	}

	a, students, err := demoAssignment(ctx, d, teacher)
	if err != nil {
		return out, err
	}
	out.AssignmentID = a.ID
	grader, err := demoAccept(ctx, d, teacher, a.ID, graders, matching.First)
	if err != nil {
		return out, err
	}
	// Accepting the first read opened the blind second-read batch; a second
	// round offers it to another grader.
	reader2, err := demoAccept(ctx, d, teacher, a.ID, graders, matching.Second)
	if err != nil {
		return out, err
	}
	seconds, err := d.feedback.Tasks(ctx, reader2)
	if err != nil {
		return out, err
	}
	if len(seconds) == 0 {
		return out, errors.New("demo: the second reader has no task")
	}
	disputed := seconds[0]
	tasks, err := d.feedback.Tasks(ctx, grader)
	if err != nil {
		return out, err
	}
	// In roster order, so the demo is the same every time (task IDs are
	// opaque, and sort in no particular order).
	studentOf := map[string]string{}
	for _, t := range tasks {
		sub, err := d.intake.Submission(ctx, t.SubmissionID)
		if err != nil {
			return out, err
		}
		studentOf[t.ID] = sub.StudentID
	}
	slices.SortStableFunc(tasks, func(x, y feedback.GraderTask) int { return strings.Compare(studentOf[x.ID], studentOf[y.ID]) })
	// Of the other first reads, two are approved (and released below) and a
	// third is left submitted, for the teacher to approve, edit or return.
	graded := 0
	for _, t := range tasks {
		if t.Reader != matching.First || t.VersionID == disputed.VersionID || graded == 3 {
			continue
		}
		f, err := demoGrade(ctx, d, grader, t.ID, demoLevel)
		if err != nil {
			return out, err
		}
		if graded++; graded == 3 {
			continue
		}
		if _, err := d.feedback.Approve(ctx, teacher, f.ID); err != nil {
			return out, fmt.Errorf("demo approve: %w", err)
		}
	}
	// The two reads of the disputed version are two levels apart on the
	// first two criteria, so submitting the second flags both for
	// adjudication.
	if _, err := demoGrade(ctx, d, grader, feedback.TaskID(disputed.VersionID, feedback.First), demoLevel); err != nil {
		return out, err
	}
	apart := func(i, n int) int {
		if i < 2 {
			return (demoLevel(i, n) + 2) % n
		}
		return demoLevel(i, n)
	}
	if _, err := demoGrade(ctx, d, reader2, disputed.ID, apart); err != nil {
		return out, err
	}
	if _, err := d.feedback.Release(ctx, teacher, a.ID, ""); err != nil {
		return out, fmt.Errorf("demo release: %w", err)
	}
	out.StudentLinks = map[string]string{}
	for _, st := range students {
		tok, _, err := d.intake.RotateAccessLink(ctx, teacher, st.ClassID, st.StudentID)
		if err != nil {
			return out, err
		}
		out.StudentLinks[st.Name()] = "/s/" + tok
	}
	return out, nil
}

func demoGrader(ctx context.Context, d *deps, admin account.User, email, name string) (account.User, error) {
	u, err := d.accounts.SignUp(ctx, account.SignUp{Email: email, Password: demoPassword, Name: name, Role: account.Grader})
	if err != nil {
		return u, fmt.Errorf("demo grader %s: %w", email, err)
	}
	_, err = d.matching.SaveProfile(ctx, u, matching.ProfileInput{
		Subjects: []string{"english", "history"}, GradeBands: []matching.GradeBand{{Min: 6, Max: 12}}, Capacity: 40,
		Days: []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"},
		Bio:  "Former secondary English teacher (demo account).",
	})
	if err != nil {
		return u, fmt.Errorf("demo grader profile: %w", err)
	}
	if _, err := d.matching.Vet(ctx, admin, u.ID, matching.Approved); err != nil {
		return u, fmt.Errorf("demo vetting: %w", err)
	}
	return u, nil
}

// demoAssignment creates the class, imports the roster, and publishes the
// assignment with the sample submissions.
func demoAssignment(ctx context.Context, d *deps, teacher account.User) (intake.Assignment, []intake.Student, error) {
	grade := 10
	cl, err := d.intake.CreateClass(ctx, teacher, intake.ClassInput{Name: "English 10, period 2", Subject: "english", GradeLevel: &grade})
	if err != nil {
		return intake.Assignment{}, nil, fmt.Errorf("demo class: %w", err)
	}
	roster, _ := demodata.ReadFile("demodata/roster.csv")
	res, err := d.intake.ImportRoster(ctx, teacher, cl.ID, bytes.NewReader(roster))
	if err != nil {
		return intake.Assignment{}, nil, fmt.Errorf("demo roster: %w", err)
	}
	var rubric intake.Rubric
	raw, _ := demodata.ReadFile("demodata/rubric.json")
	if err := json.Unmarshal(raw, &rubric); err != nil {
		return intake.Assignment{}, nil, err
	}
	price, share := int64(800), 0.2 // one of the five submissions is read twice
	a, err := d.intake.CreateAssignment(ctx, teacher, intake.AssignmentInput{
		ClassID: cl.ID, Title: "Research essay: personalized learning", Prompt: "Write a research essay on personalized learning in schools.",
		Rubric: &rubric, DueAt: time.Now().Add(14 * 24 * time.Hour).UTC(), PriceCents: &price, AllowResubmission: true,
		SecondReadShare: &share,
	})
	if err != nil {
		return a, nil, fmt.Errorf("demo assignment: %w", err)
	}
	b, err := d.intake.StartUpload(ctx, teacher, a.ID, "")
	if err != nil {
		return a, nil, err
	}
	zip, _ := demodata.ReadFile("demodata/class-a-submissions.zip")
	if err := b.Add(ctx, "class-a-submissions.zip", "", bytes.NewReader(zip), int64(len(zip))); err != nil {
		return a, nil, fmt.Errorf("demo upload: %w", err)
	}
	if _, err := b.Finish(ctx, ""); err != nil {
		return a, nil, fmt.Errorf("demo upload: %w", err)
	}
	if a, err = d.intake.Publish(ctx, teacher, a.ID); err != nil {
		return a, nil, fmt.Errorf("demo publish: %w", err)
	}
	return a, res.Students, nil
}

// demoAccept runs a matching round for the assignment and accepts, as the
// grader it was offered to, the offer of its reader's batch; it returns that
// grader.
func demoAccept(ctx context.Context, d *deps, teacher account.User, assignmentID string, graders []account.User, reader matching.Reader) (account.User, error) {
	m, err := d.matching.RunRoundFor(ctx, teacher, assignmentID)
	if err != nil {
		return account.User{}, fmt.Errorf("demo matching: %w", err)
	}
	for _, g := range graders {
		offers, err := d.matching.GraderOffers(ctx, g, true)
		if err != nil {
			return g, err
		}
		for _, o := range offers {
			if o.AssignmentID == assignmentID && o.Reader == reader {
				if _, err := d.matching.Accept(ctx, g, o.ID); err != nil {
					return g, fmt.Errorf("demo accept: %w", err)
				}
				return g, nil
			}
		}
	}
	var why []string
	for _, u := range m.Unmatched {
		why = append(why, u.Reason)
	}
	return account.User{}, fmt.Errorf("demo: the matching round offered the %s read to no grader: %s", reader, strings.Join(why, "; "))
}

// demoLevel is the level (an index into a scale of n levels) the demo's
// graders give criterion i.
func demoLevel(i, n int) int { return (i + 1) % n }

// demoGrade writes complete feedback (demoContent) on a task as its grader
// and submits it.
func demoGrade(ctx context.Context, d *deps, grader account.User, taskID string, level func(i, n int) int) (feedback.Feedback, error) {
	w, err := d.feedback.Open(ctx, grader, taskID)
	if err != nil {
		return feedback.Feedback{}, fmt.Errorf("demo grading: %w", err)
	}
	f, err := d.feedback.Save(ctx, grader, taskID, w.Feedback.Rev, demoContent(w, level))
	if err != nil {
		return f, fmt.Errorf("demo save: %w", err)
	}
	if f, err = d.feedback.Submit(ctx, grader, taskID, f.Rev); err != nil {
		return f, fmt.Errorf("demo submit: %w", err)
	}
	return f, nil
}

// demoContent is complete feedback for the workspace w: a level per
// criterion (level(i, n) is criterion i's index into the scale of n levels)
// with a comment, a quoted strength and growth, and a note per focus point.
func demoContent(w feedback.Workspace, level func(i, n int) int) feedback.Content {
	r := w.Assignment.Rubric
	c := feedback.Content{Levels: map[string]string{}, Comments: map[string]string{}}
	for i, cr := range r.Criteria {
		c.Levels[cr.Key] = r.Scale[level(i, len(r.Scale))].Key
		c.Comments[cr.Key] = "Clear work on " + strings.ToLower(cr.Title) + "; see the quoted passages for where to push further."
	}
	first, second := demoPassages(w.Text)
	crit := r.Criteria[0].Key
	c.Quotes = []feedback.Quote{
		{Target: demoTarget(w.Text, first), Criterion: crit, Kind: feedback.Strength, Comment: "A strong, specific opening that sets up your argument well."},
		{Target: demoTarget(w.Text, second), Criterion: r.Criteria[len(r.Criteria)-1].Key, Kind: feedback.Growth, Comment: "Support this claim with a cited source to make it convincing."},
	}
	for i := range w.Assignment.FocusPoints {
		c.FocusNotes = append(c.FocusNotes, feedback.FocusNote{Index: i, Note: "Addressed in part; the conclusion could answer this directly."})
	}
	return c
}

// demoPassages picks two sentences of text to quote: the first with some
// length, and one from the middle, as code-point ranges.
func demoPassages(text string) ([2]int, [2]int) {
	runes := []rune(text)
	var spans [][2]int
	start := 0
	for i, r := range runes {
		if r == '.' || r == '\n' {
			s, e := trimSpan(runes, start, i+1)
			if e-s >= 40 && e-s <= 400 {
				spans = append(spans, [2]int{s, e})
			}
			start = i + 1
		}
	}
	if len(spans) < 2 {
		half := len(runes) / 2
		return [2]int{0, min(40, half)}, [2]int{half, min(half+40, len(runes))}
	}
	return spans[0], spans[len(spans)/2]
}

func trimSpan(runes []rune, s, e int) (int, int) {
	for s < e && (runes[s] == ' ' || runes[s] == '\n' || runes[s] == '\t' || runes[s] == '\r') {
		s++
	}
	for e > s && (runes[e-1] == ' ' || runes[e-1] == '\n' || runes[e-1] == '\t' || runes[e-1] == '\r') {
		e--
	}
	return s, e
}

func demoTarget(text string, span [2]int) anchor.Target {
	runes := []rune(text)
	prefix, suffix := anchor.Context(text, span[0], span[1], 32)
	return anchor.Target{
		Quote:    anchor.TextQuoteSelector{Exact: string(runes[span[0]:span[1]]), Prefix: prefix, Suffix: suffix},
		Position: anchor.TextPositionSelector{Start: span[0], End: span[1]},
	}
}

// printDemo prints where to go and who to sign in as.
func printDemo(w io.Writer, base string, s demoSchool) {
	if host, port, err := net.SplitHostPort(strings.TrimPrefix(base, "http://")); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		base = "http://localhost:" + port
	}
	fmt.Fprintf(w, "\nThe demo school is loaded. Open %s/signin and sign in as (password %q for everyone):\n", base, demoPassword)
	for _, l := range s.Logins {
		fmt.Fprintf(w, "  %-8s %-12s %s\n", l.Role, l.Name, l.Email)
	}
	fmt.Fprintln(w, "Students open their access links (no password):")
	names := slices.Sorted(maps.Keys(s.StudentLinks))
	for _, name := range names {
		fmt.Fprintf(w, "  %-18s %s%s\n", name, base, s.StudentLinks[name])
	}
	fmt.Fprintf(w, "The assignment with released feedback: %s/teacher/assignments/%s\n", base, s.AssignmentID)
	fmt.Fprintln(w, "On its page, one submitted feedback awaits review and one submission's two reads disagree (Adjudicate).")
	fmt.Fprintln(w)
}
