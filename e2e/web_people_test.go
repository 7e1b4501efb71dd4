package e2e

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestE2EWebPeople drives the student's, grader's, admin's and sign-in
// pages of issue 21 in a real browser (e2e/browser/people.mjs, see there
// for the steps) against `margin serve --demo`, with email off: password
// reset through an admin's link, the vetting list and the confirmations,
// the student's standards, family link and revision on a phone, and the
// grader's revision with its previous feedback and comment bank. It then
// checks over the JSON API what the browser changed: the grader signs in
// with the new password only, and nothing was rejected or paid by a
// question declined.
func TestE2EWebPeople(t *testing.T) {
	node, chromium, missing := browserTools(t)
	if missing != "" {
		t.Skip(missing)
	}
	in, d := startDemo(t, "MARGIN_MATCHING_INTERVAL=1h")
	readyLink := ""
	for _, l := range d.Links {
		c := browserClient(t)
		_, _, tok := page(t, c, in, l)
		postForm(t, c, in, l, url.Values{"_csrf": {tok}})
		if _, body, _ := page(t, c, in, "/student"); strings.Contains(body, "feedback ready") {
			readyLink = l
			break
		}
	}
	if readyLink == "" {
		t.Fatal("no demo student has feedback ready")
	}
	const resetGrader, newPassword = "ana@tutors.example.net", "a new password for Ana 7"
	runBrowser(t, node, "browser/people.mjs", "people: ok",
		"BASE_URL="+in.url(""), "PASSWORD="+d.Password, "NEW_PASSWORD="+newPassword,
		"ADMIN_EMAIL=admin@margin.example.com", "RESET_GRADER_EMAIL="+resetGrader,
		"GRADER_EMAILS=ana@tutors.example.net,ben@graders.example.com,cho@readers.example.net",
		"STUDENT_LINK="+readyLink, "CHROMIUM="+chromium, "SCREENSHOTS="+screenshotDir(t))

	if r := in.call("POST", "/api/v1/sessions", "", map[string]any{"email": resetGrader, "password": d.Password}); r.Status != http.StatusUnauthorized {
		t.Errorf("the old password after the reset: %d", r.Status)
	}
	in.login(resetGrader, newPassword)
	admin := in.login("admin@margin.example.com", d.Password)
	graders := in.must(200, "GET", "/api/v1/admin/graders", admin, nil)
	for _, g := range graders["graders"].([]any) {
		if g := g.(map[string]any); g["status"] != "approved" {
			t.Errorf("grader %v is %v after the admin declined to reject", g["name"], g["status"])
		}
	}
	// Declining to release started no run (the weekly scheduled run may
	// have started on its own).
	var runs []any
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		runs = in.must(200, "GET", "/api/v1/admin/payouts/runs", admin, nil)["runs"].([]any)
		done := len(runs) > 0
		for _, r := range runs {
			r := r.(map[string]any)
			if r["trigger"] == "admin" {
				t.Fatalf("a payout run by the admin after they declined to release: %v", r)
			}
			done = done && r["state"] == "done"
		}
		if done || time.Now().After(deadline) {
			break
		}
	}
	if len(runs) == 0 {
		in.must(202, "POST", "/api/v1/admin/payouts/runs", admin, nil)
	}
	// With Stripe off, each payment of the run failed: the admin's page
	// and the grader's earnings say who, how much and why.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		body := string(in.call("GET", "/admin/payouts", admin, nil).Body)
		if strings.Contains(body, `<tr class="failure">`) {
			if !strings.Contains(body, "Stripe is not configured") || !regexp.MustCompile(`<tr class="failure"><td>(Ana|Ben|Cho) [A-Z][a-z]+</td><td>\d+\.\d\d USD</td>`).MatchString(body) {
				t.Errorf("the payouts page's failures give no grader, amount or reason:\n%s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed payment on the payouts page:\n%s", body)
		}
	}
	paid := 0
	for g, pw := range map[string]string{resetGrader: newPassword, "ben@graders.example.com": d.Password, "cho@readers.example.net": d.Password} {
		body := string(in.call("GET", "/grader/earnings", in.login(g, pw), nil).Body)
		if strings.Contains(body, `<table class="payments"`) {
			paid++
			if !strings.Contains(body, "Stripe is not configured") {
				t.Errorf("%s's failed payout gives no reason:\n%s", g, body)
			}
		}
	}
	if paid == 0 {
		t.Error("no grader's earnings list their failed payout")
	}

	// The admin's reset form answers a mistake with its sentence.
	ac := browserClient(t)
	_, _, ctok := page(t, ac, in, "/signin")
	postForm(t, ac, in, "/signin", url.Values{"_csrf": {ctok}, "email": {"admin@margin.example.com"}, "password": {d.Password}})
	_, _, ctok = page(t, ac, in, "/admin")
	for _, tc := range []struct {
		email, want string
		status      int
	}{
		{"nobody@lincoln.example.org", "No account has that email.", http.StatusNotFound},
		{"not an address", "is not an email address", http.StatusBadRequest},
	} {
		resp, body := postPage(t, ac, in, "/admin/resets", url.Values{"_csrf": {ctok}, "email": {tc.email}})
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) || strings.Contains(body, "/reset/") {
			t.Errorf("a reset link for %q: %d, want %d and %q", tc.email, resp.StatusCode, tc.status, tc.want)
		}
	}

	// Resets are for admins only (a teacher's form, with its CSRF token,
	// is refused for who they are).
	tc := reviewSignIn(t, in, d.Teacher, d.Password)
	_, _, ttok := page(t, tc, in, "/teacher")
	if resp, body := postPage(t, tc, in, "/admin/resets", url.Values{"_csrf": {ttok}, "email": {resetGrader}}); resp.StatusCode != http.StatusForbidden || strings.Contains(body, "/reset/") {
		t.Errorf("a teacher making a reset link: %d", resp.StatusCode)
	}
	for _, bad := range []string{"/reset/nonsense", "/reset/" + strings.Repeat("x", 200)} {
		if r := in.call("GET", bad, "", nil); r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "no longer works") {
			t.Errorf("GET %s: %d", bad, r.Status)
		}
	}
}
