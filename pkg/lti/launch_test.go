package lti

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/lti/ltitest"
)

func TestLaunchResourceLink(t *testing.T) {
	e := newEnv(t)
	l, err := e.launch("link-a", student1.ID)
	if err != nil {
		t.Fatalf("ValidateLaunch: %v", err)
	}
	want := Launch{
		RegistrationID: e.reg.ID, Issuer: e.p.Issuer, ClientID: e.client.ID, DeploymentID: e.client.DeploymentID,
		MessageType: MessageResourceLink, Subject: student1.ID, Role: RoleStudent,
		Name: "Sam One", GivenName: "Sam", FamilyName: "One", Email: "sam@school.example", SourcedID: "SIS-001",
		Context: Context{ID: "c1", Label: "ENG10", Title: "English 10"}, ResourceLink: ResourceLink{ID: "link-a", Title: "Essay 1"},
	}
	got := *l
	if got.RegistrationID != want.RegistrationID || got.Issuer != want.Issuer || got.ClientID != want.ClientID ||
		got.DeploymentID != want.DeploymentID || got.MessageType != want.MessageType || got.Subject != want.Subject ||
		got.Role != want.Role || got.Name != want.Name || got.GivenName != want.GivenName || got.FamilyName != want.FamilyName ||
		got.Email != want.Email || got.SourcedID != want.SourcedID || got.Context.ID != "c1" || got.Context.Title != "English 10" ||
		got.ResourceLink != want.ResourceLink {
		t.Errorf("launch = %+v\nwant %+v", got, want)
	}
	if l.NRPS == nil || l.NRPS.MembershipsURL != e.p.URL("/courses/c1/memberships") {
		t.Errorf("NRPS = %+v", l.NRPS)
	}
	if l.AGS == nil || l.AGS.LineItems != e.p.URL("/courses/c1/lineitems") || !slices.Contains(l.AGS.Scope, ScopeScore) {
		t.Errorf("AGS = %+v", l.AGS)
	}
	if l.TargetLinkURI != e.tool.URL(LaunchPath) || l.ExpiresAt.Before(e.clock.Now()) {
		t.Errorf("target %q, expires %v", l.TargetLinkURI, l.ExpiresAt)
	}

	// A learner whose platform shares no name or email gets none.
	l2, err := e.launch("link-a", student2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if l2.Name != "" || l2.Email != "" || l2.SourcedID != "" || l2.Role != RoleStudent {
		t.Errorf("anonymous-ish launch = %+v", l2)
	}
	l3, err := e.launch("link-a", teacher.ID)
	if err != nil || l3.Role != RoleTeacher {
		t.Fatalf("teacher launch: %+v, %v", l3, err)
	}
	if l.ContextKey() != l3.ContextKey() || l.ContextKey() == ContextKey(e.p.Issuer, "other-deployment", "c1") {
		t.Error("ContextKey is not per (issuer, deployment, context)")
	}
}

func TestLaunchRefusals(t *testing.T) {
	e := newEnv(t)
	rl := func() ltitest.Login { return e.p.ResourceLinkLogin(e.client, "c1", "link-a", student1.ID) }
	tampered := func(ts ...ltitest.Tamper) func() error {
		return func() error { _, err := e.tool.ValidateLaunch(e.ctx, e.begin(rl(), ts...)); return err }
	}
	tests := []struct {
		name  string
		do    func() error
		cause error
		code  errs.Code
	}{
		{"wrong aud", tampered(ltitest.WrongAudience), ErrAudience, errs.Unauthenticated},
		{"aud array without us", tampered(ltitest.Claim("aud", []string{"a", "b"})), ErrAudience, errs.Unauthenticated},
		{"several aud, no azp", tampered(ltitest.Claim("aud", []string{e.client.ID, "other"})), ErrAudience, errs.Unauthenticated},
		{"azp not us", tampered(ltitest.Claim("aud", []string{e.client.ID, "other"}), ltitest.Claim("azp", "other")), ErrAudience, errs.Unauthenticated},
		{"wrong issuer", tampered(ltitest.Claim("iss", "https://evil.example")), ErrIssuer, errs.Unauthenticated},
		{"expired", tampered(ltitest.Expired), ErrExpired, errs.Unauthenticated},
		{"no exp", tampered(ltitest.Claim("exp", nil)), ErrExpired, errs.Unauthenticated},
		{"iat in the future", tampered(ltitest.Claim("iat", time.Now().Add(10*time.Minute).Unix())), ErrIssuedAt, errs.Unauthenticated},
		{"no iat", tampered(ltitest.Claim("iat", nil)), ErrIssuedAt, errs.Unauthenticated},
		{"bad signature", tampered(ltitest.BadSignature), ErrSignature, errs.Unauthenticated},
		{"kid not in JWKS", tampered(ltitest.UnknownKID), ErrUnknownKey, errs.Unauthenticated},
		{"no kid", tampered(func(tok *ltitest.IDToken) { tok.KID = "" }), ErrUnknownKey, errs.Unauthenticated},
		{"unknown deployment", tampered(ltitest.LTIClaim("deployment_id", "deploy-unknown")), ErrDeployment, errs.Forbidden},
		{"no deployment", tampered(ltitest.LTIClaim("deployment_id", nil)), ErrClaims, errs.Unprocessable},
		{"LTI 1.1 version", tampered(ltitest.LTIClaim("version", "1.1")), ErrVersion, errs.Unprocessable},
		{"unknown message type", tampered(ltitest.LTIClaim("message_type", "LtiSubmissionReviewRequest")), ErrMessageType, errs.Unprocessable},
		{"no roles", tampered(ltitest.LTIClaim("roles", nil)), ErrClaims, errs.Unprocessable},
		{"no resource link", tampered(ltitest.LTIClaim("resource_link", nil)), ErrClaims, errs.Unprocessable},
		{"no sub", tampered(ltitest.Claim("sub", nil)), ErrClaims, errs.Unprocessable},
		{"no nonce", tampered(ltitest.Claim("nonce", nil)), ErrNonce, errs.Unauthenticated},
		{"nonce of another login", tampered(ltitest.Claim("nonce", "made-up")), ErrNonce, errs.Unauthenticated},
		{"deep linking without settings", func() error {
			login := e.p.DeepLinkingLogin(e.client, "c1", teacher.ID)
			_, err := e.tool.ValidateLaunch(e.ctx, e.begin(login, ltitest.Claim("https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings", nil)))
			return err
		}, ErrClaims, errs.Unprocessable},
		{"state does not match the cookie", func() error {
			req := e.begin(rl())
			other := e.begin(rl())
			req.StateCookie = other.StateCookie
			_, err := e.tool.ValidateLaunch(e.ctx, req)
			return err
		}, ErrNoCookie, errs.Unauthenticated},
		{"no state cookie", func() error {
			req := e.begin(rl())
			req.StateCookie = ""
			_, err := e.tool.ValidateLaunch(e.ctx, req)
			return err
		}, ErrNoCookie, errs.Unauthenticated},
		{"state Margin never issued", func() error {
			req := e.begin(rl())
			req.State, req.StateCookie = "forged", "forged"
			_, err := e.tool.ValidateLaunch(e.ctx, req)
			return err
		}, ErrStateUnknown, errs.Unauthenticated},
		{"state expired", func() error {
			req := e.begin(rl())
			e.clock.Add(stateTTL + time.Second)
			defer e.clock.Add(-stateTTL - time.Second)
			_, err := e.tool.ValidateLaunch(e.ctx, req)
			return err
		}, ErrStateUnknown, errs.Unauthenticated},
		{"the same post again", func() error {
			req := e.begin(rl())
			if _, err := e.tool.ValidateLaunch(e.ctx, req); err != nil {
				t.Fatalf("first launch: %v", err)
			}
			_, err := e.tool.ValidateLaunch(e.ctx, req)
			return err
		}, ErrStateUnknown, errs.Unauthenticated},
		{"replayed nonce under a fresh state", func() error {
			first := e.begin(rl())
			if _, err := e.tool.ValidateLaunch(e.ctx, first); err != nil {
				t.Fatalf("first launch: %v", err)
			}
			// An attacker with the used id_token starts a login of their own.
			fresh := e.begin(rl())
			fresh.IDToken = first.IDToken
			_, err := e.tool.ValidateLaunch(e.ctx, fresh)
			return err
		}, ErrReplay, errs.Unauthenticated},
		{"not a JWT", func() error {
			req := e.begin(rl())
			req.IDToken = "not.a.jwt"
			_, err := e.tool.ValidateLaunch(e.ctx, req)
			return err
		}, ErrMalformed, errs.Invalid},
		{"platform error", func() error {
			_, err := e.tool.ValidateLaunch(e.ctx, LaunchRequest{Error: "login_required", ErrorDescription: "not signed in"})
			return err
		}, ErrPlatformRefused, errs.Unauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if err == nil {
				t.Fatal("launch accepted")
			}
			if !errors.Is(err, tc.cause) || errs.CodeOf(err) != tc.code {
				t.Fatalf("err = %v (code %s), want cause %v and code %s", err, errs.CodeOf(err), tc.cause, tc.code)
			}
			var ee *errs.Error
			if !errors.As(err, &ee) || len(ee.Message) < 40 {
				t.Errorf("the refusal does not tell the user what to do: %q", ee.Message)
			}
		})
	}
	// After all that, an honest launch still goes through.
	if _, err := e.launch("link-a", student1.ID); err != nil {
		t.Fatalf("honest launch after refusals: %v", err)
	}
}

