package matching

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
)

// TestAnchorEditsAreAtomic: teachers adding and removing anchor papers at
// the same moment lose none of each other's changes, and a bad edit
// changes nothing.
func TestAnchorEditsAreAtomic(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	students, err := w.in.Roster(ctx, w.teacher, w.asg.ClassID)
	must(t, err)
	if len(students) < 4 {
		t.Fatalf("roster of %d students, want 4 or more", len(students))
	}
	levels := func(i int) map[string]string {
		l := map[string]string{}
		for _, c := range w.asg.Rubric.Criteria {
			l[c.Key] = w.asg.Rubric.Scale[i%len(w.asg.Rubric.Scale)].Key
		}
		return l
	}
	// The first stays; it is removed while the others are added.
	_, err = w.s.PutAnchor(ctx, w.teacher, w.asg.ID, AnchorInput{StudentID: students[0].StudentID, Levels: levels(0)})
	must(t, err)
	var wg sync.WaitGroup
	errc := make(chan error, len(students))
	for i, st := range students[1:4] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := w.s.PutAnchor(ctx, w.teacher, w.asg.ID, AnchorInput{StudentID: st.StudentID, Levels: levels(i + 1)})
			errc <- err
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := w.s.RemoveAnchor(ctx, w.teacher, w.asg.ID, students[0].StudentID)
		errc <- err
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		must(t, err)
	}
	got := func() []string {
		t.Helper()
		an, err := w.s.AnchorsFor(ctx, w.teacher, w.asg.ID)
		must(t, err)
		var ids []string
		for _, a := range an.Anchors {
			ids = append(ids, a.StudentID)
		}
		slices.Sort(ids)
		return ids
	}
	want := []string{students[1].StudentID, students[2].StudentID, students[3].StudentID}
	slices.Sort(want)
	if ids := got(); !slices.Equal(ids, want) {
		t.Fatalf("anchors after concurrent edits: %v, want %v", ids, want)
	}

	// New levels for an anchor keep its place; removing a non-anchor does nothing.
	before, err := w.s.AnchorsFor(ctx, w.teacher, w.asg.ID)
	must(t, err)
	moved := before.Anchors[1].StudentID
	an, err := w.s.PutAnchor(ctx, w.teacher, w.asg.ID, AnchorInput{StudentID: moved, Levels: levels(3)})
	must(t, err)
	if len(an.Anchors) != 3 || an.Anchors[1].StudentID != moved || !maps.Equal(an.Anchors[1].Levels, levels(3)) {
		t.Fatalf("after new levels for %s: %+v", moved, an.Anchors)
	}
	_, err = w.s.RemoveAnchor(ctx, w.teacher, w.asg.ID, "no-such-student")
	must(t, err)

	for _, tc := range []struct {
		name   string
		caller account.User
		in     AnchorInput
		code   errs.Code
	}{
		{"no such student", w.teacher, AnchorInput{StudentID: "nobody", Levels: levels(0)}, errs.Invalid},
		{"a level off the scale", w.teacher, AnchorInput{StudentID: students[0].StudentID, Levels: map[string]string{}}, errs.Invalid},
		{"another teacher", account.User{ID: "usr_other", Role: account.Teacher, SchoolID: "sch_other"}, AnchorInput{StudentID: students[0].StudentID, Levels: levels(0)}, errs.NotFound},
	} {
		if _, err := w.s.PutAnchor(ctx, tc.caller, w.asg.ID, tc.in); !errs.Is(err, tc.code) {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	if ids := got(); !slices.Equal(ids, want) {
		t.Fatalf("anchors after refused edits: %v, want %v", ids, want)
	}
}
