// Package ltitest is an LTI 1.3 platform for tests, written from the
// 1EdTech specifications (LTI Core 1.3, Security Framework 1.0, Deep
// Linking 2.0, NRPS 2.0, AGS 2.0, Dynamic Registration 1.0) and not from
// Margin's tool code: it shares no types with package lti, so a claim or
// field the tool gets wrong shows up as a failure here.
//
// A Platform is an httptest server with its own RSA key and JWKS, an
// OpenID configuration and registration endpoint, an OIDC authorization
// endpoint that answers with an auto-posting form carrying a signed
// id_token, a token endpoint that checks the tool's client assertion
// against the tool's published JWKS, NRPS memberships with paging, and
// AGS line items and scores, recording every score it receives. Tests
// shape launches (and forge them) through Tamper functions.
package ltitest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The spec's claim names, spelled out here on purpose (see package doc).
const (
	lti  = "https://purl.imsglobal.org/spec/lti/claim/"
	nrps = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
	ags  = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
	dl   = "https://purl.imsglobal.org/spec/lti-dl/claim/"

	scopeLineItem   = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
	scopeResult     = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
	scopeScore      = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
	scopeMembership = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"

	// Roles for members.
	Instructor = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
	Learner    = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
)

// User is a person on the platform.
type User struct {
	ID         string // sub and NRPS user_id
	Name       string
	GivenName  string
	FamilyName string
	Email      string
	SourcedID  string // lis person_sourcedid
}

// Member is a user's place in a course.
type Member struct {
	User
	Roles  []string
	Status string // Active, Inactive or Deleted; Active when empty
}

// Course is a context: its roster, resource links and line items.
type Course struct {
	ID, Label, Title string
	Members          []Member
	Links            map[string]*Link
	LineItems        []*LineItem
}

// Link is a resource link placed in a course.
type Link struct {
	ID, Title, URL string
	Custom         map[string]string
	LineItemID     string // its gradebook column, if any
}

// LineItem is a gradebook column and the scores it received.
type LineItem struct {
	ID             string  `json:"id"`
	ScoreMaximum   float64 `json:"scoreMaximum"`
	Label          string  `json:"label"`
	ResourceID     string  `json:"resourceId,omitempty"`
	ResourceLinkID string  `json:"resourceLinkId,omitempty"`
	Tag            string  `json:"tag,omitempty"`
	Received       []Score `json:"-"` // every score posted, in order
}

// Score is a score as the platform received it.
type Score struct {
	UserID           string   `json:"userId"`
	ScoreGiven       *float64 `json:"scoreGiven"`
	ScoreMaximum     *float64 `json:"scoreMaximum"`
	Comment          string   `json:"comment"`
	Timestamp        string   `json:"timestamp"`
	ActivityProgress string   `json:"activityProgress"`
	GradingProgress  string   `json:"gradingProgress"`
}

// Client is a tool registered with the platform.
type Client struct {
	ID           string
	DeploymentID string
	LoginURL     string
	RedirectURIs []string
	JWKSURL      string
	TargetURL    string
	Scopes       []string
	Config       map[string]any // the tool's configuration as posted
}

// Platform is a running test platform. Its fields may be changed between
// requests, under no lock, while no request is in flight.
type Platform struct {
	Server            *httptest.Server
	Issuer            string
	RegistrationToken string // the token Dynamic Registration requires
	PageSize          int    // NRPS members per page
	// FailScores makes the next n score posts answer with this status.
	FailScores       int
	FailScoresStatus int
	Now              func() time.Time

	key *rsa.PrivateKey
	kid string

	mu          sync.Mutex
	clients     map[string]*Client
	courses     map[string]*Course
	messages    map[string]*message // by lti_message_hint
	tampers     map[string][]Tamper // by lti_message_hint
	tokens      map[string][]string // access token → scopes
	jwksFetches int
	jtis        map[string]bool
	seq         int
	// DeepLinkReturns are the content items of every deep linking response
	// the platform accepted.
	deepLinks []map[string]any
}

type message struct {
	typ, courseID, linkID, userID, clientID, deploymentID, data string
}