// The platform rotates its key: Margin refetches its JWKS on the unknown
// kid, at most once a minute.
func TestPlatformKeyRotation(t *testing.T) {
	e := newEnv(t)
	if _, err := e.launch("link-a", student1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.launch("link-a", student1.ID); err != nil || e.p.JWKSFetches() != 1 {
		t.Fatalf("second launch: %v; JWKS fetched %d times, want once (cached)", err, e.p.JWKSFetches())
	}
	e.clock.Add(2 * jwksMinRefetch)
	e.p.RotateKey()
	if _, err := e.launch("link-a", student1.ID); err != nil || e.p.JWKSFetches() != 2 {
		t.Fatalf("launch with the platform's new key: %v; %d fetches", err, e.p.JWKSFetches())
	}
	// Right after a fetch, a kid it lacks does not make Margin fetch again.
	if _, err := e.launch("link-a", student1.ID, ltitest.UnknownKID); !errors.Is(err, ErrUnknownKey) || e.p.JWKSFetches() != 2 {
		t.Fatalf("unknown kid within the minute: %v; %d fetches", err, e.p.JWKSFetches())
	}
	// After a day the set is refetched even for a known kid.
	e.clock.Add(jwksMaxAge)
	if _, err := e.launch("link-a", student1.ID); err != nil || e.p.JWKSFetches() != 3 {
		t.Fatalf("after a day: %v; %d fetches", err, e.p.JWKSFetches())
	}
}

func TestLoginRefusals(t *testing.T) {
	e := newEnv(t)
	good := e.p.ResourceLinkLogin(e.client, "c1", "link-a", student1.ID).Values
	with := func(k, v string) url.Values {
		q := url.Values{}
		for kk, vv := range good {
			q[kk] = vv
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	tests := []struct {
		name string
		q    url.Values
		code errs.Code
	}{
		{"no iss", with("iss", ""), errs.Invalid},
		{"no login_hint", with("login_hint", ""), errs.Invalid},
		{"no target", with("target_link_uri", ""), errs.Invalid},
		{"target elsewhere", with("target_link_uri", "https://evil.example/lti/launch"), errs.Invalid},
		{"unknown issuer", with("iss", "https://unknown.example"), errs.NotFound},
		{"unknown client", with("client_id", "nobody"), errs.NotFound},
		{"unknown deployment", with("lti_deployment_id", "nope"), errs.Forbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.tool.Login(e.ctx, LoginRequestFrom(tc.q))
			if errs.CodeOf(err) != tc.code {
				t.Fatalf("Login: %v, want %s", err, tc.code)
			}
		})
	}
	// Without client_id, the issuer's only registration is used.
	red, err := e.tool.Login(e.ctx, LoginRequestFrom(with("client_id", "")))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(red.URL)
	q := u.Query()
	if q.Get("client_id") != e.client.ID || q.Get("redirect_uri") != e.tool.URL(LaunchPath) || q.Get("lti_message_hint") != good.Get("lti_message_hint") ||
		q.Get("prompt") != "none" || q.Get("response_mode") != "form_post" || q.Get("nonce") == "" || q.Get("state") != red.Cookie.Value {
		t.Errorf("authentication request = %v", q)
	}
	if red.Cookie.SameSite != http.SameSiteLaxMode || red.Cookie.Secure || red.Cookie.Path != LaunchPath {
		t.Errorf("cookie on http = %+v", red.Cookie)
	}
}

func TestMarginRole(t *testing.T) {
	tests := []struct {
		roles []string
		want  Role
	}{
		{[]string{RoleInstructorURI}, RoleTeacher},
		{[]string{RoleLearnerURI}, RoleStudent},
		{[]string{"Instructor"}, RoleTeacher},
		{[]string{"Learner"}, RoleStudent},
		{[]string{"http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"}, RoleTeacher},
		{[]string{"http://purl.imsglobal.org/vocab/lis/v2/membership#ContentDeveloper"}, RoleTeacher},
		{[]string{RoleLearnerURI, RoleInstructorURI}, RoleTeacher},
		{[]string{"http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student", RoleLearnerURI}, RoleStudent},
		{[]string{"http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"}, RoleTeacher},
		{[]string{"http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator", RoleLearnerURI}, RoleStudent},
		{[]string{"http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"}, RoleNone},
		{[]string{"http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student"}, RoleNone},
		{[]string{"http://example.com/custom#Instructor"}, RoleNone},
		{nil, RoleNone},
	}
	for _, tc := range tests {
		if got := MarginRole(tc.roles); got != tc.want {
			t.Errorf("MarginRole(%v) = %q, want %q", tc.roles, got, tc.want)
		}
	}
}

func TestSweep(t *testing.T) {
	e := newEnv(t)
	if _, err := e.launch("link-a", student1.ID); err != nil {
		t.Fatal(err)
	}
	e.begin(e.p.ResourceLinkLogin(e.client, "c1", "link-a", student2.ID)) // never completed
	count := func(col string) int64 {
		n, err := e.tool.col(col).CountDocuments(e.ctx, map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count(colStates) != 1 || count(colNonces) != 1 {
		t.Fatalf("before: %d states, %d nonce buckets", count(colStates), count(colNonces))
	}
	if err := e.tool.Sweep(e.ctx); err != nil || count(colStates) != 1 || count(colNonces) != 1 {
		t.Fatalf("a sweep right away removed live state: %v", err)
	}
	e.clock.Add(stateTTL + time.Second)
	if err := e.tool.Sweep(e.ctx); err != nil || count(colStates) != 0 || count(colNonces) != 1 {
		t.Fatalf("after the state TTL: %v, %d states, %d nonce buckets", err, count(colStates), count(colNonces))
	}
	e.clock.Add(maxTokenAge + 2*time.Hour)
	if err := e.tool.Sweep(e.ctx); err != nil || count(colNonces) != 0 {
		t.Fatalf("after the token age: %v, %d nonce buckets", err, count(colNonces))
	}
}
