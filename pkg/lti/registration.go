package lti

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/errs"
)

// Registration is one platform that installed Margin: an issuer and the
// client ID it gave Margin, its endpoints, and the deployments Margin
// accepts launches from.
type Registration struct {
	ID            string    `json:"id" bson:"_id"` // from Issuer and ClientID
	Issuer        string    `json:"issuer" bson:"iss"`
	ClientID      string    `json:"client_id" bson:"client_id"`
	AuthURL       string    `json:"auth_url" bson:"auth_url"`   // OIDC authorization endpoint
	TokenURL      string    `json:"token_url" bson:"token_url"` // OAuth 2 token endpoint
	JWKSURL       string    `json:"jwks_url" bson:"jwks_url"`   // the platform's public keys
	TokenAudience string    `json:"token_audience,omitempty" bson:"token_aud,omitempty"`
	DeploymentIDs []string  `json:"deployment_ids" bson:"deployments"`
	Platform      string    `json:"platform,omitempty" bson:"platform,omitempty"` // product family, when the platform said
	Dynamic       bool      `json:"dynamic" bson:"dynamic"`                       // made by Dynamic Registration
	Scopes        []string  `json:"scopes,omitempty" bson:"scopes,omitempty"`     // granted at Dynamic Registration
	CreatedAt     time.Time `json:"created_at" bson:"created_at"`
	UpdatedAt     time.Time `json:"updated_at" bson:"updated_at"`
}

// tokenAudience is the aud of Margin's client assertions.
func (r Registration) tokenAudience() string {
	if r.TokenAudience != "" {
		return r.TokenAudience
	}
	return r.TokenURL
}

// hasDeployment reports whether launches from id are accepted.
func (r Registration) hasDeployment(id string) bool { return slices.Contains(r.DeploymentIDs, id) }

// RegistrationInput is what a Margin admin enters to register a platform
// by hand, copied from the platform's tool settings.
type RegistrationInput struct {
	Issuer        string   `json:"issuer"`
	ClientID      string   `json:"client_id"`
	AuthURL       string   `json:"auth_url"`
	TokenURL      string   `json:"token_url"`
	JWKSURL       string   `json:"jwks_url"`
	TokenAudience string   `json:"token_audience,omitempty"` // when the platform wants one other than TokenURL
	DeploymentIDs []string `json:"deployment_ids"`
}

func (in RegistrationInput) validate() error {
	var l errs.List
	checkURL(&l, "issuer", in.Issuer)
	checkID(&l, "client_id", in.ClientID)
	checkURL(&l, "auth_url", in.AuthURL)
	checkURL(&l, "token_url", in.TokenURL)
	checkURL(&l, "jwks_url", in.JWKSURL)
	if in.TokenAudience != "" {
		checkID(&l, "token_audience", in.TokenAudience)
	}
	if len(in.DeploymentIDs) == 0 {
		l = append(l, errs.F(errs.Invalid, "deployment_ids", "Give at least one deployment ID; the platform shows it where Margin is installed."))
	}
	for i, d := range in.DeploymentIDs {
		checkID(&l, fmt.Sprintf("deployment_ids[%d]", i), d)
	}
	return l.Err()
}

// checkURL requires an absolute https URL, or http to this machine (for a
// platform under test), with no fragment.
func checkURL(l *errs.List, field, s string) {
	u, err := url.Parse(s)
	ok := err == nil && u.Host != "" && u.Fragment == "" && u.User == nil &&
		(u.Scheme == "https" || (u.Scheme == "http" && loopback(u.Hostname())))
	if !ok {
		*l = append(*l, errs.F(errs.Invalid, field, "%q is not an https URL.", s))
	}
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkID requires 1 to 255 printable characters.
func checkID(l *errs.List, field, s string) {
	if s == "" || len(s) > 255 || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		*l = append(*l, errs.F(errs.Invalid, field, "Give 1 to 255 printable characters."))
	}
}