// New starts a platform for the test; it stops when the test ends.
func New(t testing.TB) *Platform {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &Platform{
		key: key, kid: "platform-" + randomID(), PageSize: 50, RegistrationToken: "reg-" + randomID(),
		FailScoresStatus: http.StatusServiceUnavailable, Now: time.Now,
		clients: map[string]*Client{}, courses: map[string]*Course{}, messages: map[string]*message{},
		tokens: map[string][]string{}, jtis: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.openIDConfiguration)
	mux.HandleFunc("POST /register", p.register)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /auth", p.authorize)
	mux.HandleFunc("POST /auth", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /courses/{course}/memberships", p.memberships)
	mux.HandleFunc("GET /courses/{course}/lineitems", p.listLineItems)
	mux.HandleFunc("POST /courses/{course}/lineitems", p.createLineItem)
	mux.HandleFunc("GET /courses/{course}/lineitems/{item}", p.getLineItem)
	mux.HandleFunc("POST /courses/{course}/lineitems/{item}/scores", p.postScore)
	mux.HandleFunc("POST /deeplink/{hint}", p.deepLinkReturn)
	p.Server = httptest.NewServer(mux)
	p.Issuer = p.Server.URL
	t.Cleanup(p.Server.Close)
	return p
}

func randomID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// URL is the platform's URL for path.
func (p *Platform) URL(path string) string { return p.Server.URL + path }

// OpenIDConfigurationURL is what an admin pastes for Dynamic Registration.
func (p *Platform) OpenIDConfigurationURL() string {
	return p.URL("/.well-known/openid-configuration")
}

// AddCourse adds (or replaces) a course.
func (p *Platform) AddCourse(c *Course) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.Links == nil {
		c.Links = map[string]*Link{}
	}
	p.courses[c.ID] = c
}

// Course returns a course, for tests to inspect or change under no
// concurrent request.
func (p *Platform) Course(id string) *Course {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.courses[id]
}

// Client returns a registered tool by client ID, or nil.
func (p *Platform) Client(id string) *Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clients[id]
}

// Clients returns every registered tool.
func (p *Platform) Clients() []*Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*Client
	for _, c := range p.clients {
		out = append(out, c)
	}
	return out
}

// AddClient registers a tool by hand, as an LMS admin would, and returns
// it with its client and deployment IDs.
func (p *Platform) AddClient(loginURL, launchURL, jwksURL string) *Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := &Client{
		ID: "client-" + randomID(), DeploymentID: "deploy-" + randomID(), LoginURL: loginURL,
		RedirectURIs: []string{launchURL}, JWKSURL: jwksURL, TargetURL: launchURL,
		Scopes: []string{scopeLineItem, scopeResult, scopeScore, scopeMembership},
	}
	p.clients[c.ID] = c
	return c
}

// DeepLinkReturns returns the content items of every deep linking
// response the platform accepted.
func (p *Platform) DeepLinkReturns() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.deepLinks)
}

// Scores returns every score a line item received, in order.
func (p *Platform) Scores(courseID, lineItemID string) []Score {
	p.mu.Lock()
	defer p.mu.Unlock()
	if li := p.lineItem(courseID, lineItemID); li != nil {
		return slices.Clone(li.Received)
	}
	return nil
}

// Gradebook returns the score the platform keeps for each user on a line
// item: the one with the latest timestamp, as AGS requires.
func (p *Platform) Gradebook(courseID, lineItemID string) map[string]Score {
	out := map[string]Score{}
	for _, s := range p.Scores(courseID, lineItemID) {
		if prev, ok := out[s.UserID]; !ok || prev.Timestamp <= s.Timestamp {
			out[s.UserID] = s
		}
	}
	return out
}

func (p *Platform) lineItem(courseID, id string) *LineItem {
	c := p.courses[courseID]
	if c == nil {
		return nil
	}
	for _, li := range c.LineItems {
		if li.ID == id {
			return li
		}
	}
	return nil
}

// ---- OpenID configuration, Dynamic Registration, JWKS ----

func (p *Platform) openIDConfiguration(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.Issuer,
		"authorization_endpoint":                p.URL("/auth"),
		"token_endpoint":                        p.URL("/token"),
		"jwks_uri":                              p.URL("/jwks"),
		"registration_endpoint":                 p.URL("/register"),
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS256"},
		"id_token_signing_alg_values_supported":            []string{"RS256"},
		"scopes_supported":                                 []string{"openid", scopeLineItem, scopeResult, scopeScore, scopeMembership},
		"response_types_supported":                         []string{"id_token"},
		"subject_types_supported":                          []string{"public", "pairwise"},
		"claims_supported":                                 []string{"sub", "iss", "name", "given_name", "family_name", "email"},
		"https://purl.imsglobal.org/spec/lti-platform-configuration": map[string]any{
			"product_family_code": "ltitest", "version": "1.0",
			"messages_supported": []map[string]any{{"type": "LtiResourceLinkRequest"}, {"type": "LtiDeepLinkingRequest"}},
		},
	})
}

