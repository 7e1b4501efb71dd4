package feedback

import (
	"testing"

	"github.com/marginschool/margin/services/intake"
)

func TestWeightedPoints(t *testing.T) {
	r := intake.Rubric{
		Scale:    []intake.Level{{Key: "low", Points: 1}, {Key: "mid", Points: 2}, {Key: "top", Points: 4}},
		Criteria: []intake.Criterion{{Key: "a", Weight: 2}, {Key: "b", Weight: 1}, {Key: "c", Weight: 0.5}},
	}
	for _, tc := range []struct {
		name             string
		levels           map[string]string
		earned, possible float64
	}{
		{"all top", map[string]string{"a": "top", "b": "top", "c": "top"}, 14, 14},
		{"mixed", map[string]string{"a": "mid", "b": "low", "c": "top"}, 7, 14},
		{"missing and unknown levels earn nothing", map[string]string{"a": "low", "c": "nope"}, 2, 14},
		{"none", nil, 0, 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, p := WeightedPoints(r, tc.levels)
			if e != tc.earned || p != tc.possible {
				t.Fatalf("WeightedPoints = %v of %v, want %v of %v", e, p, tc.earned, tc.possible)
			}
		})
	}
}

func TestGradeKeyChangesWithLevels(t *testing.T) {
	r := Row{VersionID: "sub:v1", Levels: map[string]string{"a": "mid", "b": "low"}}
	same := Row{VersionID: "sub:v1", Levels: map[string]string{"b": "low", "a": "mid"}}
	edited := Row{VersionID: "sub:v1", Levels: map[string]string{"a": "top", "b": "low"}}
	revised := Row{VersionID: "sub:v2", Levels: r.Levels}
	if gradeKey(r) != gradeKey(same) {
		t.Fatal("the same levels give another key")
	}
	if gradeKey(r) == gradeKey(edited) || gradeKey(r) == gradeKey(revised) {
		t.Fatal("an edit or a revision keeps the key")
	}
	if submissionOf("sub_1:v12") != "sub_1" {
		t.Fatalf("submissionOf = %q", submissionOf("sub_1:v12"))
	}
}
