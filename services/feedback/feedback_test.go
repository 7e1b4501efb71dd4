package feedback

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
)

const long = "This is a comment that is long enough to count."

// complete returns content that passes checkComplete for the fixture's
// rubric, with the given levels (criterion key → level key; missing ones
// are "proficient") and four quotes into the grader text.
func (f *fixture) complete(t *testing.T, graderText string, levels map[string]string) Content {
	t.Helper()
	return f.completeWith(t, graderText, levels)
}

func (f *fixture) completeWith(t testing.TB, graderText string, levels map[string]string) Content {
	c := emptyContent()
	for _, cr := range f.asg.Rubric.Criteria {
		c.Levels[cr.Key] = "proficient"
		if lv, ok := levels[cr.Key]; ok {
			c.Levels[cr.Key] = lv
		}
		c.Comments[cr.Key] = long
	}
	// A selection across what was a line break in the PDF: the browser
	// sends the newline the student's file had.
	q1 := quote(t, graderText, "individualized journey", 0)
	q1.Quote.Exact = "individualized\njourney"
	// Straight quotes typed for the student's curly ones, offsets off by 3.
	q2 := quote(t, graderText, "a “learning plan” based", 0)
	q2.Quote.Exact = `a "learning plan" based`
	q2.Position.Start += 3
	q2.Position.End += 3
	// The second "need support": only the context says which one.
	q3 := quote(t, graderText, "need support", 1)
	q3.Position.Start, q3.Position.End = 0, 0
	q4 := quote(t, graderText, "assessed when they are ready", 0)
	c.Quotes = []Quote{
		{Target: q1, Criterion: "thesis", Kind: Strength, Comment: long},
		{Target: q2, Criterion: "evidence", Kind: Strength, Comment: long},
		{Target: q3, Criterion: "organization", Kind: Growth, Comment: long},
		{Target: q4, Criterion: "analysis", Kind: Growth, Comment: long},
	}
	c.Glows = []Point{{Criterion: "thesis", Text: long}}
	c.Grows = []Point{{Criterion: "evidence", Text: long}}
	for i := range f.asg.FocusPoints {
		c.FocusNotes = append(c.FocusNotes, FocusNote{Index: i, Note: long})
	}
	return c
}

