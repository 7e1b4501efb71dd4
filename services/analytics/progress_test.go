package analytics

import (
	"testing"
	"time"

	"github.com/marginschool/margin/services/intake"
)

// progressData: the fixture essay (v1, then a revision v2 re-assessed
// later) and a second assignment whose "claim" shares thesis's standard
// code on a three-level scale, plus a "voice" criterion with no standard.
func progressData(t *testing.T) []Graded {
	essay := fixtureRubric(t)
	three := intake.Rubric{
		Scale: []intake.Level{{Key: "below", Label: "Below", Points: 1}, {Key: "meets", Label: "Meets", Points: 2}, {Key: "exceeds", Label: "Exceeds", Points: 3}},
		Criteria: []intake.Criterion{
			{Key: "claim", Title: "Claim", Weight: 1, Standard: essay.Criteria[0].Standard},
			{Key: "voice", Title: "Voice", Weight: 1},
		},
	}
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	return []Graded{
		{AssignmentID: "asg_1", Title: "Essay", StudentID: "1001", Version: 2, At: day(5), Rubric: essay, Levels: map[string]string{"thesis": "proficient"}},
		{AssignmentID: "asg_2", Title: "Speech", StudentID: "1001", Version: 1, At: day(3), Rubric: three, Levels: map[string]string{"claim": "meets", "voice": "exceeds"}},
		{AssignmentID: "asg_1", Title: "Essay", StudentID: "1001", Version: 1, At: day(1), Rubric: essay, Levels: map[string]string{"thesis": "developing", "evidence": "nonsense"}},
		{AssignmentID: "asg_1", Title: "Essay", StudentID: "1009", Version: 1, At: day(1), Rubric: essay, Levels: map[string]string{"thesis": "advanced"}},
	}
}

func TestLearnerProgress(t *testing.T) {
	p := LearnerProgress("1001", "Avery Rivera", progressData(t))
	if len(p.Strands) != 2 {
		t.Fatalf("strands = %+v; want thesis's standard and voice", p.Strands)
	}
	th := p.Strands[0]
	if th.Key != "CCSS.ELA-LITERACY.W.9-10.1.A" || th.Title != "Thesis and focus" {
		t.Errorf("strand 0 = %+v", th.Strand)
	}
	want := []struct {
		asg      string
		version  int
		revision bool
		label    string
		fraction float64
	}{
		{"asg_1", 1, false, "Developing", 1.0 / 3},
		{"asg_2", 1, false, "Meets", 0.5},
		{"asg_1", 2, true, "Proficient", 2.0 / 3},
	}
	if len(th.Marks) != len(want) {
		t.Fatalf("marks = %+v", th.Marks)
	}
	for i, w := range want {
		m := th.Marks[i]
		if m.AssignmentID != w.asg || m.Version != w.version || m.Revision != w.revision || m.Label != w.label || m.Fraction != w.fraction {
			t.Errorf("mark %d = %+v; want %+v", i, m, w)
		}
	}
	if v := p.Strands[1]; v.Key != "criterion:voice" || len(v.Marks) != 1 || v.Marks[0].Fraction != 1 {
		t.Errorf("strand 1 = %+v", v)
	}
}

func TestDataWall(t *testing.T) {
	w := DataWall([]WallStudent{{StudentID: "1001", Name: "Avery"}, {StudentID: "1002", Name: "Jordan"}}, progressData(t))
	var keys []string
	for _, s := range w.Strands {
		keys = append(keys, s.Key)
	}
	if len(keys) != 2 || keys[0] != "CCSS.ELA-LITERACY.W.9-10.1.A" || keys[1] != "criterion:voice" {
		t.Fatalf("strands = %v", keys)
	}
	a := w.Rows[0]
	if c := a.Cells[0]; c == nil || c.AssignmentID != "asg_1" || c.Version != 2 || c.Label != "Proficient" {
		t.Errorf("Avery's thesis cell = %+v; want the revision's Proficient", c)
	}
	if c := a.Cells[1]; c == nil || c.Label != "Exceeds" {
		t.Errorf("Avery's voice cell = %+v", c)
	}
	if j := w.Rows[1]; j.StudentID != "1002" || j.Cells[0] != nil || j.Cells[1] != nil {
		t.Errorf("Jordan's row = %+v; want two empty cells", j)
	}
}
