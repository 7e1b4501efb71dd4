package feedback

import (
	"strings"
	"testing"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/notify"
	"github.com/marginschool/margin/pkg/notify/notifytest"
	"github.com/marginschool/margin/pkg/notify/smtpmail"
	"github.com/marginschool/margin/services/matching"
)

// TestNotifications: with the real notifications service on the same
// store, the teacher's inbox gets each submission for review, one
// disagreement per version, and the assignment fully graded once; the
// student's gets the release of their work and of their revision, once
// however often the teacher releases, and by email only once their teacher
// has turned email on for the class.
func TestNotifications(t *testing.T) {
	f := newFixture(t)
	srv := notifytest.Start(t, notifytest.Options{NoTLS: true})
	cfg := notify.Config{SMTPURL: srv.URL(), MailFrom: "margin@school.example", PublicURL: "http://localhost:8080"}
	notes, err := notify.New(ctx, f.db, cfg, nil)
	must(t, err)
	server, err := cfg.SMTP()
	must(t, err)
	mailer, err := smtpmail.New(server, cfg.MailFrom, nil)
	must(t, err)
	sender := notes.NewSender(mailer)
	f.svc.SetNotifier(notes)
	// Priya's roster row has an address; her class has email off.
	_, err = f.in.ImportRoster(ctx, f.teacher, f.asg.ClassID, strings.NewReader("student_id,given_name,family_name,email\n1004,Priya,Natarajan,priya@students.example.org\n"))
	must(t, err)
	mailedPriya := func() int {
		t.Helper()
		_, err := sender.RunOnce(ctx)
		must(t, err)
		n := 0
		for _, m := range srv.Messages() {
			if m.To[0] == "priya@students.example.org" {
				n++
			}
		}
		return n
	}
	_, err = f.svc.SetSettings(ctx, f.teacher, f.asg.ID, Settings{MinQuotes: 0, MinCommentChars: 5})
	must(t, err)
	inbox := func(userID string) map[notify.Kind]int {
		t.Helper()
		p, err := notes.Inbox(ctx, userID, -1)
		must(t, err)
		out := map[notify.Kind]int{}
		for _, it := range p.Items {
			out[it.Kind]++
		}
		return out
	}
	submit := func(g account.User, id string, levels map[string]string) {
		t.Helper()
		w, err := f.svc.Open(ctx, g, id)
		must(t, err)
		c := f.complete(t, essay, levels)
		c.Quotes = nil // the teacher asks for none
		fb, err := f.svc.Save(ctx, g, id, w.Feedback.Rev, c)
		must(t, err)
		_, err = f.svc.Submit(ctx, g, id, fb.Rev)
		must(t, err)
	}
	release := func(student string) {
		t.Helper()
		for range 2 { // again: nothing new
			_, err := f.svc.Release(ctx, f.teacher, f.asg.ID, student)
			must(t, err)
		}
	}

	v1 := f.task(t, "1004", 1, matching.First, f.grader)
	submit(f.grader, v1, map[string]string{"thesis": "developing"})
	_, err = f.svc.Approve(ctx, f.teacher, v1)
	must(t, err)
	release("1004")
	if n := mailedPriya(); n != 0 {
		t.Fatalf("with the class's email off, the student got %d emails", n)
	}
	_, err = f.in.SetEmailStudents(ctx, f.teacher, f.asg.ClassID, true)
	must(t, err)
	f.addVersion(t, "1004", 2, essay+" I added citations (Morin, 2017).")
	v2 := f.task(t, "1004", 2, matching.First, f.grader)
	submit(f.grader, v2, map[string]string{"thesis": "proficient"})
	_, err = f.svc.Approve(ctx, f.teacher, v2)
	must(t, err)
	release("1004")
	if n := mailedPriya(); n != 1 {
		t.Fatalf("with the class's email on, the student got %d emails of their revision, want 1", n)
	}
	if k := inbox(f.student.ID); k[notify.FeedbackReleased] != 1 || k[notify.RevisionGraded] != 1 || len(k) != 2 {
		t.Fatalf("the student's inbox: %v", k)
	}
	p, err := notes.Inbox(ctx, f.student.ID, -1)
	must(t, err)
	if l := p.Items[0].Link; l != "/student/submissions/"+f.sub.ID {
		t.Fatalf("the student's link %q, want their submission %s", l, f.sub.ID)
	}
	if k := inbox(f.student2.ID); len(k) != 0 {
		t.Fatalf("the other student's inbox: %v", k)
	}

	first := f.task(t, "1005", 1, matching.First, f.grader)
	second := f.task(t, "1005", 1, matching.Second, f.grader2)
	submit(f.grader, first, map[string]string{"thesis": "advanced"})
	submit(f.grader2, second, map[string]string{"thesis": "emerging"})
	levels := map[string]string{"thesis": "developing", "evidence": "proficient", "analysis": "proficient", "organization": "proficient", "conventions": "proficient"}
	_, err = f.svc.Adjudicate(ctx, f.teacher, first, levels, "")
	must(t, err)
	for range 2 {
		_, err = f.svc.Approve(ctx, f.teacher, first)
		must(t, err)
	}
	k := inbox(f.teacher.ID)
	if k[notify.ReviewWaiting] != 4 || k[notify.ReadsDisagree] != 1 || k[notify.AssignmentGraded] != 1 {
		t.Fatalf("the teacher's inbox: %v", k)
	}
}
