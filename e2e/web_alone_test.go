package e2e

import (
	"testing"

	"github.com/marginschool/margin/services/payouts/stripeclient/stripetest"
)

// TestE2EWebAlone is issue 21's "done when", in a real browser
// (e2e/browser/alone.mjs, see there for the steps): on a Margin with nothing
// in it but its admin, and Stripe at stripe-mock, a new teacher signs up and
// runs a whole assignment from the web pages alone (class, roster, rubric
// from a file, upload, publish, review, release), and a new grader
// goes from sign-up to paid work (profile, vetting by the admin, Stripe
// onboarding, offer, grading, the admin's payout run, the money on the
// earnings page). Stripe's part (the account.updated webhook when
// onboarding is finished) is played by the script, signed with the
// webhook secret as Stripe signs it. Afterwards the JSON API agrees: every
// submission released, and one transfer for the grader.
func TestE2EWebAlone(t *testing.T) {
	node, chromium, missing := browserTools(t)
	if missing != "" {
		t.Skip(missing)
	}
	mock := stripetest.Start(t)
	in := startWithAdmin(t, "root@example.org", "MARGIN_MATCHING_INTERVAL=1h",
		"MARGIN_STRIPE_SECRET_KEY=sk_test_e2e", "MARGIN_STRIPE_API_BASE="+mock.URL, "MARGIN_STRIPE_WEBHOOK_SECRET="+payoutsWhsec,
		"MARGIN_PAYOUTS_SCHEDULE=off", "MARGIN_PAYOUTS_TICK=200ms", "MARGIN_PAYOUTS_MINIMUM_CENTS=100")
	runBrowser(t, node, "browser/alone.mjs", "alone: ok",
		"BASE_URL="+in.url(""), "PASSWORD="+teacherPassword, "ADMIN_EMAIL=root@example.org",
		"ROSTER="+fixturePath(t, "roster.csv"), "RUBRIC="+fixturePath(t, "rubric.json"), "ZIP="+fixturePath(t, "class-a-submissions.zip"), "WEBHOOK_SECRET="+payoutsWhsec,
		"SCREENSHOTS="+screenshotDir(t), "CHROMIUM="+chromium)

	admin := in.login("root@example.org", teacherPassword)
	runs := asSlice(in.must(200, "GET", "/api/v1/admin/payouts/runs", admin, nil)["runs"])
	if len(runs) != 1 {
		t.Fatalf("payout runs after the journey: %v", runs)
	}
	run := runs[0].(map[string]any)
	if run["state"] != "done" || run["sent_count"] != 1.0 {
		t.Fatalf("the payout run is %v", run)
	}
}