// register implements the platform side of Dynamic Registration 1.0 §3.4-3.6.
func (p *Platform) register(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+p.RegistrationToken {
		oauthError(w, http.StatusUnauthorized, "invalid_token", "registration token missing or wrong")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "content type must be application/json")
		return
	}
	var cfg map[string]any
	if err := json.NewDecoder(r.Body).Decode(&cfg); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", err.Error())
		return
	}
	str := func(k string) string { s, _ := cfg[k].(string); return s }
	strs := func(v any) []string {
		var out []string
		a, _ := v.([]any)
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	toolCfg, _ := cfg["https://purl.imsglobal.org/spec/lti-tool-configuration"].(map[string]any)
	var problems []string
	if str("application_type") != "web" {
		problems = append(problems, "application_type must be web")
	}
	if !slices.Contains(strs(cfg["response_types"]), "id_token") {
		problems = append(problems, "response_types must include id_token")
	}
	if g := strs(cfg["grant_types"]); !slices.Contains(g, "implicit") || !slices.Contains(g, "client_credentials") {
		problems = append(problems, "grant_types must include implicit and client_credentials")
	}
	if str("token_endpoint_auth_method") != "private_key_jwt" {
		problems = append(problems, "token_endpoint_auth_method must be private_key_jwt")
	}
	redirects := strs(cfg["redirect_uris"])
	if len(redirects) == 0 || str("initiate_login_uri") == "" || str("jwks_uri") == "" {
		problems = append(problems, "redirect_uris, initiate_login_uri and jwks_uri are required")
	}
	if toolCfg == nil {
		problems = append(problems, "the lti-tool-configuration claim is required")
	} else {
		tl, _ := toolCfg["target_link_uri"].(string)
		domain, _ := toolCfg["domain"].(string)
		if u, err := url.Parse(tl); err != nil || u.Host != domain {
			problems = append(problems, "target_link_uri must be on the tool's domain")
		}
	}
	if len(problems) > 0 {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", strings.Join(problems, "; "))
		return
	}
	var scopes []string
	for _, s := range strings.Fields(str("scope")) {
		if slices.Contains([]string{scopeLineItem, scopeResult, scopeScore, scopeMembership}, s) {
			scopes = append(scopes, s)
		}
	}
	p.mu.Lock()
	c := &Client{
		ID: "client-" + randomID(), DeploymentID: "deploy-" + randomID(), LoginURL: str("initiate_login_uri"),
		RedirectURIs: redirects, JWKSURL: str("jwks_uri"), TargetURL: toolCfg["target_link_uri"].(string), Scopes: scopes, Config: cfg,
	}
	p.clients[c.ID] = c
	p.mu.Unlock()
	cfg["client_id"] = c.ID
	cfg["scope"] = strings.Join(scopes, " ")
	toolCfg["deployment_id"] = c.DeploymentID
	writeJSON(w, http.StatusOK, cfg)
}

func (p *Platform) jwks(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: p.kid, Algorithm: "RS256", Use: "sig"}}}
	p.jwksFetches++
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, set)
}

// JWKSFetches counts how often the platform's JWKS was fetched.
func (p *Platform) JWKSFetches() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.jwksFetches
}

// RotateKey replaces the platform's signing key with a new one under a
// new kid; the old key leaves its JWKS at once.
func (p *Platform) RotateKey() {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	p.mu.Lock()
	p.key, p.kid = key, "platform-"+randomID()
	p.mu.Unlock()
}

// ---- Launches ----

// Login is the third-party login initiation the platform sends the tool:
// the query for the tool's login URL.
type Login struct {
	URL    string     // the tool's login initiation URL
	Values url.Values // iss, login_hint, target_link_uri, lti_message_hint, client_id, lti_deployment_id
}

// ResourceLinkLogin starts a resource link launch of user into a course's
// link, as clicking the link in the course would.
func (p *Platform) ResourceLinkLogin(c *Client, courseID, linkID, userID string) Login {
	p.mu.Lock()
	target := c.TargetURL
	if l := p.courses[courseID].Links[linkID]; l != nil && l.URL != "" {
		target = l.URL
	}
	p.mu.Unlock()
	return p.login(c, &message{typ: "LtiResourceLinkRequest", courseID: courseID, linkID: linkID, userID: userID}, target)
}

