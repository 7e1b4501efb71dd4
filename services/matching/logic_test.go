package matching

import (
	"slices"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/intake"
)

var monday = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // a Monday

func everyDay() []time.Weekday {
	return []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}
}

func testBatch(size int) Batch {
	b := Batch{ID: "b", AssignmentID: "asg", SchoolID: "sch_1", TeacherID: "usr_t", Subject: "english", GradeLevel: 10, Reader: First, DueAt: monday.Add(72 * time.Hour)}
	for i := range size {
		b.Items = append(b.Items, Item{VersionID: "v" + itoa(i)})
	}
	return b
}

func testGrader(id string) candidate {
	return candidate{profileDoc: profileDoc{Profile: Profile{GraderID: id, Name: id, Status: Approved, Subjects: []string{"english"},
		GradeBands: []GradeBand{{9, 12}}, Capacity: 10, Days: everyDay(), EmailDomain: "tutors.example.net"}}, Free: 10}
}

func TestCheck(t *testing.T) {
	sch := school{ID: "sch_1", Name: "Lincoln High", TeacherDomain: "lincoln.example.org"}
	tests := []struct {
		name     string
		edit     func(*candidate, *Batch, *Prefs)
		anchored bool
		want     reason
	}{
		{"eligible", func(*candidate, *Batch, *Prefs) {}, false, eligible},
		{"pending", func(g *candidate, _ *Batch, _ *Prefs) { g.Status = Pending }, false, notVetted},
		{"subject", func(g *candidate, _ *Batch, _ *Prefs) { g.Subjects = []string{"math"} }, false, wrongSubject},
		{"band", func(g *candidate, _ *Batch, _ *Prefs) { g.GradeBands = []GradeBand{{1, 5}} }, false, wrongBand},
		{"second band fits", func(g *candidate, _ *Batch, _ *Prefs) { g.GradeBands = []GradeBand{{1, 5}, {10, 10}} }, false, eligible},
		{"works there, by name", func(g *candidate, _ *Batch, _ *Prefs) {
			g.Affiliations = []Affiliation{{School: "lincoln high", Kind: Works}}
		}, false, affiliated},
		{"child there, by ID", func(g *candidate, _ *Batch, _ *Prefs) { g.Affiliations = []Affiliation{{School: "sch_1", Kind: Child}} }, false, affiliated},
		{"other school", func(g *candidate, _ *Batch, _ *Prefs) {
			g.Affiliations = []Affiliation{{School: "Elsewhere", Kind: Studies}}
		}, false, eligible},
		{"same domain", func(g *candidate, _ *Batch, _ *Prefs) { g.EmailDomain = "lincoln.example.org" }, false, sameDomain},
		{"blocked", func(g *candidate, _ *Batch, p *Prefs) { p.Blocked = []string{g.GraderID} }, false, blockedByTeacher},
		{"declined before", func(g *candidate, b *Batch, _ *Prefs) { b.Exclude = []string{g.GraderID} }, false, excluded},
		{"not calibrated", func(*candidate, *Batch, *Prefs) {}, true, notCalibrated},
		{"calibrated", func(g *candidate, _ *Batch, _ *Prefs) { g.Calibrated = true }, true, eligible},
		{"no day before due", func(g *candidate, _ *Batch, _ *Prefs) { g.Days = []time.Weekday{time.Saturday} }, false, unavailable},
		{"past due", func(_ *candidate, b *Batch, _ *Prefs) { b.DueAt = monday.Add(-time.Hour) }, false, unavailable},
		{"no room", func(g *candidate, _ *Batch, _ *Prefs) { g.Free = 4 }, false, noCapacity},
		{"exact room", func(g *candidate, _ *Batch, _ *Prefs) { g.Free = 5 }, false, eligible},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, b, p := testGrader("usr_g"), testBatch(5), Prefs{}
			tt.edit(&g, &b, &p)
			if got := check(b, g, sch, p, tt.anchored, monday); got != tt.want {
				t.Fatalf("check = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestExplainNone(t *testing.T) {
	b := testBatch(3)
	tests := []struct {
		failed map[reason]int
		want   string
	}{
		{map[reason]int{}, "No vetted grader for grade 10 english: no graders have signed up yet."},
		{map[reason]int{notVetted: 2, wrongBand: 1}, "No vetted grader for grade 10 english: 2 not vetted yet, 1 outside the grade band."},
		{map[reason]int{blockedByTeacher: 1, wrongBand: 1}, "No eligible grader for grade 10 english: 1 outside the grade band, 1 blocked by the teacher."},
	}
	for _, tt := range tests {
		if got := explainNone(b, tt.failed); got != tt.want {
			t.Errorf("explainNone(%v) =\n %q, want\n %q", tt.failed, got, tt.want)
		}
	}
}

func TestChunks(t *testing.T) {
	tests := []struct {
		n    int
		free []int
		want []int
	}{
		{30, []int{40}, nil}, // fits whole
		{30, nil, nil},       // nobody has room: wait whole
		{30, []int{0}, nil},  // likewise
		{30, []int{12, 20, 5}, []int{20, 10}},
		{30, []int{10, 10, 10, 10}, []int{10, 10, 10}},
		{30, []int{8, 4}, []int{8, 4, 8, 8, 2}}, // not enough in total: the rest in pieces of the largest
	}
	for _, tt := range tests {
		if got := chunks(tt.n, tt.free); !slices.Equal(got, tt.want) {
			t.Errorf("chunks(%d, %v) = %v, want %v", tt.n, tt.free, got, tt.want)
		}
	}
}

func TestSecondReads(t *testing.T) {
	items := testBatch(25).Items
	for _, tt := range []struct {
		share float64
		n     int
	}{{0, 0}, {0.1, 3}, {0.01, 1}, {1, 25}} {
		got := secondReads(items, tt.share)
		if len(got) != tt.n {
			t.Errorf("share %v: %d items, want %d", tt.share, len(got), tt.n)
		}
		if again := secondReads(items, tt.share); !slices.Equal(got, again) {
			t.Errorf("share %v: not deterministic", tt.share)
		}
	}
}

func TestScoreAttempt(t *testing.T) {
	r := intake.Rubric{
		Scale:    []intake.Level{{Key: "e", Points: 1}, {Key: "d", Points: 2}, {Key: "p", Points: 3}, {Key: "a", Points: 4}},
		Criteria: []intake.Criterion{{Key: "c1", Title: "One"}, {Key: "c2", Title: "Two"}, {Key: "c3", Title: "Three"}, {Key: "c4", Title: "Four"}},
	}
	ref := map[string]string{"c1": "p", "c2": "p", "c3": "d", "c4": "a"}
	tests := []struct {
		name   string
		levels map[string]string
		exact  int
		passed bool
		err    bool
	}{
		{"identical", ref, 4, true, false},
		{"half exact, rest within one", map[string]string{"c1": "p", "c2": "p", "c3": "p", "c4": "p"}, 2, true, false},
		{"one exact only", map[string]string{"c1": "p", "c2": "d", "c3": "p", "c4": "p"}, 1, false, false},
		{"two levels off", map[string]string{"c1": "p", "c2": "p", "c3": "d", "c4": "d"}, 3, false, false},
		{"missing criterion", map[string]string{"c1": "p"}, 0, false, true},
	}
	for _, tt := range tests {
		exact, passed, err := scoreAttempt(r, ref, tt.levels, 1, 0.5)
		if (err != nil) != tt.err || exact != tt.exact || passed != tt.passed {
			t.Errorf("%s: exact %d passed %v err %v", tt.name, exact, passed, err)
		}
	}
}

func TestProfileInputValidation(t *testing.T) {
	in := ProfileInput{Subjects: []string{" English ", "english", ""}, GradeBands: []GradeBand{{5, 3}}, Capacity: 0,
		Days: []string{"Mon", "funday"}, Affiliations: []Affiliation{{School: "", Kind: "cousin"}}}
	_, _, err := in.normalize()
	l, ok := err.(errs.List)
	if !ok {
		t.Fatalf("normalize: %v, want an errs.List", err)
	}
	var fields []string
	for _, e := range l {
		fields = append(fields, e.Field)
	}
	want := []string{"subjects[2]", "grade_bands[0]", "affiliations[0].school", "affiliations[0].kind", "capacity", "available_days[1]"}
	if !slices.Equal(fields, want) {
		t.Fatalf("fields %v, want %v", fields, want)
	}
	out, days, err := ProfileInput{Subjects: []string{" English ", "english"}, GradeBands: []GradeBand{{9, 12}}, Capacity: 3, Days: []string{"fri", "Monday"}}.normalize()
	if err != nil || !slices.Equal(out.Subjects, []string{"english"}) || !slices.Equal(days, []time.Weekday{time.Monday, time.Friday}) {
		t.Fatalf("normalize: %v %v %v", out.Subjects, days, err)
	}
}

func TestNextAnchor(t *testing.T) {
	x, y, z := Anchor{SubmissionID: "a:x"}, Anchor{SubmissionID: "a:y"}, Anchor{SubmissionID: "a:z"}
	tests := []struct {
		name    string
		done    []Attempt
		anchors []Anchor
		want    int
		wantErr bool
	}{
		{"first attempt: the first paper", nil, []Anchor{x, y}, 0, false},
		{"retry: the next paper", []Attempt{{SubmissionID: "a:x"}}, []Anchor{x, y}, 1, false},
		{"retry after the teacher reordered: still a paper not seen", []Attempt{{SubmissionID: "a:x"}}, []Anchor{y, x}, 0, false},
		{"an old attempt named by position", []Attempt{{Anchor: 0}}, []Anchor{x, y}, 1, false},
		{"passed", []Attempt{{SubmissionID: "a:x", Passed: true}}, []Anchor{x, y}, 0, true},
		{"both attempts used", []Attempt{{SubmissionID: "a:x"}, {SubmissionID: "a:y"}}, []Anchor{x, y, z}, 0, true},
		{"every paper seen", []Attempt{{SubmissionID: "a:x"}}, []Anchor{x}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := nextAnchor(tt.done, tt.anchors)
			if (err != nil) != tt.wantErr || (err == nil && got != tt.want) {
				t.Fatalf("nextAnchor = %d, %v; want %d (error %v)", got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errs.Is(err, errs.Conflict) {
				t.Fatalf("error %v is not a conflict", err)
			}
		})
	}
}

func TestCount(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{{0, "0 submissions"}, {1, "1 submission"}, {25, "25 submissions"}} {
		if got := count(c.n, "submission"); got != c.want {
			t.Errorf("count(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
