package lti

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/lti/ltitest"
)

func TestDeepLinkingRoundTrip(t *testing.T) {
	e := newEnv(t)
	l, err := e.tool.ValidateLaunch(e.ctx, e.begin(e.p.DeepLinkingLogin(e.client, "c1", teacher.ID)))
	if err != nil {
		t.Fatalf("deep linking launch: %v", err)
	}
	if l.MessageType != MessageDeepLinking || l.DeepLinking == nil || l.DeepLinking.Data == "" || l.Role != RoleTeacher {
		t.Fatalf("launch = %+v", l)
	}
	form, err := e.tool.DeepLinkResponse(e.ctx, l, []LinkItem{{
		Title: "Persuasive essay", Custom: map[string]string{CustomAssignmentID: "asg-1"},
		LineItem: &LineItem{ScoreMaximum: 20, Label: "Persuasive essay", ResourceID: "asg-1", Tag: "margin"},
	}}, "Added Persuasive essay")
	if err != nil {
		t.Fatal(err)
	}
	// Post the page's form as the browser would.
	action, fields, err := ltitest.ParseForm(form.HTML())
	if err != nil || action != l.DeepLinking.ReturnURL || fields.Get("JWT") == "" {
		t.Fatalf("form = %q %v %v", action, fields, err)
	}
	resp, err := http.PostForm(action, fields)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("platform refused the deep linking response: %s", resp.Status)
	}
	course := e.p.Course("c1")
	var link *ltitest.Link
	for _, k := range course.Links {
		if k.Custom[CustomAssignmentID] == "asg-1" {
			link = k
		}
	}
	if link == nil || link.URL != e.tool.URL(LaunchPath) || link.Title != "Persuasive essay" || link.LineItemID == "" {
		t.Fatalf("platform's link = %+v", link)
	}
	li := course.LineItems[len(course.LineItems)-1]
	if li.ScoreMaximum != 20 || li.ResourceID != "asg-1" || li.Tag != "margin" || li.ResourceLinkID != link.ID {
		t.Errorf("line item = %+v", li)
	}

	// Launching the new link carries the assignment and its line item.
	rl, err := e.launch(link.ID, student1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rl.Custom[CustomAssignmentID] != "asg-1" || rl.AGS == nil || rl.AGS.LineItem != li.ID {
		t.Errorf("resource link launch: custom %v, AGS %+v", rl.Custom, rl.AGS)
	}

	// A deep linking response to a resource link launch is refused.
	if _, err := e.tool.DeepLinkResponse(e.ctx, rl, nil, ""); !errs.Is(err, errs.Invalid) {
		t.Errorf("DeepLinkResponse to a resource link launch: %v", err)
	}
	if _, err := e.tool.DeepLinkResponse(e.ctx, l, []LinkItem{{Title: "a"}, {Title: "b"}}, ""); !errs.Is(err, errs.Unprocessable) {
		t.Errorf("two items where one is accepted: %v", err)
	}
}

