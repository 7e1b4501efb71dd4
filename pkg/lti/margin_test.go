package lti

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/lti/ltitest"
)

// directory is the Directory the wiring will implement over accounts and
// intake, kept in memory: it records what LTI asked of Margin.
type directory struct {
	mu          sync.Mutex
	classes     map[string]string // course key → class ID
	titles      map[string]string // class ID → title
	teachers    map[string]string // issuer+sub → user ID
	students    map[string]Person // class ID/student ID → person
	left        map[string]bool   // class ID/student ID
	assignments map[string]string // assignment ID → class ID
}

func newDirectory() *directory {
	return &directory{classes: map[string]string{}, titles: map[string]string{}, teachers: map[string]string{},
		students: map[string]Person{}, left: map[string]bool{}, assignments: map[string]string{}}
}

func (d *directory) EnsureClass(_ context.Context, c Course) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id, ok := d.classes[c.Key]
	if !ok {
		id = fmt.Sprintf("class-%d", len(d.classes)+1)
		d.classes[c.Key] = id
	}
	d.titles[id] = c.Title
	return id, nil
}

func (d *directory) EnsureTeacher(_ context.Context, classID string, p Person) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := p.Issuer + " " + p.Subject
	if _, ok := d.teachers[k]; !ok {
		d.teachers[k] = fmt.Sprintf("teacher-%d", len(d.teachers)+1)
	}
	return d.teachers[k], nil
}

func (d *directory) EnsureStudent(_ context.Context, classID string, p Person) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.students[classID+"/"+p.StudentID] = p
	delete(d.left, classID+"/"+p.StudentID)
	return "student:" + classID + "/" + p.StudentID, nil
}

func (d *directory) MarkStudentLeft(_ context.Context, classID, studentID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.students[classID+"/"+studentID]; !ok {
		return errs.E(errs.NotFound, "no student %s", studentID)
	}
	d.left[classID+"/"+studentID] = true
	return nil
}

func (d *directory) AssignmentClass(_ context.Context, id string) (string, string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.assignments[id]
	if !ok {
		return "", "", errs.E(errs.NotFound, "no assignment %s", id)
	}
	return c, "Assignment " + id, nil
}