// Register records a platform from values a Margin admin entered, or
// updates its endpoints and adds deployments if it is already registered.
// It returns errs.Invalid (an errs.List, one entry per bad field) for bad
// input, or an internal error if the store fails.
func (t *Tool) Register(ctx context.Context, in RegistrationInput) (Registration, error) {
	in.Issuer, in.ClientID = strings.TrimSpace(in.Issuer), strings.TrimSpace(in.ClientID)
	for i := range in.DeploymentIDs {
		in.DeploymentIDs[i] = strings.TrimSpace(in.DeploymentIDs[i])
	}
	if err := in.validate(); err != nil {
		return Registration{}, err
	}
	return t.upsertRegistration(ctx, Registration{
		Issuer: in.Issuer, ClientID: in.ClientID, AuthURL: in.AuthURL, TokenURL: in.TokenURL,
		JWKSURL: in.JWKSURL, TokenAudience: in.TokenAudience, DeploymentIDs: in.DeploymentIDs,
	})
}

func (t *Tool) upsertRegistration(ctx context.Context, r Registration) (Registration, error) {
	now := t.now().UTC()
	id := hashID(r.Issuer, r.ClientID)
	set := bson.D{
		{Key: "iss", Value: r.Issuer}, {Key: "client_id", Value: r.ClientID},
		{Key: "auth_url", Value: r.AuthURL}, {Key: "token_url", Value: r.TokenURL}, {Key: "jwks_url", Value: r.JWKSURL},
		{Key: "token_aud", Value: r.TokenAudience}, {Key: "platform", Value: r.Platform},
		{Key: "dynamic", Value: r.Dynamic}, {Key: "scopes", Value: r.Scopes}, {Key: "updated_at", Value: now},
	}
	deployments := r.DeploymentIDs
	if deployments == nil {
		deployments = []string{}
	}
	_, err := t.col(colRegistrations).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{
		{Key: "$set", Value: set},
		{Key: "$setOnInsert", Value: bson.D{{Key: "created_at", Value: now}}},
		{Key: "$addToSet", Value: bson.D{{Key: "deployments", Value: bson.D{{Key: "$each", Value: deployments}}}}},
	}, upsert())
	if err != nil {
		return Registration{}, errs.Wrap(err, "lti: save registration")
	}
	return t.Registration(ctx, id)
}

// Registration returns the registration with the given ID, or
// errs.NotFound.
func (t *Tool) Registration(ctx context.Context, id string) (Registration, error) {
	var r Registration
	err := t.col(colRegistrations).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&r)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return r, errs.E(errs.NotFound, "No LTI registration with ID %q.", id)
	}
	return r, errs.Wrap(err, "lti: read registration")
}

// registrationFor finds the registration of issuer and clientID, or of the
// issuer alone when clientID is empty and the issuer has exactly one. It
// returns errs.NotFound when there is none and errs.Invalid when the
// client ID is needed to choose.
func (t *Tool) registrationFor(ctx context.Context, issuer, clientID string) (Registration, error) {
	if clientID != "" {
		r, err := t.Registration(ctx, hashID(issuer, clientID))
		if errs.Is(err, errs.NotFound) {
			return r, errs.E(errs.NotFound, "Margin is not registered with the platform %q (client ID %q). Ask your LMS administrator to register Margin.", issuer, clientID)
		}
		return r, err
	}
	// A registration scan: an issuer has a handful at most.
	cur, err := t.col(colRegistrations).Find(ctx, bson.D{{Key: "iss", Value: issuer}})
	if err != nil {
		return Registration{}, errs.Wrap(err, "lti: find registrations")
	}
	var rs []Registration
	if err := cur.All(ctx, &rs); err != nil {
		return Registration{}, errs.Wrap(err, "lti: read registrations")
	}
	switch len(rs) {
	case 0:
		return Registration{}, errs.E(errs.NotFound, "Margin is not registered with the platform %q. Ask your LMS administrator to register Margin.", issuer)
	case 1:
		return rs[0], nil
	}
	return Registration{}, errs.F(errs.Invalid, "client_id", "The platform %q has several Margin registrations; its login request must name the client ID.", issuer)
}

// Registrations lists every registration, for the admin's page. It returns
// an internal error if the store fails.
func (t *Tool) Registrations(ctx context.Context) ([]Registration, error) {
	cur, err := t.col(colRegistrations).Find(ctx, bson.D{})
	if err != nil {
		return nil, errs.Wrap(err, "lti: list registrations")
	}
	rs := []Registration{}
	err = cur.All(ctx, &rs)
	slices.SortFunc(rs, func(a, b Registration) int { return strings.Compare(a.Issuer+a.ClientID, b.Issuer+b.ClientID) })
	return rs, errs.Wrap(err, "lti: read registrations")
}

