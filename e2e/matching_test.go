package e2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"
)

// grader signs a grader up through the API, saves their profile and
// returns their user ID and token.
func signUpGrader(t *testing.T, in *instance, email, name string, bands []map[string]int, affiliations []map[string]string) (string, string) {
	t.Helper()
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": email, "password": teacherPassword, "name": name, "role": "grader"})
	tok := in.login(email, teacherPassword)
	id := in.must(200, "GET", "/api/v1/me", tok, nil)["user"].(map[string]any)["id"].(string)
	p := in.must(200, "PUT", "/api/v1/grader/profile", tok, map[string]any{
		"subjects": []string{"English", "history"}, "grade_bands": bands, "affiliations": affiliations,
		"capacity": 30, "available_days": []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"},
		"bio": "Former teacher.",
	})
	if p["status"] != "pending" {
		t.Fatalf("a new grader is %v, want pending", p["status"])
	}
	return id, tok
}

// matchingOf returns the assignment's matching, as its teacher sees it.
func matchingOf(t *testing.T, in *instance, fc fixtureClass, runRound bool) map[string]any {
	t.Helper()
	if runRound {
		return in.must(201, "POST", "/api/v1/assignments/"+fc.AssignmentID+"/matching/rounds", fc.TeacherToken, nil)
	}
	return in.must(200, "GET", "/api/v1/assignments/"+fc.AssignmentID+"/matching", fc.TeacherToken, nil)
}

// batchesBy returns the assignment's batches for reader ("first" or
// "second").
func batchesBy(m map[string]any, reader string) []map[string]any {
	var out []map[string]any
	for _, b := range asSlice(m["batches"]) {
		if b := b.(map[string]any); b["reader"] == reader {
			out = append(out, b)
		}
	}
	return out
}

// unmatchedReasons joins the assignment's reasons for unplaced batches.
func unmatchedReasons(m map[string]any) string {
	var rs []string
	for _, u := range asSlice(m["unmatched"]) {
		rs = append(rs, u.(map[string]any)["reason"].(string))
	}
	return strings.Join(rs, " | ")
}

// openOffers lists a grader's open offers.
func openOffers(t *testing.T, in *instance, tok string) []any {
	t.Helper()
	return asSlice(in.must(200, "GET", "/api/v1/grader/offers?state=open", tok, nil)["offers"])
}