func TestEnterAndSyncRoster(t *testing.T) {
	e := newEnv(t)
	dir := newDirectory()
	enter := func(userID string) Entry {
		t.Helper()
		l, err := e.launch("link-a", userID)
		if err != nil {
			t.Fatal(err)
		}
		en, err := e.tool.Enter(e.ctx, l, dir)
		if err != nil {
			t.Fatalf("Enter(%s): %v", userID, err)
		}
		return en
	}
	te := enter(teacher.ID)
	if te.Role != RoleTeacher || te.ClassID != "class-1" || te.UserID != "teacher-1" || !te.SyncDue || dir.titles["class-1"] != "English 10" {
		t.Fatalf("teacher entry = %+v", te)
	}
	// A learner enters with no access link, under their SIS ID.
	se := enter(student1.ID)
	if se.Role != RoleStudent || se.ClassID != "class-1" || se.UserID != "student:class-1/SIS-001" || se.SyncDue {
		t.Fatalf("student entry = %+v", se)
	}
	if p := dir.students["class-1/SIS-001"]; p.Name != "Sam One" || p.Email != "sam@school.example" || p.Subject != student1.ID {
		t.Errorf("enrolled %+v", p)
	}
	// Without a SIS ID, the platform user ID is the student ID.
	if se2 := enter(student2.ID); se2.UserID != "student:class-1/u-s2" {
		t.Errorf("student 2 entry = %+v", se2)
	}

	// The roster: Sam changes name, Kim joins, student 2 leaves the roster,
	// Lee is listed as inactive, and a mentor is ignored.
	course := e.p.Course("c1")
	course.Members = []ltitest.Member{
		teacher,
		{User: ltitest.User{ID: student1.ID, Name: "Samantha One", SourcedID: "SIS-001"}, Roles: []string{ltitest.Learner}},
		{User: ltitest.User{ID: "u-kim", Name: "Kim", SourcedID: "SIS-002"}, Roles: []string{ltitest.Learner}},
		{User: ltitest.User{ID: "u-lee"}, Roles: []string{ltitest.Learner}, Status: "Inactive"},
		{User: ltitest.User{ID: "u-mentor"}, Roles: []string{"http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"}},
	}
	e.p.PageSize = 2
	res, err := e.tool.SyncRoster(e.ctx, ContextKey(e.p.Issuer, e.client.DeploymentID, "c1"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if res != (SyncResult{Added: 1, Updated: 1, Left: 1, Members: 5}) {
		t.Errorf("sync = %+v", res)
	}
	if dir.students["class-1/SIS-001"].Name != "Samantha One" || dir.students["class-1/SIS-002"].Name != "Kim" ||
		!dir.left["class-1/u-s2"] || dir.left["class-1/SIS-001"] || len(dir.students) != 3 {
		t.Errorf("after sync: students %v, left %v", dir.students, dir.left)
	}
	// Student 2 comes back; Sam's SIS ID disappears from the roster but
	// their student ID stays the one they were first seen with.
	course.Members = append(course.Members, student2)
	course.Members[1].SourcedID = ""
	res, err = e.tool.SyncRoster(e.ctx, ContextKey(e.p.Issuer, e.client.DeploymentID, "c1"), dir)
	if err != nil || res.Added != 1 || res.Left != 0 || dir.left["class-1/u-s2"] || len(dir.students) != 3 {
		t.Errorf("second sync = %+v, %v; left %v, students %d", res, err, dir.left, len(dir.students))
	}
	if en := enter(teacher.ID); en.SyncDue {
		t.Error("a sync is due right after one")
	}

	// A launch from outside a course, or by a mentor, is refused.
	l, err := e.launch("link-a", student1.ID)
	if err != nil {
		t.Fatal(err)
	}
	l.Context = Context{}
	if _, err := e.tool.Enter(e.ctx, l, dir); !errs.Is(err, errs.Unprocessable) {
		t.Errorf("no course: %v", err)
	}
	dl, err := e.tool.ValidateLaunch(e.ctx, e.begin(e.p.DeepLinkingLogin(e.client, "c1", student1.ID)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.tool.Enter(e.ctx, dl, dir); !errs.Is(err, errs.Forbidden) {
		t.Errorf("a learner's deep linking request: %v", err)
	}
	if _, err := e.tool.SyncRoster(e.ctx, "nope", dir); !errs.Is(err, errs.NotFound) {
		t.Errorf("sync of an unknown course: %v", err)
	}
}

func TestGradePassback(t *testing.T) {
	e := newEnv(t)
	dir := newDirectory()
	dir.assignments["asg-1"] = "class-1"
	dir.assignments["asg-other"] = "class-99"
	// The teacher deep-links the assignment with a line item.
	dlLaunch, err := e.tool.ValidateLaunch(e.ctx, e.begin(e.p.DeepLinkingLogin(e.client, "c1", teacher.ID)))
	if err != nil {
		t.Fatal(err)
	}
	form, err := e.tool.DeepLinkResponse(e.ctx, dlLaunch, []LinkItem{{Title: "Essay", Custom: map[string]string{CustomAssignmentID: "asg-1"},
		LineItem: &LineItem{ScoreMaximum: 20, Label: "Essay", ResourceID: "asg-1"}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.PostForm(form.Action, map[string][]string{"JWT": {form.Fields["JWT"]}}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("deep link return: %v %v", resp, err)
	}
	var linkID, lineItem string
	for id, l := range e.p.Course("c1").Links {
		if l.Custom[CustomAssignmentID] == "asg-1" {
			linkID, lineItem = id, l.LineItemID
		}
	}
	// Before anyone launches it, the assignment is not linked.
	if _, err := e.tool.QueueScores(e.ctx, "asg-1", nil); !errs.Is(err, errs.NotFound) {
		t.Fatalf("QueueScores before any launch: %v", err)
	}
	for _, u := range []string{teacher.ID, student1.ID, student2.ID} {
		l, err := e.launch(linkID, u)
		if err != nil {
			t.Fatal(err)
		}
		en, err := e.tool.Enter(e.ctx, l, dir)
		if err != nil || en.AssignmentID != "asg-1" {
			t.Fatalf("Enter: %+v, %v", en, err)
		}
	}

	graded := e.clock.Now().Add(-time.Hour)
	scores := []StudentScore{
		{StudentID: "SIS-001", Version: "v1", Given: 15.5, Maximum: 20, Comment: "Feedback: https://margin.example/f/1", GradedAt: graded},
		{StudentID: "u-s2", Version: "v1", Given: 12, Maximum: 20, GradedAt: graded},
		{StudentID: "not-from-the-lms", Version: "v1", Given: 3, Maximum: 20, GradedAt: graded},
	}
	n, err := e.tool.QueueScores(e.ctx, "asg-1", scores)
	if err != nil || n != 2 {
		t.Fatalf("QueueScores = %d, %v", n, err)
	}
	if len(e.p.Scores("c1", lineItem)) != 0 {
		t.Fatal("queueing posted to the platform")
	}
	status := func() map[string]ScoreStatus {
		st, err := e.tool.Gradebook(e.ctx, "asg-1")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]ScoreStatus{}
		for _, s := range st {
			out[s.StudentID] = s
		}
		return out
	}
	if st := status(); st["SIS-001"].Status != ScoreQueued || st["u-s2"].Status != ScoreQueued {
		t.Fatalf("before delivery: %+v", st)
	}
	// One student's post fails until retries run out within the delivery.
	e.p.FailScores = len(scoreRetries)
	if _, err := e.tool.DeliverScores(e.ctx); err != nil {
		t.Fatal(err)
	}
	st := status()
	failed, ok := "", 0
	for id, s := range st {
		switch s.Status {
		case ScoreRetrying:
			failed = id
			mustContain(t, s.Error, "503")
		case ScorePosted:
			ok++
		}
	}
	if failed == "" || ok != 1 {
		t.Fatalf("after a failing delivery: %+v", st)
	}
	// Nothing is due until the retry time.
	if n, err := e.tool.DeliverScores(e.ctx); n != 0 || err != nil {
		t.Fatalf("delivered %d before the retry time: %v", n, err)
	}
	e.clock.Add(redeliveries[0] + time.Second)
	if n, err := e.tool.DeliverScores(e.ctx); n != 1 || err != nil {
		t.Fatalf("retry delivered %d: %v", n, err)
	}
	gb := e.p.Gradebook("c1", lineItem)
	if len(gb) != 2 || *gb[student1.ID].ScoreGiven != 15.5 || *gb[student1.ID].ScoreMaximum != 20 || *gb[student2.ID].ScoreGiven != 12 ||
		!strings.Contains(gb[student1.ID].Comment, "https://margin.example/f/1") {
		t.Fatalf("platform gradebook = %+v", gb)
	}
	if st := status(); st["SIS-001"].Status != ScorePosted || st["u-s2"].Status != ScorePosted {
		t.Fatalf("statuses = %+v", st)
	}
	// Queueing the same versions again posts nothing.
	received := len(e.p.Scores("c1", lineItem))
	if n, err := e.tool.QueueScores(e.ctx, "asg-1", scores); n != 0 || err != nil {
		t.Fatalf("re-queue: %d, %v", n, err)
	}
	if n, _ := e.tool.DeliverScores(e.ctx); n != 0 || len(e.p.Scores("c1", lineItem)) != received {
		t.Fatal("the same version was posted twice")
	}
	// A graded revision replaces the score; an older one does not.
	rev := []StudentScore{{StudentID: "SIS-001", Version: "v2", Given: 18, Maximum: 20, GradedAt: graded.Add(30 * time.Minute)}}
	if n, err := e.tool.QueueScores(e.ctx, "asg-1", rev); n != 1 || err != nil {
		t.Fatalf("queue revision: %d, %v", n, err)
	}
	old := []StudentScore{{StudentID: "SIS-001", Version: "v0", Given: 1, Maximum: 20, GradedAt: graded.Add(-time.Hour)}}
	if n, _ := e.tool.QueueScores(e.ctx, "asg-1", old); n != 0 {
		t.Fatal("an older version was queued over a newer one")
	}
	if n, err := e.tool.DeliverScores(e.ctx); n != 1 || err != nil {
		t.Fatalf("deliver revision: %d, %v", n, err)
	}
	if gb := e.p.Gradebook("c1", lineItem); *gb[student1.ID].ScoreGiven != 18 {
		t.Fatalf("revision not in the platform's gradebook: %+v", gb[student1.ID])
	}
	// A refusal retrying cannot fix fails at once; the teacher sees it and
	// can try again.
	e.p.FailScores, e.p.FailScoresStatus = 1, http.StatusForbidden
	if _, err := e.tool.QueueScores(e.ctx, "asg-1", []StudentScore{{StudentID: "u-s2", Version: "v2", Given: 13, Maximum: 20, GradedAt: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tool.DeliverScores(e.ctx); err != nil {
		t.Fatal(err)
	}
	if s := status()["u-s2"]; s.Status != ScoreFailed || !strings.Contains(s.Error, "403") {
		t.Fatalf("after a 403: %+v", s)
	}
	if n, err := e.tool.RetryScores(e.ctx, "asg-1"); n != 1 || err != nil {
		t.Fatalf("RetryScores = %d, %v", n, err)
	}
	if n, err := e.tool.DeliverScores(e.ctx); n != 1 || err != nil {
		t.Fatalf("deliver after retry: %d, %v", n, err)
	}
	if gb := e.p.Gradebook("c1", lineItem); *gb[student2.ID].ScoreGiven != 13 {
		t.Fatalf("retried score missing: %+v", gb[student2.ID])
	}
	// A link naming another class's assignment is not tied to this course.
	e.p.Course("c1").Links["sneaky"] = &ltitest.Link{ID: "sneaky", Custom: map[string]string{CustomAssignmentID: "asg-other"}}
	l, err := e.launch("sneaky", teacher.ID)
	if err != nil {
		t.Fatal(err)
	}
	if en, err := e.tool.Enter(e.ctx, l, dir); err != nil || en.AssignmentID != "" {
		t.Fatalf("Enter with another class's assignment: %+v, %v", en, err)
	}
	if _, err := e.tool.QueueScores(e.ctx, "asg-other", nil); !errs.Is(err, errs.NotFound) {
		t.Fatalf("another class's assignment was linked: %v", err)
	}
}

// A link without a line item gets one created on first delivery.
func TestGradePassbackCreatesLineItem(t *testing.T) {
	e := newEnv(t)
	dir := newDirectory()
	dir.assignments["asg-7"] = "class-1"
	e.p.Course("c1").Links["link-a"].Custom = map[string]string{CustomAssignmentID: "asg-7"}
	for _, u := range []string{teacher.ID, student1.ID} {
		l, err := e.launch("link-a", u)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.tool.Enter(e.ctx, l, dir); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.tool.QueueScores(e.ctx, "asg-7", []StudentScore{{StudentID: "SIS-001", Version: "v1", Given: 7, Maximum: 10, GradedAt: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.tool.DeliverScores(e.ctx); n != 1 || err != nil {
		t.Fatalf("DeliverScores = %d, %v", n, err)
	}
	items := e.p.Course("c1").LineItems
	if len(items) != 1 || items[0].ResourceLinkID != "link-a" || items[0].ResourceID != "asg-7" || items[0].ScoreMaximum != 10 || items[0].Label != "Assignment asg-7" {
		t.Fatalf("line items = %+v", items)
	}
	if gb := e.p.Gradebook("c1", items[0].ID); *gb[student1.ID].ScoreGiven != 7 {
		t.Fatalf("gradebook = %+v", gb)
	}
	// The outbox is empty once everything is settled.
	if n, err := e.tool.col(colOutbox).CountDocuments(e.ctx, map[string]any{}); err != nil || n != 0 {
		t.Fatalf("outbox holds %d: %v", n, err)
	}
}