// AddDeployment accepts launches from one more deployment of a
// registration. It returns errs.Invalid for an empty or overlong ID,
// errs.NotFound for an unknown registration, or an internal error.
func (t *Tool) AddDeployment(ctx context.Context, registrationID, deploymentID string) error {
	var l errs.List
	checkID(&l, "deployment_id", deploymentID)
	if err := l.Err(); err != nil {
		return err
	}
	res, err := t.col(colRegistrations).UpdateOne(ctx, bson.D{{Key: "_id", Value: registrationID}},
		bson.D{{Key: "$addToSet", Value: bson.D{{Key: "deployments", Value: deploymentID}}}})
	if err != nil {
		return errs.Wrap(err, "lti: add deployment")
	}
	if res.MatchedCount == 0 {
		return errs.E(errs.NotFound, "No LTI registration with ID %q.", registrationID)
	}
	return nil
}

// The scopes Margin asks for: roster reading and grade passback.
const (
	ScopeLineItem   = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
	ScopeResult     = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
	ScopeScore      = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
	ScopeMembership = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
)

var toolScopes = []string{ScopeLineItem, ScopeResult, ScopeScore, ScopeMembership}

// PlatformConfig is the part of a platform's OpenID configuration that
// Dynamic Registration reads (LTI Dynamic Registration 1.0, section 3.4).
type PlatformConfig struct {
	Issuer                       string   `json:"issuer"`
	AuthorizationEndpoint        string   `json:"authorization_endpoint"`
	TokenEndpoint                string   `json:"token_endpoint"`
	JWKSURI                      string   `json:"jwks_uri"`
	RegistrationEndpoint         string   `json:"registration_endpoint"`
	AuthorizationServer          string   `json:"authorization_server,omitempty"`
	ScopesSupported              []string `json:"scopes_supported,omitempty"`
	TokenEndpointAuthMethods     []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	TokenEndpointAuthSigningAlgs []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	IDTokenSigningAlgs           []string `json:"id_token_signing_alg_values_supported,omitempty"`
	ResponseTypesSupported       []string `json:"response_types_supported,omitempty"`
	SubjectTypesSupported        []string `json:"subject_types_supported,omitempty"`
	ClaimsSupported              []string `json:"claims_supported,omitempty"`
	LTI                          struct {
		ProductFamilyCode string `json:"product_family_code"`
		Version           string `json:"version,omitempty"`
		MessagesSupported []struct {
			Type       string   `json:"type"`
			Placements []string `json:"placements,omitempty"`
		} `json:"messages_supported"`
	} `json:"https://purl.imsglobal.org/spec/lti-platform-configuration"`
}

