// Package matchingtest gives other services' tests grading tasks made
// through matching's own API, as on the platform: a grader's profile,
// vetting, a matching round, the grader accepting the offers. A test that
// seeds this way keeps working when matching changes how it stores things.
package matchingtest

import (
	"context"
	"testing"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/services/matching"
)

// admin vets graders.
var admin = account.User{ID: "usr_matchingtest_admin", Role: account.Admin}

// Ready makes grader a vetted grader of grade 9–12 English (the classes
// intaketest makes), available every day, holding at most capacity
// submissions.
func Ready(t testing.TB, m *matching.Service, grader account.User, capacity int) {
	t.Helper()
	ctx := context.Background()
	_, err := m.SaveProfile(ctx, grader, matching.ProfileInput{Subjects: []string{"English"}, GradeBands: []matching.GradeBand{{Min: 9, Max: 12}},
		Capacity: capacity, Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}})
	if err == nil {
		_, err = m.Vet(ctx, admin, grader.ID, matching.Approved)
	}
	if err != nil {
		t.Fatalf("matchingtest: grader %s: %v", grader.Email, err)
	}
}

// Take runs a matching round and has each of graders accept every open
// offer they were made; it returns the tasks each then holds, by grader
// ID.
func Take(t testing.TB, m *matching.Service, graders ...account.User) map[string][]matching.Task {
	t.Helper()
	ctx := context.Background()
	if _, err := m.RunRound(ctx); err != nil {
		t.Fatalf("matchingtest: round: %v", err)
	}
	out := map[string][]matching.Task{}
	for _, g := range graders {
		offers, err := m.MyOffers(ctx, g, true)
		if err != nil {
			t.Fatalf("matchingtest: offers of %s: %v", g.Email, err)
		}
		for _, o := range offers {
			if _, err := m.Accept(ctx, g, o.ID); err != nil {
				t.Fatalf("matchingtest: %s accepting %s: %v", g.Email, o.ID, err)
			}
		}
		if out[g.ID], err = m.TasksForGrader(ctx, g.ID); err != nil {
			t.Fatalf("matchingtest: tasks of %s: %v", g.Email, err)
		}
	}
	return out
}

// Task runs rounds (Take) until grader holds the task for the version and
// reader, and returns its ID.
func Task(t testing.TB, m *matching.Service, grader account.User, versionID string, reader matching.Reader) string {
	t.Helper()
	id := matching.TaskID(versionID, reader)
	for range 3 {
		for _, tk := range Take(t, m, grader)[grader.ID] {
			if tk.ID == id {
				return id
			}
		}
	}
	t.Fatalf("matchingtest: %s was not given task %s", grader.Email, id)
	return ""
}
