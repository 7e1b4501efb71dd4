package intake

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/services/intake/extract"
)

// TestRedactOnePerson is the author alone: their names and email in the
// forms a text writes them.
func TestRedactOnePerson(t *testing.T) {
	const p = "Student K7QF"
	person := func(given, family, email string) []Person {
		var emails []string
		if email != "" {
			emails = []string{email}
		}
		return []Person{{Names: []PersonName{{Given: given, Family: family}}, Emails: emails, Replacement: p}}
	}
	sam := person("Sam", "Lindqvist", "sam.lindqvist@students.example.org")
	am := person("Anne-Marie", "Ó Briain", "amob@example.org")
	jose := person("José", "Núñez", "")
	maya := person("Maya", "Okafor", "maya.okafor@students.example.org")
	tests := []struct {
		name   string
		people []Person
		in     string
		want   string
	}{
		{"full name", sam, "Sam Lindqvist wrote this.", p + " wrote this."},
		{"family given", sam, "By Lindqvist Sam.", "By " + p + "."},
		{"family, given", sam, "Lindqvist, Sam — Period 3", p + " — Period 3"},
		{"name over a line break", sam, "Sam\nLindqvist", p},
		{"each name alone", sam, "Sam said Lindqvist was right.", p + " said " + p + " was right."},
		{"email as one", sam, "Mail sam.lindqvist@students.example.org today", "Mail " + p + " today"},
		{"email at the end of a sentence", sam, "Write to sam.lindqvist@students.example.org.", "Write to " + p + "."},
		{"a longer address is someone else's, but the name in it goes", sam, "xsam.lindqvist@students.example.org.uk", "xsam." + p + "@students.example.org.uk"},
		{"case-insensitive", sam, "SAM LINDQVIST and sam and lindqvist", p + " and " + p + " and " + p},
		{"word boundaries", sam, "Samuel and same, Sam's samba; Lindqvists.", "Samuel and same, " + p + "'s samba; Lindqvists."},
		{"names side by side", sam, "Sam Sam Sam", p + " " + p + " " + p},
		{"at the edges", sam, "Sam", p},
		{"digits and underscores separate words", sam, "Sam2 sam_x", p + "2 " + p + "_x"},
		{"a handle with an underscore", maya, "ask @maya_okafor now", "ask @" + p + " now"},
		{"a handle with a dot", maya, "maya.okafor on the forum", p + " on the forum"},
		{"a handle run together", maya, "@MayaOkafor wrote", "@" + p + " wrote"},
		{"initial and family name", maya, "M. Okafor and M Okafor", p + " and " + p},
		{"given name and initial", maya, "Maya O. said so; Maya O.", p + " said so; " + p + "."},
		{"a title", maya, "Ms. Okafor's idea", p + "'s idea"},
		{"hyphenated given name whole", am, "Anne-Marie Ó Briain", p},
		{"hyphenated parts alone", am, "Anne liked Marie's idea", p + " liked " + p + "'s idea"},
		{"accented family name, any case", am, "by Ó BRIAIN and ó briain", "by " + p + " and " + p},
		{"accents", jose, "José Núñez; JOSÉ; Joséphine; NÚÑEZ", p + "; " + p + "; Joséphine; " + p},
		{"accents dropped", jose, "Jose Nunez wrote", p + " wrote"},
		{"no names: nothing changes", []Person{{Replacement: p}}, "Sam Lindqvist", "Sam Lindqvist"},
		{"one-letter names not alone", person("J", "Wu", ""), "J Wu, J. and a Wu", p + ", J. and a " + p},
		{"regex metacharacters in names", person("A.J.", "(Quon)", ""), "AxJx Quon A.J. (Quon)", "AxJx " + p + ". (" + p + ")"},
		{"a dollar in the pseudonym", []Person{{Names: []PersonName{{Given: "Sam"}}, Replacement: "Student $1"}}, "Sam wrote", "Student $1 wrote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewRedactor(tt.people).Redact(tt.in).Text; got != tt.want {
				t.Errorf("Redact(%q)\ngot  %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestRedactClass is a class: classmates become their own pseudonyms, the
// teacher "the teacher", and ordinary words that are names stay where they
// are not names.
func TestRedactClass(t *testing.T) {
	people := []Person{
		{Names: []PersonName{{Given: "Avery", Family: "Rivera"}}, Replacement: "Student AAAA"},
		{Names: []PersonName{{Given: "Grace", Family: "Okafor"}}, Emails: []string{"grace.okafor@students.example.org"}, Replacement: "Student BBBB"},
		{Names: []PersonName{{Given: "Will", Family: "Brown"}}, Replacement: "Student CCCC"},
		{Names: []PersonName{{Given: "May", Family: "Lindqvist"}}, Replacement: "Student DDDD"},
		{Names: []PersonName{{Given: "Sam", Family: "Lindqvist"}, {Given: "Samuel", Family: "Lindqvist"}}, Replacement: "Student EEEE"},
		teacherPerson(account.User{Name: "Ms Rivera", Email: "rivera.teacher@lincoln.example.org"}),
	}
	tests := []struct{ in, want string }{
		{"My friend Grace Okafor helped me.", "My friend Student BBBB helped me."},
		{"Ms. Rivera said so, and Ms Rivera's class agreed.", "The teacher said so, and the teacher's class agreed."},
		{"I wrote to rivera.teacher@lincoln.example.org.", "I wrote to the teacher."},
		{"Rivera was late.", "[name] was late."},
		{"Lindqvist won.", "A classmate won."},
		{"Samuel Lindqvist, who was Sam, won.", "Student EEEE, who was Student EEEE, won."},
		{"By the grace of God we finished.", "By the grace of God we finished."},
		{"I asked Grace. Grace's notes helped.", "I asked Student BBBB. Student BBBB's notes helped."},
		{"Will you read it? I will. Will said yes.", "Will you read it? I will. Student CCCC said yes."},
		{"In May we met May. May I ask? May 3 was fun.", "In May we met Student DDDD. May I ask? May 3 was fun."},
		{"We sang Amazing Grace.", "We sang Amazing Grace."},
		{"Grace and I wrote it. Grace and faith are virtues.", "Student BBBB and I wrote it. Grace and faith are virtues."},
		{"a brown dog; the Brown family; Will Brown.", "a brown dog; the Brown family; Student CCCC."},
		{"I miss Grace.", "I miss Student BBBB."},
		{"@grace_okafor and @grace", "@Student BBBB and @Student BBBB"},
	}
	r := NewRedactor(people)
	for _, tt := range tests {
		if got := r.Redact(tt.in).Text; got != tt.want {
			t.Errorf("Redact(%q)\ngot  %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// TestToOriginal: every passage of a grader text maps back to the exact
// passage of the original text it came from.
func TestToOriginal(t *testing.T) {
	people := []Person{{Names: []PersonName{{Given: "Grace", Family: "Okafor"}}, Replacement: "Student K7QF"},
		teacherPerson(account.User{Name: "Maya Rivera"})}
	orig := "My friend Grace Okafor helped me. Ms. Rivera agreed with Grace, and Zoë too."
	red := NewRedactor(people).Redact(orig)
	if red.Text != "My friend Student K7QF helped me. The teacher agreed with Student K7QF, and Zoë too." {
		t.Fatalf("grader text %q", red.Text)
	}
	g, o := []rune(red.Text), []rune(orig)
	tests := []struct{ quote, want string }{
		{"My friend Student K7QF helped me.", "My friend Grace Okafor helped me."},
		{"Student K7QF", "Grace Okafor"},
		{"K7QF helped", "Grace Okafor helped"}, // part of a pseudonym widens to the name
		{"The teacher agreed with Student K7QF, and Zoë too.", "Ms. Rivera agreed with Grace, and Zoë too."},
		{"helped me.", "helped me."},
		{"Zoë too.", "Zoë too."},
	}
	for _, tt := range tests {
		start := strings.Index(red.Text, tt.quote)
		s := len([]rune(red.Text[:start]))
		e := s + len([]rune(tt.quote))
		os, oe := ToOriginal(red.Spans, s, e)
		if got := string(o[os:oe]); got != tt.want {
			t.Errorf("%q (%q) maps to %q, want %q", tt.quote, string(g[s:e]), got, tt.want)
		}
	}
	if s, e := ToOriginal(nil, 3, 7); s != 3 || e != 7 {
		t.Errorf("no spans: %d, %d", s, e)
	}
}

var pseudonymShape = regexp.MustCompile(`^Student [ABCDEFGHJKLMNPQRSTUVWXYZ2-9]{4}$`)

func TestNewPseudonym(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		p := newPseudonym()
		if !pseudonymShape.MatchString(p) {
			t.Fatalf("%q has the wrong shape", p)
		}
		seen[p] = true
	}
	// 32^4 ≈ 1M: a thousand draws rarely repeat.
	if len(seen) < 990 {
		t.Errorf("only %d distinct pseudonyms in 1000 draws", len(seen))
	}
}

var opaqueSubmission = regexp.MustCompile(`^asg_[a-z2-7]+:sub_[a-z2-7]{16}$`)

// TestGraderTextNamesNoOne: a grader's text hides the author, every
// classmate (as their own pseudonym) and the teacher; a student added to
// the roster after the upload is hidden too, and a removed one stays
// hidden. Quotes map back to the student's words.
func TestGraderTextNamesNoOne(t *testing.T) {
	w := newWorld(t)
	ctx := w.ctx
	essay := "Avery Rivera\n\nMy friend Jordan Okafor helped me, and so did Priya. Sam's idea was best. " +
		"T taught us (write to teacher@school.example). Later Zoe Quinn joined us."
	o := w.upload(t, namedFile{"essay.txt", "1001", []byte(essay)})[0]
	if !opaqueSubmission.MatchString(o.SubmissionID) || strings.Contains(o.SubmissionID, "1001") {
		t.Fatalf("submission ID %q is not opaque", o.SubmissionID)
	}
	grader := func() Text {
		t.Helper()
		txt, err := w.s.Text(ctx, VersionID(o.SubmissionID, 1))
		if err != nil {
			t.Fatal(err)
		}
		return txt
	}
	pseudo := func(student string) string {
		ids, err := w.s.identities(ctx, w.asg.ID)
		if err != nil {
			t.Fatal(err)
		}
		return ids.Students[student].Pseudonym
	}
	txt := grader()
	for _, name := range []string{"Avery", "Rivera", "Jordan", "Okafor", "Priya", "Sam", "teacher@school.example"} {
		if strings.Contains(txt.GraderText, name) {
			t.Errorf("grader text names %s: %q", name, txt.GraderText)
		}
	}
	for _, st := range []string{"1001", "1002", "1004", "1003"} {
		if p := pseudo(st); p == "" || !strings.Contains(txt.GraderText, p) {
			t.Errorf("student %s's pseudonym %q is not in %q", st, p, txt.GraderText)
		}
	}
	if !strings.Contains(txt.GraderText, "Zoe Quinn") {
		t.Errorf("Zoe Quinn is not on the roster yet: %q", txt.GraderText)
	}
	if o.Pseudonym != pseudo("1001") {
		t.Errorf("the upload's pseudonym %q is not the author's %q", o.Pseudonym, pseudo("1001"))
	}
	// Each replacement maps back to the name it hides.
	for _, sp := range txt.Spans {
		s, e := txt.ToOriginal(sp.GraderStart, sp.GraderEnd)
		if s != sp.Start || e != sp.End {
			t.Errorf("span %+v maps to %d, %d", sp, s, e)
		}
	}

	// The roster changes after the upload: a new student is hidden at once,
	// a renamed one under both names, and a removed one stays hidden.
	if _, err := w.s.ImportRoster(ctx, w.teacher, w.class.ID, strings.NewReader("student_id,given_name,family_name,email\n2001,Zoe,Quinn,\n1003,Samira,Lindqvist,\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.s.RemoveStudent(ctx, w.teacher, w.class.ID, "1002"); err != nil {
		t.Fatal(err)
	}
	txt = grader()
	if strings.Contains(txt.GraderText, "Zoe") || !strings.Contains(txt.GraderText, pseudo("2001")) || strings.Contains(txt.GraderText, "Jordan") ||
		strings.Contains(txt.GraderText, "Sam") {
		t.Errorf("after the roster changed: %q", txt.GraderText)
	}
}

// TestIdentityOnce: concurrent first uses of a student's identity agree on
// one submission ID and pseudonym.
func TestIdentityOnce(t *testing.T) {
	w := newWorld(t)
	var wg sync.WaitGroup
	got := make([]identity, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids, err := w.s.identities(w.ctx, w.asg.ID)
			if err != nil {
				t.Error(err)
				return
			}
			if got[i], err = w.s.identity(w.ctx, &ids, "1003"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, id := range got[1:] {
		if id != got[0] {
			t.Fatalf("identities differ: %+v", got)
		}
	}
	n, err := w.s.c(colPseudonyms).CountDocuments(w.ctx, map[string]any{"student_id": "1003"})
	if err != nil || n != 1 {
		t.Errorf("%d pseudonyms reserved for one student (%v), want 1", n, err)
	}
}

// TestIdentitiesSavedPerBatch: an upload saves the assignment's identity
// document once per batch of files, not per file; an upload that stopped
// before saving (a crash) leaves the students' own records, from which the
// grader text gets the very pseudonyms the upload gave out, and the
// document is filled in then.
func TestIdentitiesSavedPerBatch(t *testing.T) {
	w := newWorld(t)
	b, err := w.s.StartUpload(w.ctx, w.teacher, w.asg.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	essay := "An essay by Avery Rivera, with Jordan Okafor, long enough to be read as one."
	for _, st := range []string{"1001", "1002"} {
		if err := b.Add(w.ctx, st+".txt", st, strings.NewReader(essay), int64(len(essay))); err != nil {
			t.Fatal(err)
		}
	}
	// The batch is abandoned here, as a crash would leave it: no flush.
	saved, err := w.s.identities(w.ctx, w.asg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved.Students) != 0 {
		t.Fatalf("identities saved per file: %+v", saved.Students)
	}
	outs := b.Upload().Outcomes
	if len(outs) != 2 || outs[0].Status != StatusCreated || outs[1].Status != StatusCreated {
		t.Fatalf("outcomes: %+v", outs)
	}
	txt, err := w.s.Text(w.ctx, VersionID(outs[0].SubmissionID, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if !strings.Contains(txt.GraderText, o.Pseudonym) {
			t.Errorf("the grader text %q does not use %s's pseudonym %q from the upload", txt.GraderText, o.StudentID, o.Pseudonym)
		}
	}
	if saved, err = w.s.identities(w.ctx, w.asg.ID); err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		if id := saved.Students[o.StudentID]; id.SubmissionID != o.SubmissionID || id.Pseudonym != o.Pseudonym {
			t.Errorf("student %s: the document holds %+v, the upload gave out %s %q", o.StudentID, id, o.SubmissionID, o.Pseudonym)
		}
	}
	// A batch that finishes saves what it gave out.
	w.upload(t, namedFile{"1003.txt", "1003", []byte("Sam's essay.")})
	if saved, err = w.s.identities(w.ctx, w.asg.ID); err != nil || saved.Students["1003"].Pseudonym == "" {
		t.Fatalf("after a finished upload: %+v %v", saved.Students, err)
	}
}

// TestLegacySubmissionKeepsItsID: a submission made before IDs were opaque
// keeps its ID and pseudonym, and is found by student.
func TestLegacySubmissionKeepsItsID(t *testing.T) {
	w := newWorld(t)
	legacy := Submission{ID: legacySubmissionID(w.asg.ID, "1003"), AssignmentID: w.asg.ID, ClassID: w.class.ID, StudentID: "1003", Pseudonym: "Student OLD2",
		Versions: []Version{{N: 1, SHA256: "x", Filename: "old.txt"}}, N: 1}
	if _, err := w.s.c(colSubmissions).InsertOne(w.ctx, legacy); err != nil {
		t.Fatal(err)
	}
	o := w.upload(t, namedFile{"new.txt", "1003", []byte("A revised essay by Sam.")})[0]
	if o.SubmissionID != legacy.ID || o.Version != 2 || o.Pseudonym != "Student OLD2" {
		t.Errorf("upload to a legacy submission: %+v", o)
	}
	sub, err := w.s.SubmissionOf(w.ctx, w.asg.ID, "1003")
	if err != nil || sub.ID != legacy.ID {
		t.Errorf("SubmissionOf: %v %v", sub.ID, err)
	}
	rows, _ := w.s.Rows(w.ctx, w.asg.ID)
	if len(rows) != 1 || rows[0].SubmissionID != legacy.ID {
		t.Errorf("rows: %+v", rows)
	}
}

// Near-duplicate detection.

func TestSimilarity(t *testing.T) {
	const essay = "Personalized learning lets every student move at their own pace, with the teacher guiding each one through goals they chose together."
	tests := []struct {
		name     string
		a, b     string
		min, max float64
	}{
		{"identical", essay, essay, 1, 1},
		{"case and punctuation ignored", essay, "PERSONALIZED learning — lets every student move at their own pace; with the teacher guiding each one through goals they chose together!!", 1, 1},
		{"unrelated", essay, "Genetic testing promises nutrition advice tailored to each body, but the evidence behind most commercial kits remains thin.", 0, 0.1},
		{"empty", "", essay, 0, 0},
		{"both empty", "", "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := similarity(sketch(tt.a), sketch(tt.b))
			if got < tt.min || got > tt.max {
				t.Errorf("similarity = %.2f, want %.2f to %.2f", got, tt.min, tt.max)
			}
		})
	}
}

// TestSimilarityFixtures pins the duplicate flag on the fixtures: the PDF
// and the ODT of the same essay are near-identical after extraction, and
// the other essays are far apart.
func TestSimilarityFixtures(t *testing.T) {
	texts := map[string]string{}
	for _, f := range fixtureFiles {
		texts[f] = extractFixture(t, f)
	}
	const pdf, odt = "natarajanpriya_1004_5004_what-is-pl.pdf", "alvarezmateo_1005_5005_what-is-pl.odt"
	for i, a := range fixtureFiles {
		for _, b := range fixtureFiles[i+1:] {
			sim := similarity(sketch(texts[a]), sketch(texts[b]))
			t.Logf("%.2f %s %s", sim, a, b)
			same := a == pdf && b == odt || a == odt && b == pdf
			if same && sim < 0.8 {
				t.Errorf("%s and %s: similarity %.2f, want ≥ 0.8", a, b, sim)
			}
			if !same && sim >= 0.3 {
				t.Errorf("%s and %s: similarity %.2f, want < 0.3", a, b, sim)
			}
		}
	}
}

// fixtureFiles are the five submissions of testdata/class-a.
var fixtureFiles = []string{
	"riveraavery_1001_5001_personalized-learning-primary.docx",
	"okaforjordan_1002_5002_genetic-testing-nutrition.pdf",
	"lindqvistsam_1003_5003_personalized-learning.txt",
	"natarajanpriya_1004_5004_what-is-pl.pdf",
	"alvarezmateo_1005_5005_what-is-pl.odt",
}

func fixtureBytes(t testing.TB, rel string) []byte {
	t.Helper()
	dir := os.Getenv("MARGIN_FIXTURES")
	if dir == "" {
		dir = "../../testdata"
	}
	b, err := os.ReadFile(filepath.Join(dir, "class-a", rel))
	if err != nil {
		t.Fatalf("fixture %s: %v (set MARGIN_FIXTURES to the fixtures directory)", rel, err)
	}
	return b
}

func extractFixture(t testing.TB, name string) string {
	t.Helper()
	b := fixtureBytes(t, "submissions/"+name)
	res, err := extract.Extract(context.Background(), bytes.NewReader(b), int64(len(b)), name)
	if err != nil {
		t.Fatalf("extract %s: %v", name, err)
	}
	return res.Text
}