// ToolConfig is the client registration Margin posts to a platform
// (LTI Dynamic Registration 1.0, section 3.3).
type ToolConfig struct {
	ApplicationType         string   `json:"application_type"`
	ResponseTypes           []string `json:"response_types"`
	GrantTypes              []string `json:"grant_types"`
	InitiateLoginURI        string   `json:"initiate_login_uri"`
	RedirectURIs            []string `json:"redirect_uris"`
	ClientName              string   `json:"client_name"`
	JWKSURI                 string   `json:"jwks_uri"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	Scope                   string   `json:"scope"`
	ClientID                string   `json:"client_id,omitempty"` // in the platform's answer
	LTI                     struct {
		Domain        string            `json:"domain"`
		Description   string            `json:"description,omitempty"`
		TargetLinkURI string            `json:"target_link_uri"`
		CustomParams  map[string]string `json:"custom_parameters,omitempty"`
		Claims        []string          `json:"claims"`
		DeploymentID  string            `json:"deployment_id,omitempty"` // in the platform's answer
		Messages      []ToolMessage     `json:"messages"`
	} `json:"https://purl.imsglobal.org/spec/lti-tool-configuration"`
}

// ToolMessage is one message type Margin accepts besides the resource
// link launch.
type ToolMessage struct {
	Type           string   `json:"type"`
	TargetLinkURI  string   `json:"target_link_uri,omitempty"`
	Label          string   `json:"label,omitempty"`
	Placements     []string `json:"placements,omitempty"`
	SupportedTypes []string `json:"supported_types,omitempty"`
}

// ToolConfiguration is what Margin asks a platform to register, with the
// scopes limited to those the platform supports (all when it does not
// say).
func (t *Tool) ToolConfiguration(pc PlatformConfig) ToolConfig {
	var c ToolConfig
	c.ApplicationType = "web"
	c.ResponseTypes = []string{"id_token"}
	c.GrantTypes = []string{"implicit", "client_credentials"}
	c.InitiateLoginURI = t.URL(LoginPath)
	c.RedirectURIs = []string{t.URL(LaunchPath)}
	c.ClientName = t.cfg.ToolName
	c.JWKSURI = t.URL(JWKSPath)
	c.TokenEndpointAuthMethod = "private_key_jwt"
	scopes := toolScopes
	if len(pc.ScopesSupported) > 0 {
		scopes = nil
		for _, s := range toolScopes {
			if slices.Contains(pc.ScopesSupported, s) {
				scopes = append(scopes, s)
			}
		}
	}
	c.Scope = strings.Join(scopes, " ")
	c.LTI.Domain = t.base.Host
	c.LTI.Description = "Rubric grading with written feedback by vetted graders."
	c.LTI.TargetLinkURI = t.URL(LaunchPath)
	c.LTI.Claims = []string{"iss", "sub", "name", "given_name", "family_name", "email"}
	c.LTI.Messages = []ToolMessage{{
		Type: MessageDeepLinking, TargetLinkURI: t.URL(LaunchPath), Label: "Margin assignment",
		SupportedTypes: []string{"ltiResourceLink"},
	}}
	return c
}

// RegisterDynamic runs LTI Dynamic Registration 1.0 from the tool side:
// it fetches the platform's OpenID configuration at openidConfigURL,
// checks that the issuer lives where the configuration was served from
// and that the platform supports what Margin needs, posts Margin's tool
// configuration to the platform's registration endpoint with
// registrationToken (when given), and records the registration with the
// client ID (and deployment ID, when the platform sends one) from the
// platform's answer.
//
// It returns errs.Invalid for a URL that is not https (or http to this
// machine), errs.Unprocessable when the configuration is unusable (issuer
// on another host, an endpoint missing, no RS256 or private_key_jwt, no
// client ID in the answer), errs.Unavailable when the platform cannot be
// reached or refuses, and an internal error if the store fails.
func (t *Tool) RegisterDynamic(ctx context.Context, openidConfigURL, registrationToken string) (Registration, error) {
	var l errs.List
	checkURL(&l, "openid_configuration", openidConfigURL)
	if err := l.Err(); err != nil {
		return Registration{}, err
	}
	var pc PlatformConfig
	if err := t.getJSON(ctx, openidConfigURL, "", "application/json", &pc); err != nil {
		return Registration{}, err
	}
	if err := checkPlatformConfig(pc, openidConfigURL); err != nil {
		return Registration{}, err
	}
	tc := t.ToolConfiguration(pc)
	body, err := json.Marshal(tc)
	if err != nil {
		return Registration{}, errs.Wrap(err, "lti: encode tool configuration")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, pc.RegistrationEndpoint, strings.NewReader(string(body)))
	if err != nil {
		return Registration{}, errs.E(errs.Unprocessable, "The platform's registration endpoint %q is not a URL.", pc.RegistrationEndpoint)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if registrationToken != "" {
		req.Header.Set("Authorization", "Bearer "+registrationToken)
	}
	var answer ToolConfig
	if err := t.do(req, &answer); err != nil {
		return Registration{}, err
	}
	if answer.ClientID == "" {
		return Registration{}, errs.E(errs.Unprocessable, "The platform accepted Margin's registration but sent no client ID.")
	}
	r := Registration{
		Issuer: pc.Issuer, ClientID: answer.ClientID, AuthURL: pc.AuthorizationEndpoint,
		TokenURL: pc.TokenEndpoint, JWKSURL: pc.JWKSURI, TokenAudience: pc.AuthorizationServer,
		Platform: pc.LTI.ProductFamilyCode, Dynamic: true, Scopes: strings.Fields(answer.Scope),
	}
	if answer.LTI.DeploymentID != "" {
		r.DeploymentIDs = []string{answer.LTI.DeploymentID}
	}
	return t.upsertRegistration(ctx, r)
}

// checkPlatformConfig applies section 3.5.1 of Dynamic Registration (the
// issuer is on the host that served the configuration) and Margin's needs.
func checkPlatformConfig(pc PlatformConfig, from string) error {
	var l errs.List
	checkURL(&l, "issuer", pc.Issuer)
	checkURL(&l, "authorization_endpoint", pc.AuthorizationEndpoint)
	checkURL(&l, "token_endpoint", pc.TokenEndpoint)
	checkURL(&l, "jwks_uri", pc.JWKSURI)
	checkURL(&l, "registration_endpoint", pc.RegistrationEndpoint)
	if len(l) > 0 {
		return errs.E(errs.Unprocessable, "The platform's OpenID configuration is unusable: %s", l[0].Message+" ("+l[0].Field+")")
	}
	iu, _ := url.Parse(pc.Issuer)
	cu, _ := url.Parse(from)
	if iu.Scheme != cu.Scheme || iu.Host != cu.Host {
		return errs.E(errs.Unprocessable, "The platform's issuer %q is not on the host its configuration came from (%s).", pc.Issuer, cu.Host)
	}
	if len(pc.IDTokenSigningAlgs) > 0 && !slices.Contains(pc.IDTokenSigningAlgs, "RS256") {
		return errs.E(errs.Unprocessable, "The platform does not sign launches with RS256, which LTI 1.3 requires.")
	}
	if len(pc.TokenEndpointAuthMethods) > 0 && !slices.Contains(pc.TokenEndpointAuthMethods, "private_key_jwt") {
		return errs.E(errs.Unprocessable, "The platform's token endpoint does not accept private_key_jwt, which LTI Advantage requires.")
	}
	return nil
}

// getJSON fetches url (with a bearer token, when given) and decodes it.
func (t *Tool) getJSON(ctx context.Context, u, bearer, accept string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return errs.E(errs.Unprocessable, "%q is not a URL.", u)
	}
	req.Header.Set("Accept", accept)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return t.do(req, out)
}

// do sends req and decodes a 2xx JSON answer into out (when out is not
// nil). A platform that cannot be reached, answers non-2xx or sends
// something other than JSON is errs.Unavailable naming the URL and
// status; the answer is a *platformError carrying the status.
func (t *Tool) do(req *http.Request, out any) error {
	_, err := t.doHeaders(req, out)
	return err
}

func (t *Tool) doHeaders(req *http.Request, out any) (http.Header, error) {
	resp, err := t.http.Do(req)
	if err != nil {
		return nil, &errs.Error{Code: errs.Unavailable, Message: fmt.Sprintf("Margin could not reach the platform at %s.", req.URL.Redacted()), Err: &platformError{err: err}}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, &errs.Error{Code: errs.Unavailable, Message: fmt.Sprintf("Margin could not read the platform's answer from %s.", req.URL.Redacted()), Err: &platformError{err: err}}
	}
	if resp.StatusCode/100 != 2 {
		return nil, &errs.Error{Code: errs.Unavailable,
			Message: fmt.Sprintf("The platform answered %s from %s %s: %s", resp.Status, req.Method, req.URL.Redacted(), snippet(b)),
			Err:     &platformError{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, &errs.Error{Code: errs.Unavailable, Message: fmt.Sprintf("The platform's answer from %s is not the JSON Margin expects.", req.URL.Redacted()), Err: &platformError{status: resp.StatusCode, err: err}}
		}
	}
	return resp.Header, nil
}

// platformError is why a call to a platform failed: its HTTP status, or
// the transport error when there was none.
type platformError struct {
	status     int
	retryAfter string
	err        error
}

func (e *platformError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("status %d", e.status)
}

func (e *platformError) Unwrap() error { return e.err }

// retryable reports whether a failed platform call may succeed if tried
// again: a transport failure, 408, 429 or a 5xx.
func retryable(err error) bool {
	var pe *platformError
	if !errors.As(err, &pe) {
		return false
	}
	return pe.status == 0 || pe.status == http.StatusRequestTimeout || pe.status == http.StatusTooManyRequests || pe.status >= 500
}

// statusOf is the HTTP status a platform answered, or 0.
func statusOf(err error) int {
	var pe *platformError
	if errors.As(err, &pe) {
		return pe.status
	}
	return 0
}

// snippet is the start of a platform's error body, for messages.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