// DeepLinkingLogin starts a deep linking launch of user from a course's
// assignment editor.
func (p *Platform) DeepLinkingLogin(c *Client, courseID, userID string) Login {
	return p.login(c, &message{typ: "LtiDeepLinkingRequest", courseID: courseID, userID: userID, data: "dl-" + randomID()}, c.TargetURL)
}

func (p *Platform) login(c *Client, m *message, target string) Login {
	hint := randomID()
	m.clientID, m.deploymentID = c.ID, c.DeploymentID
	p.mu.Lock()
	p.messages[hint] = m
	p.mu.Unlock()
	return Login{URL: c.LoginURL, Values: url.Values{
		"iss": {p.Issuer}, "login_hint": {m.userID}, "target_link_uri": {target},
		"lti_message_hint": {hint}, "client_id": {c.ID}, "lti_deployment_id": {c.DeploymentID},
	}}
}

// IDToken is a launch being built: the claims the platform will sign, and
// how. Tamper functions change it to forge launches.
type IDToken struct {
	Claims map[string]any
	Key    *rsa.PrivateKey
	KID    string
}

// Tamper changes a launch before it is signed.
type Tamper func(*IDToken)

// Forgeries for refusal tests.
var (
	WrongAudience = func(t *IDToken) { t.Claims["aud"] = "someone-else" }
	Expired       = func(t *IDToken) {
		t.Claims["iat"] = time.Now().Add(-2 * time.Hour).Unix()
		t.Claims["exp"] = time.Now().Add(-time.Hour).Unix()
	}
	// BadSignature signs with another key under the platform's kid.
	BadSignature = func(t *IDToken) { t.Key = otherKey() }
	// UnknownKID signs with another key under a kid the JWKS lacks.
	UnknownKID = func(t *IDToken) { t.Key, t.KID = otherKey(), "not-published" }
)

// Claim sets a claim (nil deletes it).
func Claim(name string, v any) Tamper {
	return func(t *IDToken) {
		if v == nil {
			delete(t.Claims, name)
			return
		}
		t.Claims[name] = v
	}
}

// LTIClaim sets a claim of the LTI core namespace, e.g. "version".
func LTIClaim(name string, v any) Tamper { return Claim(lti+name, v) }

var (
	otherOnce sync.Once
	other     *rsa.PrivateKey
)

func otherKey() *rsa.PrivateKey {
	otherOnce.Do(func() { other, _ = rsa.GenerateKey(rand.Reader, 2048) })
	return other
}

var formPage = template.Must(template.New("form").Parse(`<!doctype html><html><body onload="document.forms[0].submit()">
<form method="post" action="{{.Action}}">{{range $k, $v := .Fields}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}</form></body></html>`))

// authorize is the OIDC authorization endpoint (LTI Core 1.3 §5.1.1.2-3):
// it answers with a form that posts id_token and state to the redirect
// URI. Tamper functions registered with Authorize shape the token.
func (p *Platform) authorize(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	q := r.Form
	bad := func(msg string) { http.Error(w, msg, http.StatusBadRequest) }
	if q.Get("scope") != "openid" || q.Get("response_type") != "id_token" || q.Get("response_mode") != "form_post" || q.Get("prompt") != "none" {
		bad("scope=openid, response_type=id_token, response_mode=form_post and prompt=none are required")
		return
	}
	if q.Get("nonce") == "" || q.Get("state") == "" {
		bad("nonce and state are required")
		return
	}
	p.mu.Lock()
	m := p.messages[q.Get("lti_message_hint")]
	c := p.clients[q.Get("client_id")]
	tampers := p.tampers[q.Get("lti_message_hint")]
	p.mu.Unlock()
	if c == nil {
		bad("unknown client_id")
		return
	}
	if !slices.Contains(c.RedirectURIs, q.Get("redirect_uri")) {
		bad("redirect_uri is not registered for this client")
		return
	}
	if m == nil || m.userID != q.Get("login_hint") || m.clientID != c.ID {
		bad("login_hint or lti_message_hint does not match a launch")
		return
	}
	tok, err := p.idToken(m, c, q.Get("nonce"))
	if err != nil {
		bad(err.Error())
		return
	}
	for _, t := range tampers {
		t(tok)
	}
	signed, err := sign(tok)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = formPage.Execute(w, map[string]any{"Action": q.Get("redirect_uri"), "Fields": map[string]string{"id_token": signed, "state": q.Get("state")}})
}