// TestE2EMatching: with the intake fixtures published and three graders
// signed up through the API and vetted by an admin (one blocked by the
// teacher, one outside the grade band), a round gives the class to the
// right grader with a readable reason; of many concurrent accepts exactly
// one wins; the blind second read is offered to another grader, declined,
// and reassigned.
func TestE2EMatching(t *testing.T) {
	in := start(t, "MARGIN_MATCHING_INTERVAL=1h")
	fc := publishFixtureClass(t, in)
	tenth := []map[string]int{{"min": 9, "max": 12}}

	ana, anaTok := signUpGrader(t, in, "ana@tutors.example.net", "Ana Grader", tenth, nil)
	ben, benTok := signUpGrader(t, in, "ben@graders.example.com", "Ben Blocked", tenth, nil)
	_, choTok := signUpGrader(t, in, "cho@primary.example.edu", "Cho Primary", []map[string]int{{"min": 1, "max": 5}}, nil)
	// A grader who works at the school is never matched to it.
	_, _ = signUpGrader(t, in, "dee@tutors.example.net", "Dee Insider", tenth, []map[string]string{{"school": "lincoln high", "kind": "works"}})

	// Nobody is vetted yet: the assignment says so.
	m := matchingOf(t, in, fc, true)
	if why := unmatchedReasons(m); !strings.Contains(why, "No vetted grader for grade 10 english") || !strings.Contains(why, "4 not vetted yet") {
		t.Fatalf("before vetting, the reason is %q", why)
	}

	// Graders cannot vet themselves; an admin vets them.
	if r := in.call("PUT", "/api/v1/admin/graders/"+ana+"/vetting", anaTok, map[string]any{"status": "approved"}); r.Status != 403 {
		t.Fatalf("a grader vetting: %d", r.Status)
	}
	admin := adminToken(t, in, "root@example.org")
	pending := asSlice(in.must(200, "GET", "/api/v1/admin/graders?status=pending", admin, nil)["graders"])
	if len(pending) != 4 {
		t.Fatalf("%d pending graders, want 4", len(pending))
	}
	for _, g := range pending {
		in.must(200, "PUT", "/api/v1/admin/graders/"+g.(map[string]any)["grader_id"].(string)+"/vetting", admin, map[string]any{"status": "approved"})
	}

	// The teacher blocks Ben; another teacher cannot see or run this assignment's matching.
	prefs := in.must(200, "PUT", "/api/v1/teacher/grader-preferences/"+ben, fc.TeacherToken, map[string]any{"preference": "blocked"})
	if len(asSlice(prefs["blocked"])) != 1 {
		t.Fatalf("preferences after blocking: %v", prefs)
	}
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": "other@elsewhere.example.org", "password": teacherPassword, "name": "Other", "role": "teacher", "school": "Elsewhere"})
	other := in.login("other@elsewhere.example.org", teacherPassword)
	for _, r := range []response{
		in.call("GET", "/api/v1/assignments/"+fc.AssignmentID+"/matching", other, nil),
		in.call("POST", "/api/v1/assignments/"+fc.AssignmentID+"/matching/rounds", other, nil),
	} {
		if r.Status != 404 {
			t.Fatalf("another teacher on this assignment's matching: %d %s", r.Status, r.Body)
		}
	}
	if r := in.call("GET", "/api/v1/assignments/"+fc.AssignmentID+"/matching", anaTok, nil); r.Status != 403 {
		t.Fatalf("a grader on the teacher's matching view: %d", r.Status)
	}
	if r := in.call("POST", "/api/v1/admin/matching/rounds", fc.TeacherToken, nil); r.Status != 403 {
		t.Fatalf("a teacher on the admin round: %d", r.Status)
	}

	// The round gives the whole class to Ana, and says why.
	m = matchingOf(t, in, fc, true)
	first := batchesBy(m, "first")
	if len(first) != 1 || len(asSlice(first[0]["items"])) != 5 || first[0]["state"] != "offered" {
		t.Fatalf("first-reader batches: %v", first)
	}
	offer := first[0]["offer"].(map[string]any)
	if offer["grader_id"] != ana {
		t.Fatalf("offered to %v, want Ana (%s): %v", offer["grader_id"], ana, offer["why"])
	}
	why := offer["why"].(map[string]any)
	summary := why["summary"].(string)
	if !strings.Contains(summary, "Ana Grader") || !strings.Contains(summary, "grade 10 english") || why["eligible_graders"] != 1.0 || len(asSlice(why["factors"])) < 4 {
		t.Fatalf("explanation: %v", why)
	}
	if g := first[0]["grader"].(map[string]any); g["name"] != "Ana Grader" || g["quality"] == nil {
		t.Fatalf("the teacher sees the grader as %v", g)
	}
	if len(openOffers(t, in, benTok)) != 0 || len(openOffers(t, in, choTok)) != 0 {
		t.Fatal("the blocked or out-of-band grader got an offer")
	}
	offers := openOffers(t, in, anaTok)
	if len(offers) != 1 || offers[0].(map[string]any)["title"] == "" || offers[0].(map[string]any)["rubric"] == nil {
		t.Fatalf("Ana's offers: %v", offers)
	}
	offerID := offer["id"].(string)

	// Nobody else can accept it; of eight concurrent accepts exactly one wins.
	if r := in.call("POST", "/api/v1/grader/offers/"+offerID+"/accept", benTok, nil); r.Status != 404 {
		t.Fatalf("another grader accepting: %d", r.Status)
	}
	if r := in.call("POST", "/api/v1/grader/offers/"+offerID+"/accept", fc.TeacherToken, nil); r.Status != 403 {
		t.Fatalf("a teacher accepting: %d", r.Status)
	}
	statuses := parallelPosts(t, in, "/api/v1/grader/offers/"+offerID+"/accept", anaTok, 8)
	if statuses[200] != 1 || statuses[409] != 7 {
		t.Fatalf("concurrent accepts: %v, want one 200 and seven 409", statuses)
	}
	tasks := asSlice(in.must(200, "GET", "/api/v1/grader/tasks", anaTok, nil)["tasks"])
	if len(tasks) != 5 {
		t.Fatalf("Ana holds %d tasks, want 5", len(tasks))
	}
	for _, tk := range tasks {
		tk := tk.(map[string]any)
		if tk["reader"] != "first" || !strings.HasSuffix(tk["id"].(string), ":first") || tk["state"] != "assigned" {
			t.Fatalf("task %v", tk)
		}
	}
	if p := in.must(200, "GET", "/api/v1/grader/profile", anaTok, nil); p["held"] != 5.0 {
		t.Fatalf("Ana holds %v submissions, want 5", p["held"])
	}
	if a := in.must(200, "GET", "/api/v1/assignments/"+fc.AssignmentID, fc.TeacherToken, nil); a["state"] != "in_grading" {
		t.Fatalf("after the accept the assignment is %v", a["state"])
	}

	// Accepting opened a blind second read (10%, at least one): no one is
	// eligible yet, and the assignment says why.
	m = in.must(201, "POST", "/api/v1/admin/matching/rounds", admin, nil)
	m = matchingOf(t, in, fc, false)
	second := batchesBy(m, "second")
	if len(second) != 1 || len(asSlice(second[0]["items"])) != 1 || second[0]["state"] != "open" {
		t.Fatalf("second-read batches: %v", second)
	}
	why2 := unmatchedReasons(m)
	for _, want := range []string{"No eligible grader for grade 10 english", "1 outside the grade band", "1 blocked by the teacher", "1 with a declared tie to the school", "1 already declined it or first-read it"} {
		if !strings.Contains(why2, want) {
			t.Fatalf("reason %q lacks %q", why2, want)
		}
	}

	// Unblocked, Ben gets the second read, and declines it.
	in.must(200, "PUT", "/api/v1/teacher/grader-preferences/"+ben, fc.TeacherToken, map[string]any{"preference": "none"})
	m = matchingOf(t, in, fc, true)
	second = batchesBy(m, "second")
	o2 := second[0]["offer"].(map[string]any)
	if second[0]["state"] != "offered" || o2["grader_id"] != ben {
		t.Fatalf("second read offered to %v (%v)", o2["grader_id"], second[0]["state"])
	}
	in.must(200, "POST", "/api/v1/grader/offers/"+o2["id"].(string)+"/decline", benTok, nil)
	if r := in.call("POST", "/api/v1/grader/offers/"+o2["id"].(string)+"/accept", benTok, nil); r.Status != 409 {
		t.Fatalf("accepting a declined offer: %d", r.Status)
	}

	// A new vetted grader signs up, and the declined read goes to her.
	eve, eveTok := signUpGrader(t, in, "eve@readers.example.org", "Eve Reader", tenth, nil)
	in.must(200, "PUT", "/api/v1/admin/graders/"+eve+"/vetting", admin, map[string]any{"status": "approved"})
	m = matchingOf(t, in, fc, true)
	second = batchesBy(m, "second")
	o3 := second[0]["offer"].(map[string]any)
	if o3["grader_id"] != eve || o3["id"] == o2["id"] {
		t.Fatalf("the declined second read went to %v", o3["grader_id"])
	}
	in.must(200, "POST", "/api/v1/grader/offers/"+o3["id"].(string)+"/accept", eveTok, nil)
	et := asSlice(in.must(200, "GET", "/api/v1/grader/tasks", eveTok, nil)["tasks"])
	if len(et) != 1 || et[0].(map[string]any)["reader"] != "second" {
		t.Fatalf("Eve's tasks: %v", et)
	}

	// Wrong roles and wrong owners get nothing.
	asg := "/api/v1/assignments/" + fc.AssignmentID
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/api/v1/grader/profile", fc.TeacherToken, 403},
		{"GET", "/api/v1/grader/offers", admin, 403},
		{"GET", "/api/v1/grader/tasks", fc.TeacherToken, 403},
		{"POST", "/api/v1/grader/offers/" + o3["id"].(string) + "/decline", anaTok, 404},
		{"GET", "/api/v1/grader/calibration/" + fc.AssignmentID, fc.TeacherToken, 403},
		{"GET", "/api/v1/grader/calibration/" + fc.AssignmentID, anaTok, 404}, // no anchors
		{"GET", "/api/v1/admin/graders", fc.TeacherToken, 403},
		{"PUT", "/api/v1/admin/graders/" + ana + "/vetting", fc.TeacherToken, 403},
		{"GET", "/api/v1/teacher/grader-preferences", anaTok, 403},
		{"PUT", "/api/v1/teacher/grader-preferences/" + ana, admin, 403},
		{"GET", asg + "/anchors", other, 404},
		{"PUT", asg + "/anchors", anaTok, 403},
		{"GET", asg + "/matching", "", 401},
	} {
		var body any
		if c.method == "PUT" {
			body = map[string]any{}
		}
		if r := in.call(c.method, c.path, c.token, body); r.Status != c.want {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, r.Status, c.want, r.Body)
		}
	}
	// The admin sees the assignment's matching, with the reasons.
	if am := in.must(200, "GET", asg+"/matching", admin, nil); len(asSlice(am["batches"])) != 2 {
		t.Fatalf("the admin sees %d batches", len(asSlice(am["batches"])))
	}
}

// parallelPosts sends n identical POSTs at once and counts the statuses.
func parallelPosts(t *testing.T, in *instance, path, token string, n int) map[int]int {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	counts := map[int]int{}
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", in.url(path), nil)
			req.Header.Set("Authorization", "Bearer "+token)
			<-start
			resp, err := http.DefaultClient.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				counts[-1]++
				return
			}
			resp.Body.Close()
			counts[resp.StatusCode]++
		}()
	}
	close(start)
	wg.Wait()
	return counts
}