func TestNRPSPaging(t *testing.T) {
	e := newEnv(t)
	course := e.p.Course("c1")
	for i := range 5 {
		course.Members = append(course.Members, ltitest.Member{User: ltitest.User{ID: fmt.Sprintf("u-extra-%d", i)}, Roles: []string{ltitest.Learner}})
	}
	course.Members[4].Status = "Inactive"
	e.p.PageSize = 3
	ms, err := e.tool.Members(e.ctx, e.reg, e.p.URL("/courses/c1/memberships"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 8 {
		t.Fatalf("%d members over pages of 3, want 8", len(ms))
	}
	if ms[0].UserID != teacher.ID || MarginRole(ms[0].Roles) != RoleTeacher || ms[1].SourcedID != "SIS-001" || ms[1].Email != "sam@school.example" ||
		ms[2].Name != "" || !ms[2].Active() || ms[4].Active() || ms[7].UserID != "u-extra-4" {
		t.Errorf("members = %+v", ms)
	}
	if _, err := e.tool.Members(e.ctx, e.reg, e.p.URL("/courses/nope/memberships")); !errs.Is(err, errs.Unavailable) {
		t.Errorf("unknown course: %v", err)
	}
}

func TestNextLink(t *testing.T) {
	base := "https://lms.example/c/1/members?page=1"
	tests := []struct {
		links []string
		want  string
	}{
		{nil, ""},
		{[]string{`<https://lms.example/c/1/members?page=2>; rel="next"`}, "https://lms.example/c/1/members?page=2"},
		{[]string{`</c/1/members?page=2>; rel=next`}, "https://lms.example/c/1/members?page=2"},
		{[]string{`<https://lms.example/d>; rel="differences", <https://lms.example/n>; rel="next"`}, "https://lms.example/n"},
		{[]string{`<https://lms.example/d>; rel="differences"`, `<https://lms.example/n>; rel="last next"`}, "https://lms.example/n"},
		{[]string{`<https://lms.example/p>; rel="prev"`}, ""},
		{[]string{`garbage`}, ""},
	}
	for _, tc := range tests {
		if got := nextLink(base, tc.links); got != tc.want {
			t.Errorf("nextLink(%q) = %q, want %q", tc.links, got, tc.want)
		}
	}
}

func TestAccessTokenAssertion(t *testing.T) {
	e := newEnv(t)
	tok, err := e.tool.AccessToken(e.ctx, e.reg, []string{ScopeScore, ScopeLineItem})
	if err != nil || tok == "" {
		t.Fatalf("AccessToken: %q, %v", tok, err)
	}
	again, err := e.tool.AccessToken(e.ctx, e.reg, []string{ScopeLineItem, ScopeScore})
	if err != nil || again != tok || e.p.TokensIssued() != 1 {
		t.Errorf("the token was not reused: %q vs %q, %d issued", again, tok, e.p.TokensIssued())
	}
	// Near expiry, a new one is fetched.
	e.clock.Add(time.Hour - 30*time.Second)
	if again, err = e.tool.AccessToken(e.ctx, e.reg, []string{ScopeScore, ScopeLineItem}); err != nil || again == tok {
		t.Errorf("no fresh token near expiry: %v", err)
	}

	// A platform that does not find Margin's key refuses, and says why.
	bad := e.p.AddClient(e.tool.URL(LoginPath), e.tool.URL(LaunchPath), e.p.URL("/jwks"))
	reg, err := e.tool.Register(e.ctx, RegistrationInput{Issuer: e.p.Issuer, ClientID: bad.ID, AuthURL: e.p.URL("/auth"),
		TokenURL: e.p.URL("/token"), JWKSURL: e.p.URL("/jwks"), DeploymentIDs: []string{bad.DeploymentID}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.tool.AccessToken(e.ctx, reg, []string{ScopeScore})
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("assertion against the wrong JWKS: %v", err)
	}
	mustContain(t, err.Error(), "invalid_client")
	// A scope the platform did not grant is refused.
	bad.Scopes = nil
	_, err = e.tool.AccessToken(e.ctx, reg, []string{ScopeScore})
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("ungranted scope: %v", err)
	}
}

func TestAGS(t *testing.T) {
	e := newEnv(t)
	lineItems := e.p.URL("/courses/c1/lineitems")
	want := LineItem{Label: "Essay 1", ScoreMaximum: 12, ResourceLinkID: "link-a", ResourceID: "asg-9"}
	li, err := e.tool.FindOrCreateLineItem(e.ctx, e.reg, lineItems, want)
	if err != nil || li.ID == "" || li.ScoreMaximum != 12 {
		t.Fatalf("create: %+v, %v", li, err)
	}
	again, err := e.tool.FindOrCreateLineItem(e.ctx, e.reg, lineItems, want)
	if err != nil || again.ID != li.ID || len(e.p.Course("c1").LineItems) != 1 {
		t.Fatalf("find: %+v, %v (%d line items)", again, err, len(e.p.Course("c1").LineItems))
	}
	if _, err := e.tool.FindOrCreateLineItem(e.ctx, e.reg, lineItems, LineItem{Label: "x"}); !errs.Is(err, errs.Invalid) {
		t.Errorf("line item without maximum: %v", err)
	}

	at := e.clock.Now()
	post := func(given float64, at time.Time) error {
		return e.tool.PostScore(e.ctx, e.reg, li.ID, GradedScore(student1.ID, given, 12, "See your feedback", at))
	}
	if err := post(9.5, at); err != nil {
		t.Fatal(err)
	}
	got := e.p.Scores("c1", li.ID)
	if len(got) != 1 || *got[0].ScoreGiven != 9.5 || *got[0].ScoreMaximum != 12 || got[0].UserID != student1.ID ||
		got[0].ActivityProgress != "Completed" || got[0].GradingProgress != "FullyGraded" || got[0].Comment != "See your feedback" {
		t.Fatalf("received %+v", got)
	}

	// Two failures, then success: retried within one call.
	e.p.FailScores = 2
	if err := post(10, at.Add(time.Minute)); err != nil {
		t.Fatalf("post after two 503s: %v", err)
	}
	if n := len(e.p.Scores("c1", li.ID)); n != 2 {
		t.Fatalf("%d scores received", n)
	}
	// Failing every try: the error says what the platform said.
	e.p.FailScores = len(scoreRetries)
	err = post(11, at.Add(2*time.Minute))
	if !errs.Is(err, errs.Unavailable) || !retryable(err) {
		t.Fatalf("post that always fails: %v", err)
	}
	mustContain(t, err.Error(), "503")
	// A refusal that retrying cannot fix is not retried.
	e.p.FailScores, e.p.FailScoresStatus = 1, http.StatusBadRequest
	if err := post(11, at.Add(2*time.Minute)); !errs.Is(err, errs.Unavailable) || retryable(err) || e.p.FailScores != 0 {
		t.Fatalf("400: %v", err)
	}
	if err := post(11, at.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A score for someone not in the course is refused by the platform.
	err = e.tool.PostScore(e.ctx, e.reg, li.ID, GradedScore("stranger", 1, 12, "", at))
	if statusOf(err) != http.StatusUnprocessableEntity {
		t.Errorf("stranger: %v", err)
	}
	if gb := e.p.Gradebook("c1", li.ID); *gb[student1.ID].ScoreGiven != 11 {
		t.Errorf("gradebook = %+v", gb)
	}
}

func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	kids := func() []string {
		b, err := e.tool.JWKS(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(b, &set); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range set.Keys {
			if !k.IsPublic() || k.Use != "sig" || k.Algorithm != "RS256" {
				t.Fatalf("published key %s: public %v, use %q, alg %q", k.KeyID, k.IsPublic(), k.Use, k.Algorithm)
			}
			out = append(out, k.KeyID)
		}
		if strings.Contains(string(b), `"d"`) {
			t.Fatal("the JWKS holds a private key")
		}
		return out
	}
	signer := func() string {
		ks, err := e.tool.keyset(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := ks.current(e.clock.Now())
		return k.kid
	}
	first := kids()
	if len(first) != 2 || signer() != first[0] {
		t.Fatalf("a new tool publishes %v and signs with %s; want the signing key and the next", first, signer())
	}
	// A rotation period later the next key signs; the old one stays.
	e.clock.Add(24*time.Hour + time.Second)
	second := kids()
	if len(second) != 3 || signer() != first[1] || second[0] != first[0] || second[1] != first[1] {
		t.Fatalf("after rotation: published %v, signing %s (before: %v)", second, signer(), first)
	}
	// The platform accepts an assertion signed by the new key right away.
	if _, err := e.tool.AccessToken(e.ctx, e.reg, []string{ScopeScore}); err != nil {
		t.Fatalf("token after rotation: %v", err)
	}
	// Until every token the old key signed has expired, it is published.
	e.clock.Add(e.tool.retention() - 2*time.Second)
	if got := kids(); len(got) != 3 || got[0] != first[0] {
		t.Fatalf("the old key went before its tokens expired: %v", got)
	}
	e.clock.Add(2 * time.Second)
	third := kids()
	if len(third) != 2 || third[0] != first[1] {
		t.Fatalf("the old key is still published after its tokens expired: %v", third)
	}
	// On demand: the next key signs now, a new next key is published.
	if err := e.tool.RotateKeys(e.ctx); err != nil {
		t.Fatal(err)
	}
	fourth := kids()
	if len(fourth) != 3 || signer() != third[1] || fourth[0] != third[0] {
		t.Fatalf("after RotateKeys: %v, signing %s", fourth, signer())
	}
	// Another process sees the same keys.
	other, err := New(e.tool.db, e.tool.cfg, WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := e.tool.JWKS(e.ctx)
	b2, _ := other.JWKS(e.ctx)
	if string(b1) != string(b2) {
		t.Errorf("two processes publish different keys:\n%s\n%s", b1, b2)
	}
}

func TestDynamicRegistration(t *testing.T) {
	e := newEnv(t)
	p := ltitest.New(t)
	p.Now = e.clock.Now
	reg, err := e.tool.RegisterDynamic(e.ctx, p.OpenIDConfigurationURL(), p.RegistrationToken)
	if err != nil {
		t.Fatalf("RegisterDynamic: %v", err)
	}
	clients := p.Clients()
	if len(clients) != 1 {
		t.Fatalf("the platform has %d clients", len(clients))
	}
	c := clients[0]
	if reg.Issuer != p.Issuer || reg.ClientID != c.ID || len(reg.DeploymentIDs) != 1 || reg.DeploymentIDs[0] != c.DeploymentID ||
		reg.AuthURL != p.URL("/auth") || reg.TokenURL != p.URL("/token") || reg.JWKSURL != p.URL("/jwks") || !reg.Dynamic ||
		reg.Platform != "ltitest" || len(reg.Scopes) != 4 {
		t.Errorf("registration = %+v", reg)
	}
	if c.LoginURL != e.tool.URL(LoginPath) || c.JWKSURL != e.tool.URL(JWKSPath) || c.RedirectURIs[0] != e.tool.URL(LaunchPath) {
		t.Errorf("the platform registered %+v", c)
	}
	// The new registration launches and gets tokens.
	p.AddCourse(&ltitest.Course{ID: "c9", Title: "Biology", Members: []ltitest.Member{teacher}, Links: map[string]*ltitest.Link{"l": {ID: "l"}}})
	e.p, e.client = p, c
	l, err := e.tool.ValidateLaunch(e.ctx, e.begin(p.ResourceLinkLogin(c, "c9", "l", teacher.ID)))
	if err != nil || l.RegistrationID != reg.ID {
		t.Fatalf("launch after dynamic registration: %+v, %v", l, err)
	}
	if _, err := e.tool.AccessToken(e.ctx, reg, []string{ScopeMembership}); err != nil {
		t.Fatalf("token after dynamic registration: %v", err)
	}

	// Refusals.
	if _, err := e.tool.RegisterDynamic(e.ctx, p.OpenIDConfigurationURL(), "wrong-token"); !errs.Is(err, errs.Unavailable) {
		t.Errorf("wrong registration token: %v", err)
	}
	if _, err := e.tool.RegisterDynamic(e.ctx, "http://lms.example/.well-known/openid-configuration", ""); !errs.Is(err, errs.Invalid) {
		t.Errorf("plain http to another host: %v", err)
	}
	p.Issuer = "https://elsewhere.example"
	if _, err := e.tool.RegisterDynamic(e.ctx, p.OpenIDConfigurationURL(), p.RegistrationToken); !errs.Is(err, errs.Unprocessable) {
		t.Errorf("issuer on another host: %v", err)
	}
	if n := len(p.Clients()); n != 1 {
		t.Errorf("refused registrations left %d clients", n)
	}
}

func TestManualRegistration(t *testing.T) {
	e := newEnv(t)
	good := RegistrationInput{Issuer: "https://canvas.instructure.com", ClientID: "10000000000042",
		AuthURL: "https://sso.canvaslms.com/api/lti/authorize_redirect", TokenURL: "https://sso.canvaslms.com/login/oauth2/token",
		JWKSURL: "https://sso.canvaslms.com/api/lti/security/jwks", DeploymentIDs: []string{"1:abc"}}
	tests := []struct {
		name   string
		change func(*RegistrationInput)
		field  string
	}{
		{"issuer not https", func(in *RegistrationInput) { in.Issuer = "http://canvas.instructure.com" }, "issuer"},
		{"no client ID", func(in *RegistrationInput) { in.ClientID = "" }, "client_id"},
		{"auth URL relative", func(in *RegistrationInput) { in.AuthURL = "/authorize" }, "auth_url"},
		{"token URL with fragment", func(in *RegistrationInput) { in.TokenURL += "#x" }, "token_url"},
		{"JWKS URL with credentials", func(in *RegistrationInput) { in.JWKSURL = "https://u:p@x.example/jwks" }, "jwks_url"},
		{"no deployments", func(in *RegistrationInput) { in.DeploymentIDs = nil }, "deployment_ids"},
		{"blank deployment", func(in *RegistrationInput) { in.DeploymentIDs = []string{"1", " "} }, "deployment_ids[1]"},
	}
	for _, tc := range tests {
		in := good
		in.DeploymentIDs = append([]string(nil), good.DeploymentIDs...)
		tc.change(&in)
		_, err := e.tool.Register(e.ctx, in)
		var l errs.List
		if !errs.Is(err, errs.Invalid) || !errors.As(err, &l) || l[0].Field != tc.field {
			t.Errorf("%s: %v, want invalid %s", tc.name, err, tc.field)
		}
	}
	r, err := e.tool.Register(e.ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	// Registering again updates the endpoints and adds deployments.
	good.DeploymentIDs = []string{"2:def"}
	good.TokenURL = "https://sso.canvaslms.com/login/oauth2/token2"
	r2, err := e.tool.Register(e.ctx, good)
	if err != nil || r2.ID != r.ID || len(r2.DeploymentIDs) != 2 || r2.TokenURL != good.TokenURL || !r2.CreatedAt.Equal(r.CreatedAt) {
		t.Fatalf("re-register: %+v, %v", r2, err)
	}
	if err := e.tool.AddDeployment(e.ctx, r.ID, "3:ghi"); err != nil {
		t.Fatal(err)
	}
	if err := e.tool.AddDeployment(e.ctx, "nope", "3:ghi"); !errs.Is(err, errs.NotFound) {
		t.Errorf("AddDeployment to nothing: %v", err)
	}
	all, err := e.tool.Registrations(e.ctx)
	if err != nil || len(all) != 2 || len(all[1].DeploymentIDs) != 3 {
		t.Errorf("Registrations = %+v, %v", all, err)
	}
}