// Tamper makes the launch started by login be shaped by ts.
func (p *Platform) Tamper(l Login, ts ...Tamper) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tampers == nil {
		p.tampers = map[string][]Tamper{}
	}
	p.tampers[l.Values.Get("lti_message_hint")] = ts
}

func sign(t *IDToken) (string, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: t.Key, KeyID: t.KID}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	return jwt.Signed(s).Claims(t.Claims).Serialize()
}

// idToken builds the claims of a launch message (LTI Core 1.3 §5.3-5.4,
// Deep Linking 2.0 §4.4, NRPS §3.6, AGS §3.1).
func (p *Platform) idToken(m *message, c *Client, nonce string) (*IDToken, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	course := p.courses[m.courseID]
	if course == nil {
		return nil, fmt.Errorf("no course %q", m.courseID)
	}
	var member *Member
	for i := range course.Members {
		if course.Members[i].ID == m.userID {
			member = &course.Members[i]
		}
	}
	if member == nil {
		return nil, fmt.Errorf("%q is not in course %q", m.userID, m.courseID)
	}
	now := p.Now()
	claims := map[string]any{
		"iss": p.Issuer, "aud": c.ID, "sub": member.ID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "nonce": nonce,
		lti + "message_type": m.typ, lti + "version": "1.3.0", lti + "deployment_id": m.deploymentID,
		lti + "roles":               member.Roles,
		lti + "context":             map[string]any{"id": course.ID, "label": course.Label, "title": course.Title, "type": []string{"http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"}},
		lti + "tool_platform":       map[string]any{"guid": "ltitest-" + p.kid, "name": "ltitest", "product_family_code": "ltitest"},
		lti + "launch_presentation": map[string]any{"document_target": "iframe", "return_url": p.URL("/courses/" + course.ID)},
		nrps:                        map[string]any{"context_memberships_url": p.URL("/courses/" + course.ID + "/memberships"), "service_versions": []string{"2.0"}},
	}
	if member.Name != "" {
		claims["name"], claims["given_name"], claims["family_name"] = member.Name, member.GivenName, member.FamilyName
	}
	if member.Email != "" {
		claims["email"] = member.Email
	}
	if member.SourcedID != "" {
		claims[lti+"lis"] = map[string]any{"person_sourcedid": member.SourcedID}
	}
	agsClaim := map[string]any{
		"scope":     []string{scopeLineItem, scopeResult, scopeScore},
		"lineitems": p.URL("/courses/" + course.ID + "/lineitems"),
	}
	switch m.typ {
	case "LtiResourceLinkRequest":
		link := course.Links[m.linkID]
		if link == nil {
			return nil, fmt.Errorf("no link %q in course %q", m.linkID, m.courseID)
		}
		claims[lti+"resource_link"] = map[string]any{"id": link.ID, "title": link.Title}
		target := link.URL
		if target == "" {
			target = c.TargetURL
		}
		claims[lti+"target_link_uri"] = target
		if len(link.Custom) > 0 {
			claims[lti+"custom"] = link.Custom
		}
		if link.LineItemID != "" {
			agsClaim["lineitem"] = link.LineItemID
		}
	case "LtiDeepLinkingRequest":
		claims[lti+"target_link_uri"] = c.TargetURL
		claims[dl+"deep_linking_settings"] = map[string]any{
			"deep_link_return_url":                 p.URL("/deeplink/" + m.data),
			"accept_types":                         []string{"ltiResourceLink"},
			"accept_presentation_document_targets": []string{"iframe", "window"},
			"accept_multiple":                      false, "accept_lineitem": true, "auto_create": true, "data": m.data,
		}
		p.messages[m.data] = m
	}
	claims[ags] = agsClaim
	return &IDToken{Claims: claims, Key: p.key, KID: p.kid}, nil
}

// ---- Deep linking return ----

