package intake

import (
	"encoding/json"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/errs"
)

// TestStarters checks every starter file: it parses, passes Validate, and
// is offered (starters leaves a bad file out, so a bad one fails here).
func TestStarters(t *testing.T) {
	entries, err := starterFiles.ReadDir("starters")
	if err != nil || len(entries) == 0 {
		t.Fatalf("no starter rubrics: %v", err)
	}
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			raw, err := starterFiles.ReadFile(path.Join("starters", e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			var r Rubric
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatal(err)
			}
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
			for _, c := range r.Criteria {
				if c.Standard != "" && StandardName(c.Standard) == "" {
					t.Errorf("criterion %s: standard %s has no short description", c.Key, c.Standard)
				}
			}
			if _, ok := starter(starterPrefix + strings.TrimSuffix(e.Name(), ".json")); !ok {
				t.Fatal("not offered")
			}
		})
	}
}

// TestStarterInLibrary: a new school's library offers the starters, and an
// assignment can be made from one; an unknown starter ID is refused.
func TestStarterInLibrary(t *testing.T) {
	w := newWorld(t)
	other := w.signUp(t, "new@elsewhere.example", "Brand New School")
	lib, err := w.s.Library(w.ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if len(lib) != len(starters()) || !lib[0].Starter {
		t.Fatalf("a new school's library: %+v", lib)
	}
	cl, price := w.newClass(t, other), int64(800)
	a, err := w.s.CreateAssignment(w.ctx, other, AssignmentInput{ClassID: cl.ID, Title: "Uniforms", Prompt: "Argue.", RubricID: lib[0].ID,
		DueAt: time.Now().Add(48 * time.Hour), PriceCents: &price})
	if err != nil {
		t.Fatal(err)
	}
	if a.Rubric.Title != lib[0].Rubric.Title || len(a.Rubric.Criteria) != len(lib[0].Rubric.Criteria) {
		t.Fatalf("assignment rubric %q with %d criteria", a.Rubric.Title, len(a.Rubric.Criteria))
	}
	_, err = w.s.CreateAssignment(w.ctx, other, AssignmentInput{ClassID: cl.ID, Title: "X", Prompt: "Argue.", RubricID: "starter-nothing",
		DueAt: time.Now().Add(48 * time.Hour), PriceCents: &price})
	if !errs.Is(err, errs.Invalid) {
		t.Fatalf("an unknown starter: %v", err)
	}
}
