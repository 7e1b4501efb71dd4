package web

import (
	"strings"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/intake"
)

func TestAssignmentInput(t *testing.T) {
	rubric := `{"scale":[{"key":"a","label":"A","points":1},{"key":"b","label":"B","points":2}],"criteria":[{"key":"c","title":"C","weight":1,"levels":{"a":"x","b":"y"}}]}`
	tests := []struct {
		name     string
		form     assignmentForm
		rubricID string
		fields   []string // the fields with mistakes, in order
	}{
		{"complete", assignmentForm{Title: "T", Due: "2026-12-01", Price: "8.00", Rubric: rubric}, "", nil},
		{"library rubric, no JSON", assignmentForm{Title: "T", Due: "2026-12-01", Price: "0"}, "rub_1", nil},
		{"bad date and price", assignmentForm{Due: "tomorrow", Price: "8,00", Rubric: rubric}, "", []string{"due", "price"}},
		{"rubric not JSON", assignmentForm{Due: "2026-12-01", Price: "1", Rubric: "{"}, "", []string{"rubric"}},
		{"rubric with an unknown field", assignmentForm{Due: "2026-12-01", Price: "1", Rubric: `{"scales":[]}`}, "", []string{"rubric"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := assignmentInput("cls_1", tt.form, tt.rubricID, true)
			if got := errFields(t, err); strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("fields with mistakes %v, want %v", got, tt.fields)
			}
			if err == nil {
				if in.ClassID != "cls_1" || in.DueAt.IsZero() || in.PriceCents == nil || !in.AllowResubmission {
					t.Fatalf("input %+v", in)
				}
				if (in.Rubric == nil) == (tt.rubricID == "") {
					t.Fatalf("rubric %v with library ID %q", in.Rubric, tt.rubricID)
				}
			}
		})
	}
}

// errFields lists the fields of the mistakes in err, an errs.List (or nil).
func errFields(t *testing.T, err error) []string {
	t.Helper()
	var got []string
	if l, ok := err.(errs.List); ok {
		for _, e := range l {
			got = append(got, e.Field)
		}
	} else if err != nil {
		t.Fatalf("error %v is not an errs.List", err)
	}
	return got
}

func TestParseCents(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"8", 800, true}, {"8.5", 850, true}, {"8.50", 850, true}, {"0", 0, true}, {" 12.05 ", 1205, true},
		{"999999.99", 99999999, true}, {"8.505", 0, false}, {"8,50", 0, false}, {"-1", 0, false},
		{"", 0, false}, {"1e3", 0, false}, {"1000000", 0, false}, {".5", 0, false},
	} {
		got, ok := parseCents(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseCents(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestAssignmentFormOf: the edit form shows a stored assignment so that
// posting it back unchanged gives the same assignment: the price as the
// form reads it, the focus points inside the rubric JSON.
func TestAssignmentFormOf(t *testing.T) {
	rubric := intake.Rubric{Scale: []intake.Level{{Key: "a", Label: "A", Points: 1}, {Key: "b", Label: "B", Points: 2}},
		Criteria: []intake.Criterion{{Key: "c", Title: "C", Weight: 1, Descriptors: map[string]string{"a": "x", "b": "y"}}}}
	due := time.Date(2031, 5, 20, 17, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		cents int64
		focus []string
		price string
	}{
		{"whole dollars", 800, nil, "8.00"},
		{"cents", 1005, []string{"Cite the sources"}, "10.05"},
		{"under a dollar", 7, []string{}, "0.07"},
		{"the highest price", 1_000_000, nil, "10000.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := intake.Assignment{Title: "T", Prompt: "P", DueAt: due, PriceCents: tt.cents, Rubric: rubric, FocusPoints: tt.focus}
			f := assignmentFormOf(a)
			if f.Price != tt.price || f.Due != "2031-05-20" || f.Title != "T" || f.Prompt != "P" || !f.NoResubmission {
				t.Fatalf("form %+v, want the price %s due 2031-05-20", f, tt.price)
			}
			in, err := assignmentInput("cls_1", f, "", true)
			if err != nil {
				t.Fatalf("the form posted back unchanged: %v", err)
			}
			if *in.PriceCents != tt.cents || len(in.Rubric.Criteria) != 1 || len(in.Rubric.FocusPoints) != len(tt.focus) {
				t.Fatalf("posted back: %d cents, rubric %+v; want %d cents and the focus points %q", *in.PriceCents, in.Rubric, tt.cents, tt.focus)
			}
		})
	}
}