// deepLinkReturn accepts an LtiDeepLinkingResponse (Deep Linking 2.0 §4.2):
// it verifies the JWT against the tool's JWKS and adds the returned
// resource links, with their line items, to the course.
func (p *Platform) deepLinkReturn(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	m := p.messages[r.PathValue("hint")]
	p.mu.Unlock()
	if m == nil {
		http.Error(w, "unknown deep linking request", http.StatusBadRequest)
		return
	}
	c := p.Client(m.clientID)
	var claims map[string]any
	if err := p.verifyToolJWT(c, r.FormValue("JWT"), p.Issuer, &claims); err != nil {
		http.Error(w, "deep linking response: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch {
	case claims["nonce"] == nil || claims["nonce"] == "":
		http.Error(w, "nonce is required", http.StatusBadRequest)
		return
	case claims[lti+"message_type"] != "LtiDeepLinkingResponse" || claims[lti+"version"] != "1.3.0":
		http.Error(w, "wrong message type or version", http.StatusBadRequest)
		return
	case claims[lti+"deployment_id"] != m.deploymentID:
		http.Error(w, "wrong deployment_id", http.StatusBadRequest)
		return
	case claims[dl+"data"] != m.data:
		http.Error(w, "data was not echoed", http.StatusBadRequest)
		return
	}
	items, _ := claims[dl+"content_items"].([]any)
	p.mu.Lock()
	defer p.mu.Unlock()
	course := p.courses[m.courseID]
	for _, it := range items {
		item, _ := it.(map[string]any)
		if item["type"] != "ltiResourceLink" {
			http.Error(w, "only ltiResourceLink items are accepted", http.StatusBadRequest)
			return
		}
		p.seq++
		link := &Link{ID: "link-" + strconv.Itoa(p.seq), Custom: map[string]string{}}
		link.Title, _ = item["title"].(string)
		link.URL, _ = item["url"].(string)
		if cu, ok := item["custom"].(map[string]any); ok {
			for k, v := range cu {
				link.Custom[k] = fmt.Sprint(v)
			}
		}
		if li, ok := item["lineItem"].(map[string]any); ok {
			max, _ := li["scoreMaximum"].(float64)
			if max <= 0 {
				http.Error(w, "lineItem.scoreMaximum must be positive", http.StatusBadRequest)
				return
			}
			item := &LineItem{ScoreMaximum: max, ResourceLinkID: link.ID}
			item.Label, _ = li["label"].(string)
			item.ResourceID, _ = li["resourceId"].(string)
			item.Tag, _ = li["tag"].(string)
			if item.Label == "" {
				item.Label = link.Title
			}
			p.addLineItem(course, item)
			link.LineItemID = item.ID
		}
		course.Links[link.ID] = link
		p.deepLinks = append(p.deepLinks, item)
	}
	fmt.Fprintln(w, "deep linking response accepted")
}

// verifyToolJWT checks a JWT the tool signed against the tool's published
// JWKS (fetched now, over HTTP): signature, iss = client ID, aud, exp, iat.
func (p *Platform) verifyToolJWT(c *Client, raw, audience string, out any) error {
	if c == nil {
		return fmt.Errorf("unknown client")
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return fmt.Errorf("not a signed JWT: %v", err)
	}
	resp, err := http.Get(c.JWKSURL)
	if err != nil {
		return fmt.Errorf("fetch tool JWKS: %v", err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return fmt.Errorf("tool JWKS: %v", err)
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) == 0 {
		return fmt.Errorf("kid %q is not in the tool's JWKS", tok.Headers[0].KeyID)
	}
	var std jwt.Claims
	if err := tok.Claims(keys[0].Key, &std, out); err != nil {
		return fmt.Errorf("signature: %v", err)
	}
	if std.IssuedAt == nil || std.Expiry == nil {
		return fmt.Errorf("iat and exp are required")
	}
	return std.ValidateWithLeeway(jwt.Expected{Issuer: c.ID, AnyAudience: jwt.Audience{audience}, Time: p.Now()}, 5*time.Second)
}

// ---- Token endpoint ----

// token is the OAuth 2 token endpoint for the client-credentials grant
// with a JWT client assertion (Security Framework 1.0 §4.1, RFC 7523).
func (p *Platform) token(w http.ResponseWriter, r *http.Request) {
	if r.FormValue("grant_type") != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials")
		return
	}
	if r.FormValue("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "client_assertion_type must be jwt-bearer")
		return
	}
	raw := r.FormValue("client_assertion")
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	var unverified jwt.Claims
	if err != nil || tok.UnsafeClaimsWithoutVerification(&unverified) != nil {
		oauthError(w, http.StatusBadRequest, "invalid_client", "client_assertion is not a signed JWT")
		return
	}
	c := p.Client(unverified.Issuer)
	var claims jwt.Claims
	if err := p.verifyToolJWT(c, raw, p.URL("/token"), &claims); err != nil {
		oauthError(w, http.StatusUnauthorized, "invalid_client", err.Error())
		return
	}
	if claims.Subject != c.ID || claims.ID == "" {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "sub must be the client ID and jti is required")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.jtis[claims.ID] {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "jti was already used")
		return
	}
	p.jtis[claims.ID] = true
	scopes := strings.Fields(r.FormValue("scope"))
	for _, s := range scopes {
		if !slices.Contains(c.Scopes, s) {
			oauthError(w, http.StatusBadRequest, "invalid_scope", s+" is not granted to this client")
			return
		}
	}
	at := "at-" + randomID()
	p.tokens[at] = scopes
	writeJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 3600, "scope": strings.Join(scopes, " ")})
}