func wantCode(t *testing.T, err error, code errs.Code) {
	t.Helper()
	if !errs.Is(err, code) {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func TestGradeReviewReleaseRate(t *testing.T) {
	f := newFixture(t)
	s := f.svc
	id := f.task(t, "1004", 1, matching.First, f.grader)

	// Only the task's grader may open it.
	_, err := s.Open(ctx, f.grader2, id)
	wantCode(t, err, errs.NotFound)
	w, err := s.Open(ctx, f.grader, id)
	must(t, err)
	if strings.Contains(w.Text, "Priya") || !strings.Contains(w.Text, f.sub.Pseudonym) {
		t.Fatalf("the grader sees the student's name: %q", w.Text)
	}
	if w.Feedback.State != Draft || w.Feedback.Rev != 1 || len(w.Assignment.Rubric.Criteria) != 5 {
		t.Fatalf("workspace: %+v", w.Feedback)
	}

	// A save of an incomplete draft works; submitting it lists every gap.
	c := f.complete(t, w.Text, nil)
	partial := c
	partial.Levels = map[string]string{"thesis": "advanced"}
	partial.Quotes = c.Quotes[:1]
	fb, err := s.Save(ctx, f.grader, id, 1, partial)
	must(t, err)
	_, err = s.Submit(ctx, f.grader, id, fb.Rev)
	var l errs.List
	if el, ok := err.(errs.List); ok {
		l = el
	}
	if len(l) != 6 { // four criteria without a level, too few quotes, no growth quote
		t.Fatalf("submit incomplete: %v (%d errors)", err, len(l))
	}
	for _, e := range l {
		if e.Code != errs.Unprocessable || !strings.HasSuffix(e.Message, ".") {
			t.Errorf("error %+v", e)
		}
	}

	// A stale save is refused.
	_, err = s.Save(ctx, f.grader, id, 1, c)
	wantCode(t, err, errs.VersionConflict)

	fb, err = s.Save(ctx, f.grader, id, fb.Rev, c)
	must(t, err)
	wantQuotes := []string{"individualized journey", "a “learning plan” based", "need support", "assessed when they are ready"}
	for i, q := range fb.Quotes {
		if q.Target.Quote.Exact != wantQuotes[i] || q.ID == "" {
			t.Errorf("quote %d stored as %q (id %q), want %q", i, q.Target.Quote.Exact, q.ID, wantQuotes[i])
		}
	}
	if got := fb.Quotes[2].Target.Quote.Suffix; got != "." || !strings.HasSuffix(fb.Quotes[2].Target.Quote.Prefix, "Schools ") {
		t.Errorf("the repeated phrase anchored to the wrong occurrence: prefix %q suffix %q", fb.Quotes[2].Target.Quote.Prefix, got)
	}
	fb, err = s.Submit(ctx, f.grader, id, fb.Rev)
	must(t, err)
	if fb.State != Submitted {
		t.Fatalf("state %s", fb.State)
	}
	tk, err := s.matching.Task(ctx, id)
	must(t, err)
	if tk.State != matching.TaskSubmitted {
		t.Fatalf("task state %s", tk.State)
	}
	_, err = s.Save(ctx, f.grader, id, fb.Rev, c)
	wantCode(t, err, errs.Conflict)

	// The teacher sees the quotes highlighted in the original text; another
	// school's teacher sees nothing.
	_, err = s.Review(ctx, f.other, id)
	wantCode(t, err, errs.NotFound)
	rv, err := s.Review(ctx, f.teacher, id)
	must(t, err)
	if rv.StudentName != "Priya Natarajan" || rv.GraderName != "Gita" {
		t.Errorf("names: %q %q", rv.StudentName, rv.GraderName)
	}
	for _, h := range rv.Highlights {
		if !h.Anchored || string([]rune(rv.Text)[h.Start:h.End]) != h.Exact {
			t.Errorf("highlight %+v not anchored in the original", h)
		}
	}

	// Return once, then the grader fixes it and resubmits; then approve.
	_, err = s.Return(ctx, f.teacher, id, "")
	wantCode(t, err, errs.Invalid)
	fb, err = s.Return(ctx, f.teacher, id, "Say more about the evidence.")
	must(t, err)
	if fb.State != Returned {
		t.Fatalf("state %s", fb.State)
	}
	tasks, err := s.Tasks(ctx, f.grader)
	must(t, err)
	// The grader holds the batch: both students' first reads.
	i := slices.IndexFunc(tasks, func(x GraderTask) bool { return x.ID == id })
	if len(tasks) != 2 || i < 0 || tasks[i].ReturnNote != "Say more about the evidence." || tasks[i].FeedbackState != Returned {
		t.Fatalf("grader's tasks: %+v", tasks)
	}
	c.Comments["evidence"] = long + " More on the evidence."
	fb, err = s.Save(ctx, f.grader, id, fb.Rev, c)
	must(t, err)
	_, err = s.Submit(ctx, f.grader, id, fb.Rev)
	must(t, err)

	// Nothing is visible to the student before release.
	_, err = s.ForSubmission(ctx, f.student, f.sub.ID)
	wantCode(t, err, errs.NotFound)

	_, err = s.Approve(ctx, f.other, id)
	wantCode(t, err, errs.NotFound)
	fb, err = s.Approve(ctx, f.teacher, id)
	must(t, err)
	if fb.State != Approved {
		t.Fatalf("state %s", fb.State)
	}
	_, err = s.Approve(ctx, f.teacher, id) // a retry completes nothing twice
	must(t, err)
	evs, err := s.PayableEvents(ctx, "", 10)
	must(t, err)
	if len(evs) != 1 || evs[0].ID != intake.VersionID(f.sub.ID, 1)+":"+f.grader.ID || evs[0].PriceCents != 450 || evs[0].Reader != First {
		t.Fatalf("payable events: %+v", evs)
	}
	actions := []string{}
	for _, h := range fb.History {
		actions = append(actions, h.Action)
	}
	if got := strings.Join(actions, ","); got != "submit,return,submit,approve" {
		t.Errorf("history %s", got)
	}

	// Analytics reads approved feedback's rows, with their digests.
	rows, err := s.Rows(ctx, f.asg.ID)
	must(t, err)
	if len(rows) != 1 || rows[0].Levels["thesis"] != "proficient" || rows[0].Digest == nil || len(rows[0].Digest.Quotes) != 4 || len(rows[0].Digest.Comments) != 5 {
		t.Fatalf("rows: %+v", rows)
	}

	// Release this student; the other is pending.
	res, err := s.Release(ctx, f.teacher, f.asg.ID, "")
	must(t, err)
	if len(res.Released) != 1 || len(res.Pending) != 1 || res.Pending[0] != "1005" {
		t.Fatalf("release: %+v", res)
	}
	a, err := s.intake.Assignment(ctx, f.asg.ID)
	must(t, err)
	if a.State != intake.InGrading {
		t.Errorf("with a student pending, the assignment is %s", a.State)
	}

	// The student reads it; another student cannot, nor the same student ID
	// enrolled in another class of the school (another teacher's roster).
	_, err = s.ForSubmission(ctx, f.student2, f.sub.ID)
	wantCode(t, err, errs.NotFound)
	elsewhere, err := f.accts.EnsureStudent(ctx, f.student.SchoolID, "cls_other", "1004", "Priya Natarajan")
	must(t, err)
	_, err = s.ForSubmission(ctx, elsewhere, f.sub.ID)
	wantCode(t, err, errs.NotFound)
	sf, err := s.ForSubmission(ctx, f.student, f.sub.ID)
	must(t, err)
	v := sf.Versions[0]
	if len(v.Highlights) != 4 || len(v.Criteria) != 5 || v.Criteria[0].Descriptor == "" || v.GraderName != "Gita" || len(v.Changes) != 0 {
		t.Fatalf("student view: %+v", v)
	}
	_, err = s.Rate(ctx, f.student, v.FeedbackID, v.Highlights[0].CommentID, 6)
	wantCode(t, err, errs.Invalid)
	_, err = s.Rate(ctx, f.student2, v.FeedbackID, v.Highlights[0].CommentID, 5)
	wantCode(t, err, errs.NotFound)
	_, err = s.Reflect(ctx, elsewhere, v.FeedbackID, "question", "Whose feedback is this?")
	wantCode(t, err, errs.NotFound)
	_, err = s.Rate(ctx, f.student, v.FeedbackID, v.Highlights[0].CommentID, 3)
	must(t, err)
	fb, err = s.Rate(ctx, f.student, v.FeedbackID, v.Highlights[0].CommentID, 5)
	must(t, err)
	if len(fb.Ratings) != 1 || fb.Ratings[0].Stars != 5 {
		t.Fatalf("ratings %+v", fb.Ratings)
	}
	fb, err = s.Reflect(ctx, f.student, v.FeedbackID, "question", "What counts as a citation?")
	must(t, err)
	if len(fb.Reflections) != 1 {
		t.Fatalf("reflections %+v", fb.Reflections)
	}
	_, err = s.Reflect(ctx, f.student, v.FeedbackID, "reflection", "I will cite more.")
	must(t, err)
	// The teacher's badge counts the question, not the reflection.
	if q, err := s.Questions(ctx, f.teacher, f.asg.ClassID); err != nil || q[f.asg.ID] != 1 || len(q) != 1 {
		t.Fatalf("questions in the class: %v, %v; want 1 on the assignment", q, err)
	}
	_, err = s.Questions(ctx, f.other, f.asg.ClassID)
	wantCode(t, err, errs.NotFound)

	// The teacher edits released feedback: history keeps the approved content.
	rev := fb.Rev
	c2 := fb.Content
	c2.Comments["thesis"] = long + " Edited by the teacher."
	fb, err = s.Edit(ctx, f.teacher, id, rev, c2, "Clarified")
	must(t, err)
	if fb.State != Released || fb.History[len(fb.History)-1].Action != "edit" || fb.History[3].Content.Comments["thesis"] != long {
		t.Fatalf("edit: %+v", fb.History)
	}
}

func TestReleaseAllAdvancesAssignment(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.SetSettings(ctx, f.other, f.asg.ID, Settings{})
	wantCode(t, err, errs.NotFound)
	_, err = f.svc.SetSettings(ctx, f.teacher, f.asg.ID, Settings{MinQuotes: -1})
	wantCode(t, err, errs.Invalid)
	_, err = f.svc.SetSettings(ctx, f.teacher, f.asg.ID, Settings{MinQuotes: 0, MinCommentChars: 5})
	must(t, err)
	for _, st := range []string{"1004", "1005"} {
		id := f.task(t, st, 1, matching.First, f.grader)
		w, err := f.svc.Open(ctx, f.grader, id)
		must(t, err)
		c := f.complete(t, essay, nil)
		c.Quotes = nil // the teacher asks for none
		fb, err := f.svc.Save(ctx, f.grader, id, w.Feedback.Rev, c)
		must(t, err)
		_, err = f.svc.Submit(ctx, f.grader, id, fb.Rev)
		must(t, err)
		_, err = f.svc.Approve(ctx, f.teacher, id)
		must(t, err)
	}
	a, err := f.svc.intake.Assignment(ctx, f.asg.ID)
	must(t, err)
	if a.State != intake.Graded {
		t.Fatalf("with every submission approved, the assignment is %s", a.State)
	}
	res, err := f.svc.Release(ctx, f.teacher, f.asg.ID, "")
	must(t, err)
	a, err = f.svc.intake.Assignment(ctx, f.asg.ID)
	must(t, err)
	if len(res.Released) != 2 || len(res.Pending) != 0 || a.State != intake.Released {
		t.Fatalf("release all: %+v; assignment %s", res, a.State)
	}
}

func TestQuoteNotInText(t *testing.T) {
	f := newFixture(t)
	id := f.task(t, "1004", 1, matching.First, f.grader)
	w, err := f.svc.Open(ctx, f.grader, id)
	must(t, err)
	c := f.complete(t, w.Text, nil)
	c.Quotes[1].Target.Quote.Exact = "words the student never wrote"
	c.Quotes[2].Criterion = "spelling"
	_, err = f.svc.Save(ctx, f.grader, id, w.Feedback.Rev, c)
	l, ok := err.(errs.List)
	if !ok || len(l) != 2 || l[0].Field != "quotes[1].criterion" && l[0].Field != "quotes[1].target" {
		t.Fatalf("got %v", err)
	}
	fields := l[0].Field + " " + l[1].Field
	if !strings.Contains(fields, "quotes[1].target") || !strings.Contains(fields, "quotes[2].criterion") {
		t.Fatalf("fields %s", fields)
	}
}

func TestConcurrentSavesOneWins(t *testing.T) {
	f := newFixture(t)
	id := f.task(t, "1004", 1, matching.First, f.grader)
	w, err := f.svc.Open(ctx, f.grader, id)
	must(t, err)
	c := f.complete(t, w.Text, nil)
	const n = 8
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = f.svc.Save(ctx, f.grader, id, w.Feedback.Rev, c)
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range results {
		switch {
		case err == nil:
			wins++
		case !errs.Is(err, errs.VersionConflict):
			t.Errorf("unexpected error %v", err)
		}
	}
	got, err := f.svc.Get(ctx, id)
	must(t, err)
	if wins != 1 || got.Rev != w.Feedback.Rev+1 {
		t.Fatalf("%d saves won; rev %d", wins, got.Rev)
	}
}

// TestAdjudicateAndApprove: one action settles a disagreement and
// approves both reads (neither stays submitted, both graders are paid
// once), and repeating it after it completed changes nothing.
func TestAdjudicateAndApprove(t *testing.T) {
	f := newFixture(t)
	first := f.task(t, "1004", 1, matching.First, f.grader)
	second := f.task(t, "1004", 1, matching.Second, f.grader2)
	for _, x := range []struct {
		g      account.User
		id     string
		levels map[string]string
	}{{f.grader, first, map[string]string{"thesis": "advanced"}}, {f.grader2, second, map[string]string{"thesis": "emerging"}}} {
		w, err := f.svc.Open(ctx, x.g, x.id)
		must(t, err)
		fb, err := f.svc.Save(ctx, x.g, x.id, w.Feedback.Rev, f.complete(t, w.Text, x.levels))
		must(t, err)
		_, err = f.svc.Submit(ctx, x.g, x.id, fb.Rev)
		must(t, err)
	}
	_, err := f.svc.AdjudicateAndApprove(ctx, f.other, second, nil, "")
	wantCode(t, err, errs.NotFound) // another school's teacher
	_, err = f.svc.AdjudicateAndApprove(ctx, f.teacher, second, map[string]string{"thesis": "developing"}, "")
	wantCode(t, err, errs.Invalid) // every criterion needs a level
	levels := map[string]string{"thesis": "developing", "evidence": "proficient", "analysis": "proficient", "organization": "proficient", "conventions": "proficient"}
	for range 2 {
		fb, err := f.svc.AdjudicateAndApprove(ctx, f.teacher, second, levels, "Met in the middle.")
		must(t, err)
		if fb.ID != first || fb.State != Approved || fb.Levels["thesis"] != "developing" || fb.Adjudication == nil {
			t.Fatalf("first read after adjudicating and approving: %+v", fb)
		}
	}
	rows, err := f.svc.List(ctx, f.teacher, f.asg.ID)
	must(t, err)
	if len(rows) != 2 || rows[0].State != Approved || rows[1].State != Approved || rows[0].Flagged || rows[1].Flagged {
		t.Fatalf("rows after adjudicating and approving: %+v", rows)
	}
	// Agreement compares the graders' own reads, not the teacher's decision.
	if rows[0].Levels["thesis"] != "developing" || rows[0].ReadLevels["thesis"] != "advanced" || rows[1].ReadLevels != nil {
		t.Fatalf("the first read's row keeps %v as its grader's levels (levels %v), the second %v", rows[0].ReadLevels, rows[0].Levels, rows[1].ReadLevels)
	}
	if evs, err := f.svc.PayableEvents(ctx, "", 10); err != nil || len(evs) != 2 {
		t.Fatalf("payable events %d, %v; want one per read", len(evs), err)
	}
}

func TestConcurrentApprovalsPayOnce(t *testing.T) {
	f := newFixture(t)
	id := f.task(t, "1004", 1, matching.First, f.grader)
	w, err := f.svc.Open(ctx, f.grader, id)
	must(t, err)
	fb, err := f.svc.Save(ctx, f.grader, id, w.Feedback.Rev, f.complete(t, w.Text, nil))
	must(t, err)
	_, err = f.svc.Submit(ctx, f.grader, id, fb.Rev)
	must(t, err)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.svc.Approve(ctx, f.teacher, id); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	evs, err := f.svc.PayableEvents(ctx, "", 10)
	must(t, err)
	if len(evs) != 1 {
		t.Fatalf("%d payable events", len(evs))
	}
}

func TestSecondReadDisagreement(t *testing.T) {
	f := newFixture(t)
	first := f.task(t, "1004", 1, matching.First, f.grader)
	second := f.task(t, "1004", 1, matching.Second, f.grader2)
	submit := func(g account.User, id string, levels map[string]string) {
		w, err := f.svc.Open(ctx, g, id)
		must(t, err)
		fb, err := f.svc.Save(ctx, g, id, w.Feedback.Rev, f.complete(t, w.Text, levels))
		must(t, err)
		_, err = f.svc.Submit(ctx, g, id, fb.Rev)
		must(t, err)
	}
	submit(f.grader, first, map[string]string{"thesis": "advanced"})
	submit(f.grader2, second, map[string]string{"thesis": "emerging", "evidence": "developing"})

	rows, err := f.svc.List(ctx, f.teacher, f.asg.ID)
	must(t, err)
	if len(rows) != 2 || !rows[0].Flagged || !rows[1].Flagged {
		t.Fatalf("rows %+v", rows)
	}
	_, err = f.svc.Approve(ctx, f.teacher, first)
	wantCode(t, err, errs.Conflict)
	rv, err := f.svc.Review(ctx, f.teacher, first)
	must(t, err)
	if rv.Other == nil || rv.Other.ID != second || strings.Join(rv.Feedback.Disagreement.Criteria, ",") != "thesis" {
		t.Fatalf("review of a disagreement: %+v", rv.Feedback.Disagreement)
	}
	_, err = f.svc.Adjudicate(ctx, f.teacher, first, map[string]string{"thesis": "developing"}, "")
	wantCode(t, err, errs.Invalid) // every criterion needs a level
	levels := map[string]string{"thesis": "developing", "evidence": "proficient", "analysis": "proficient", "organization": "proficient", "conventions": "proficient"}
	fb, err := f.svc.Adjudicate(ctx, f.teacher, second, levels, "Met in the middle.")
	must(t, err)
	if fb.ID != first || fb.Levels["thesis"] != "developing" || !fb.Disagreement.Resolved {
		t.Fatalf("adjudicated %+v", fb)
	}
	for _, id := range []string{first, second} {
		_, err = f.svc.Approve(ctx, f.teacher, id)
		must(t, err)
	}
	evs, err := f.svc.PayableEvents(ctx, "", 10)
	must(t, err)
	if len(evs) != 2 {
		t.Fatalf("payable events %+v", evs)
	}
	page, err := f.svc.PayableEvents(ctx, evs[0].ID, 10)
	must(t, err)
	if len(page) != 1 || page[0].ID != evs[1].ID {
		t.Fatalf("second page %+v", page)
	}
}

func TestRevisionShowsChange(t *testing.T) {
	f := newFixture(t)
	grade := func(n int, levels map[string]string) string {
		id := f.task(t, "1004", n, matching.First, f.grader)
		w, err := f.svc.Open(ctx, f.grader, id)
		must(t, err)
		// The grader of a revision reads the feedback on the version before.
		switch {
		case n == 1 && w.Previous != nil:
			t.Fatalf("a first version has previous feedback: %+v", w.Previous)
		case n == 2 && (w.Previous == nil || w.Previous.Version != 1 || w.Previous.Content.Levels["evidence"] != "emerging" || len(w.Previous.Content.Quotes) == 0):
			t.Fatalf("the revision's workspace shows as previous feedback %+v", w.Previous)
		}
		fb, err := f.svc.Save(ctx, f.grader, id, w.Feedback.Rev, f.complete(t, w.Text, levels))
		must(t, err)
		_, err = f.svc.Submit(ctx, f.grader, id, fb.Rev)
		must(t, err)
		_, err = f.svc.Approve(ctx, f.teacher, id)
		must(t, err)
		_, err = f.svc.Release(ctx, f.teacher, f.asg.ID, "1004")
		must(t, err)
		return id
	}
	grade(1, map[string]string{"thesis": "developing", "evidence": "emerging"})
	f.addVersion(t, "1004", 2, essay+" I added citations (Morin, 2017).")
	grade(2, map[string]string{"thesis": "proficient", "evidence": "proficient"})

	sf, err := f.svc.ForSubmission(ctx, f.student, f.sub.ID)
	must(t, err)
	if len(sf.Versions) != 2 || sf.Versions[0].Version != 2 {
		t.Fatalf("versions %+v", sf.Versions)
	}
	got := map[string]int{}
	for _, c := range sf.Versions[0].Changes {
		got[c.Criterion] = c.Steps
	}
	if got["thesis"] != 1 || got["evidence"] != 2 || got["analysis"] != 0 || len(got) != 5 {
		t.Fatalf("changes %+v", sf.Versions[0].Changes)
	}
	rec, err := f.svc.Student(ctx, f.asg.ClassID, "1004")
	must(t, err)
	if len(rec.Work) != 2 {
		t.Fatalf("student record: %+v", rec)
	}
	home, err := f.svc.StudentReleased(ctx, f.asg.ClassID, "1004")
	must(t, err)
	if len(home) != 1 || !home[0].Released || home[0].Version != 2 || home[0].Levels["thesis"] != "proficient" || home[0].SubmissionID != f.sub.ID {
		t.Fatalf("the student's home: %+v", home)
	}
	if other, err := f.svc.StudentReleased(ctx, "cls_other", "1004"); err != nil || len(other) != 0 {
		t.Fatalf("the same student ID in another class: %+v %v", other, err)
	}
}

func TestCommentBank(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.SaveToBank(ctx, f.grader, BankEntry{Text: "  "})
	wantCode(t, err, errs.Invalid)
	e, err := f.svc.SaveToBank(ctx, f.grader, BankEntry{Text: "Cite the source of this figure.", Criterion: "evidence", Kind: Growth})
	must(t, err)
	mine, err := f.svc.Bank(ctx, f.grader)
	must(t, err)
	theirs, err := f.svc.Bank(ctx, f.grader2)
	must(t, err)
	if len(mine) != 1 || mine[0].ID != e.ID || len(theirs) != 0 {
		t.Fatalf("banks %+v %+v", mine, theirs)
	}
	wantCode(t, f.svc.DeleteFromBank(ctx, f.grader2, e.ID), errs.NotFound)
	must(t, f.svc.DeleteFromBank(ctx, f.grader, e.ID))
	mine, err = f.svc.Bank(ctx, f.grader)
	must(t, err)
	if len(mine) != 0 {
		t.Fatalf("after delete %+v", mine)
	}
}

func TestActionsOf(t *testing.T) {
	open, settled := &Disagreement{}, &Disagreement{Resolved: true}
	for _, tc := range []struct {
		f    Feedback
		want Actions
	}{
		{Feedback{State: Draft}, Actions{}},
		{Feedback{State: Returned}, Actions{}},
		{Feedback{State: Submitted}, Actions{Edit: true, Return: true, Approve: true}},
		{Feedback{State: Submitted, Disagreement: open}, Actions{Edit: true, Return: true, Adjudicate: true}},
		{Feedback{State: Submitted, Disagreement: settled}, Actions{Edit: true, Return: true, Approve: true}},
		{Feedback{State: Approved}, Actions{Edit: true}},
		{Feedback{State: Released}, Actions{Edit: true}},
	} {
		if got := ActionsOf(tc.f); got != tc.want {
			t.Errorf("%s (disagreement %+v): %+v, want %+v", tc.f.State, tc.f.Disagreement, got, tc.want)
		}
	}
}

func TestGraderContent(t *testing.T) {
	by := func(role, comment string) Edit {
		return Edit{Role: role, Action: "x", Content: &Content{Comments: map[string]string{"thesis": comment}}}
	}
	for _, tc := range []struct {
		name    string
		history []Edit
		want    string
	}{
		{"submitted and approved", []Edit{by("grader", "mine"), by("teacher", "mine")}, "mine"},
		{"edited by the teacher", []Edit{by("grader", "mine"), by("teacher", "Dear Ann Lee, …")}, "mine"},
		{"returned and submitted again", []Edit{by("grader", "first"), {Role: "teacher", Action: "return"}, by("grader", "second"), by("teacher", "second")}, "second"},
		{"adjudicated only", []Edit{by("teacher", "the teacher's")}, ""},
		{"no history", nil, ""},
	} {
		f := Feedback{History: tc.history, Content: Content{Comments: map[string]string{"thesis": "current"}}}
		if got := f.graderContent().Comments["thesis"]; got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
