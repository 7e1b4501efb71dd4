package feedback

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/marginschool/margin/services/matching"
)

// TestQuoteOfAPseudonymMapsBack: a grader quotes a passage with the
// student's pseudonym in it; the teacher and the student see it on the
// student's own words, the name included.
func TestQuoteOfAPseudonymMapsBack(t *testing.T) {
	f := newFixture(t)
	s := f.svc
	id := f.task(t, "1004", 1, matching.First, f.grader)
	w, err := s.Open(ctx, f.grader, id)
	must(t, err)
	graderQuote := "My name is " + f.sub.Pseudonym + " and I believe"
	if !strings.Contains(w.Text, graderQuote) {
		t.Fatalf("grader text: %q", w.Text)
	}
	c := f.complete(t, w.Text, nil)
	c.Quotes = append(c.Quotes, Quote{Target: quote(t, w.Text, graderQuote, 0), Criterion: "thesis", Kind: Strength, Comment: long})
	fb, err := s.Save(ctx, f.grader, id, w.Feedback.Rev, c)
	must(t, err)
	_, err = s.Submit(ctx, f.grader, id, fb.Rev)
	must(t, err)

	r, err := s.Review(ctx, f.teacher, id)
	must(t, err)
	runes := []rune(r.Text)
	found := false
	for _, h := range r.Highlights {
		if !h.Anchored || string(runes[h.Start:h.End]) != h.Exact {
			t.Errorf("highlight %+v is not the text at its offsets", h)
		}
		if h.CommentID == fb.Quotes[len(fb.Quotes)-1].ID {
			found = true
			if h.Exact != "My name is Priya Natarajan and I believe" {
				t.Errorf("the quote with the pseudonym maps to %q", h.Exact)
			}
		}
	}
	if !found {
		t.Fatal("the quote is not highlighted")
	}
}

// TestWorkspaceHoldsOnlyGrading: the workspace, and what saving and
// submitting answer, name no school, class or student and carry none of
// the student's ratings, reflections or questions, even once there are
// some (the e2e and API tests check every grader response against an
// allow-list).
func TestWorkspaceHoldsOnlyGrading(t *testing.T) {
	f := newFixture(t)
	id := f.task(t, "1004", 1, matching.First, f.grader)
	if _, err := f.svc.Open(ctx, f.grader, id); err != nil {
		t.Fatal(err)
	}
	_, err := f.db.Collection(colFeedback).UpdateOne(ctx, map[string]any{"_id": id}, map[string]any{"$set": map[string]any{
		"reflections": []Reflection{{Kind: "question", Text: "Why this level? — Priya Natarajan, priya@example.org"}},
		"ratings":     []Rating{{CommentID: "c1", Stars: 2}},
	}})
	must(t, err)
	w, err := f.svc.Open(ctx, f.grader, id)
	must(t, err)
	b, err := json.Marshal(w)
	must(t, err)
	for _, bad := range []string{"student_id", "class_id", "school_id", "teacher_id", "reflections", "ratings", "history", "Priya", "priya@"} { // the fixture's IDs are of the old, student-ID form
		if strings.Contains(string(b), bad) {
			t.Errorf("the workspace holds %q: %s", bad, b)
		}
	}
}