// TokensIssued counts the access tokens the platform has issued.
func (p *Platform) TokensIssued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.tokens)
}

// authorized checks the bearer token carries scope (any of them).
func (p *Platform) authorized(w http.ResponseWriter, r *http.Request, scopes ...string) bool {
	at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	granted, known := p.tokens[at]
	p.mu.Unlock()
	if !ok || !known {
		oauthError(w, http.StatusUnauthorized, "invalid_token", "no valid access token")
		return false
	}
	for _, s := range scopes {
		if slices.Contains(granted, s) {
			return true
		}
	}
	oauthError(w, http.StatusForbidden, "insufficient_scope", "needs "+strings.Join(scopes, " or "))
	return false
}

// ---- NRPS ----

func (p *Platform) memberships(w http.ResponseWriter, r *http.Request) {
	if !p.authorized(w, r, scopeMembership) {
		return
	}
	if !accepts(r, "application/vnd.ims.lti-nrps.v2.membershipcontainer+json") {
		http.Error(w, "Accept must name the membership container type", http.StatusNotAcceptable)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	course := p.courses[r.PathValue("course")]
	if course == nil {
		http.NotFound(w, r)
		return
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	size := max(p.PageSize, 1)
	from, to := min(page*size, len(course.Members)), min((page+1)*size, len(course.Members))
	members := []map[string]any{}
	for _, m := range course.Members[from:to] {
		status := m.Status
		if status == "" {
			status = "Active"
		}
		e := map[string]any{"user_id": m.ID, "roles": m.Roles, "status": status}
		if m.Name != "" {
			e["name"], e["given_name"], e["family_name"] = m.Name, m.GivenName, m.FamilyName
		}
		if m.Email != "" {
			e["email"] = m.Email
		}
		if m.SourcedID != "" {
			e["lis_person_sourcedid"] = m.SourcedID
		}
		members = append(members, e)
	}
	if to < len(course.Members) {
		// A relative link, to check the tool resolves it.
		w.Header().Add("Link", fmt.Sprintf(`</courses/%s/memberships?page=%d>; rel="next"`, course.ID, page+1))
	}
	w.Header().Set("Content-Type", "application/vnd.ims.lti-nrps.v2.membershipcontainer+json")
	writeJSON(w, http.StatusOK, map[string]any{
		"id":      p.URL(r.URL.RequestURI()),
		"context": map[string]any{"id": course.ID, "label": course.Label, "title": course.Title},
		"members": members,
	})
}

// ---- AGS ----

func (p *Platform) addLineItem(c *Course, li *LineItem) {
	p.seq++
	li.ID = p.URL(fmt.Sprintf("/courses/%s/lineitems/%d", c.ID, p.seq))
	c.LineItems = append(c.LineItems, li)
}

func (p *Platform) listLineItems(w http.ResponseWriter, r *http.Request) {
	if !p.authorized(w, r, scopeLineItem, "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly") {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.courses[r.PathValue("course")]
	if c == nil {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	out := []*LineItem{}
	for _, li := range c.LineItems {
		if (q.Get("resource_link_id") == "" || li.ResourceLinkID == q.Get("resource_link_id")) &&
			(q.Get("resource_id") == "" || li.ResourceID == q.Get("resource_id")) && (q.Get("tag") == "" || li.Tag == q.Get("tag")) {
			out = append(out, li)
		}
	}
	w.Header().Set("Content-Type", "application/vnd.ims.lis.v2.lineitemcontainer+json")
	writeJSON(w, http.StatusOK, out)
}

func (p *Platform) createLineItem(w http.ResponseWriter, r *http.Request) {
	if !p.authorized(w, r, scopeLineItem) {
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/vnd.ims.lis.v2.lineitem+json") {
		http.Error(w, "Content-Type must be application/vnd.ims.lis.v2.lineitem+json", http.StatusUnsupportedMediaType)
		return
	}
	var li LineItem
	if err := json.NewDecoder(r.Body).Decode(&li); err != nil || li.Label == "" || li.ScoreMaximum <= 0 {
		http.Error(w, "a line item needs a label and a positive scoreMaximum", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.courses[r.PathValue("course")]
	if c == nil {
		http.NotFound(w, r)
		return
	}
	p.addLineItem(c, &li)
	w.Header().Set("Content-Type", "application/vnd.ims.lis.v2.lineitem+json")
	writeJSON(w, http.StatusCreated, &li)
}

func (p *Platform) getLineItem(w http.ResponseWriter, r *http.Request) {
	if !p.authorized(w, r, scopeLineItem, "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly") {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	li := p.lineItem(r.PathValue("course"), p.URL(strings.TrimSuffix(r.URL.Path, "/")))
	if li == nil {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, li)
}

var timestampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$`)

// postScore is the score service (AGS 2.0 §3.4): it checks the score's
// shape and that the user is in the course, and records it.
func (p *Platform) postScore(w http.ResponseWriter, r *http.Request) {
	if !p.authorized(w, r, scopeScore) {
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/vnd.ims.lis.v1.score+json") {
		http.Error(w, "Content-Type must be application/vnd.ims.lis.v1.score+json", http.StatusUnsupportedMediaType)
		return
	}
	p.mu.Lock()
	if p.FailScores > 0 {
		p.FailScores--
		status := p.FailScoresStatus
		p.mu.Unlock()
		w.Header().Set("Retry-After", "0")
		http.Error(w, "score service failing on purpose", status)
		return
	}
	p.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	var s Score
	if err := json.Unmarshal(body, &s); err != nil {
		http.Error(w, "score: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch {
	case s.UserID == "" || !timestampRE.MatchString(s.Timestamp):
		http.Error(w, "userId and an ISO 8601 timestamp are required", http.StatusBadRequest)
		return
	case !slices.Contains([]string{"Initialized", "Started", "InProgress", "Submitted", "Completed"}, s.ActivityProgress) ||
		!slices.Contains([]string{"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"}, s.GradingProgress):
		http.Error(w, "activityProgress and gradingProgress must be from the AGS vocabulary", http.StatusBadRequest)
		return
	case s.ScoreGiven != nil && (s.ScoreMaximum == nil || *s.ScoreMaximum <= 0 || *s.ScoreGiven < 0):
		http.Error(w, "scoreGiven needs a positive scoreMaximum", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.courses[r.PathValue("course")]
	li := p.lineItem(r.PathValue("course"), p.URL(strings.TrimSuffix(strings.TrimSuffix(r.URL.Path, "/scores"), "/")))
	if c == nil || li == nil {
		http.NotFound(w, r)
		return
	}
	if !slices.ContainsFunc(c.Members, func(m Member) bool { return m.ID == s.UserID }) {
		http.Error(w, "userId is not in the course", http.StatusUnprocessableEntity)
		return
	}
	li.Received = append(li.Received, s)
	w.WriteHeader(http.StatusNoContent)
}

// ---- helpers ----

func accepts(r *http.Request, media string) bool {
	a := r.Header.Get("Accept")
	return a == "" || strings.Contains(a, media) || strings.Contains(a, "*/*")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

var (
	formRE  = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"(.*?)</form>`)
	inputRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)
)

// ParseForm reads an auto-posting form page (the platform's
// authentication response, or the tool's deep linking response): where it
// posts and what.
func ParseForm(page string) (action string, fields url.Values, err error) {
	m := formRE.FindStringSubmatch(page)
	if m == nil {
		return "", nil, fmt.Errorf("no form in %q", page)
	}
	fields = url.Values{}
	for _, in := range inputRE.FindAllStringSubmatch(m[2], -1) {
		fields.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	return html.UnescapeString(m[1]), fields, nil
}

// Authorize follows a tool's authentication request (the URL its login
// initiation redirected to) as a browser would, and returns the form the
// platform answered with. A platform refusal is an error with its text.
func Authorize(authURL string) (action string, fields url.Values, err error) {
	resp, err := http.Get(authURL)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("platform answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return ParseForm(string(b))
}
