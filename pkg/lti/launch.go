package lti

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// LoginRequest is an OIDC third-party login initiation (LTI Core 1.3,
// section 5.1.1), sent by the platform as a GET query or a POST form.
type LoginRequest struct {
	Issuer         string // iss
	LoginHint      string // login_hint
	TargetLinkURI  string // target_link_uri
	LTIMessageHint string // lti_message_hint, echoed back
	ClientID       string // client_id, optional
	DeploymentID   string // lti_deployment_id, optional
}

// LoginRequestFrom reads a login initiation from a query or form.
func LoginRequestFrom(v url.Values) LoginRequest {
	return LoginRequest{
		Issuer: v.Get("iss"), LoginHint: v.Get("login_hint"), TargetLinkURI: v.Get("target_link_uri"),
		LTIMessageHint: v.Get("lti_message_hint"), ClientID: v.Get("client_id"), DeploymentID: v.Get("lti_deployment_id"),
	}
}

// LoginRedirect is the answer to a login initiation: set Cookie, then
// redirect the browser (302) to URL, the platform's authorization endpoint.
type LoginRedirect struct {
	URL    string
	Cookie *http.Cookie
}

type stateDoc struct {
	ID        string    `bson:"_id"` // hashID("state", state)
	Issuer    string    `bson:"iss"`
	ClientID  string    `bson:"client_id"`
	Nonce     string    `bson:"nonce"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// StateCookieName is the name of the cookie that binds a login's state to
// the browser that started it; one per login, so that two launches in
// two tabs do not overwrite each other.
func StateCookieName(state string) string { return "lti_state_" + hashID("cookie", state)[:12] }

// Login answers an OIDC login initiation: it finds the registration, makes
// a single-use state and nonce, and returns the authentication request to
// redirect to, with the cookie that binds the state to this browser
// (SameSite=None and Secure when Margin is served over https, as the
// launch comes back as a cross-site POST).
//
// It returns errs.Invalid when iss, login_hint or target_link_uri is
// missing or the target is not a Margin URL, errs.NotFound when Margin is
// not registered with the issuer (and client ID), errs.Forbidden for a
// deployment Margin does not know, or an internal error.
func (t *Tool) Login(ctx context.Context, in LoginRequest) (LoginRedirect, error) {
	var l errs.List
	for _, f := range []struct{ name, v string }{{"iss", in.Issuer}, {"login_hint", in.LoginHint}, {"target_link_uri", in.TargetLinkURI}} {
		if f.v == "" {
			l = append(l, errs.F(errs.Invalid, f.name, "The login request from your LMS has no %s. Open Margin from your course.", f.name))
		}
	}
	if err := l.Err(); err != nil {
		return LoginRedirect{}, err
	}
	if tu, err := url.Parse(in.TargetLinkURI); err != nil || tu.Scheme != t.base.Scheme || tu.Host != t.base.Host {
		return LoginRedirect{}, errs.F(errs.Invalid, "target_link_uri", "The LMS asked to open %q, which is not a Margin address.", in.TargetLinkURI)
	}
	reg, err := t.registrationFor(ctx, in.Issuer, in.ClientID)
	if err != nil {
		return LoginRedirect{}, err
	}
	if in.DeploymentID != "" && !reg.hasDeployment(in.DeploymentID) {
		return LoginRedirect{}, deploymentError(in.DeploymentID)
	}
	state, nonce := randomToken(), randomToken()
	expires := t.now().Add(stateTTL).UTC()
	_, err = t.col(colStates).InsertOne(ctx, stateDoc{ID: hashID("state", state), Issuer: reg.Issuer, ClientID: reg.ClientID, Nonce: nonce, ExpiresAt: expires})
	if err != nil {
		return LoginRedirect{}, errs.Wrap(err, "lti: save state")
	}
	au, err := url.Parse(reg.AuthURL)
	if err != nil {
		return LoginRedirect{}, errs.Wrap(err, "lti: registration %s auth URL", reg.ID)
	}
	q := au.Query()
	q.Set("scope", "openid")
	q.Set("response_type", "id_token")
	q.Set("response_mode", "form_post")
	q.Set("prompt", "none")
	q.Set("client_id", reg.ClientID)
	q.Set("redirect_uri", t.URL(LaunchPath))
	q.Set("login_hint", in.LoginHint)
	q.Set("state", state)
	q.Set("nonce", nonce)
	if in.LTIMessageHint != "" {
		q.Set("lti_message_hint", in.LTIMessageHint)
	}
	au.RawQuery = q.Encode()
	secure := t.base.Scheme == "https"
	same := http.SameSiteLaxMode // http: only for a platform on this machine
	if secure {
		same = http.SameSiteNoneMode
	}
	return LoginRedirect{URL: au.String(), Cookie: &http.Cookie{
		Name: StateCookieName(state), Value: state, Path: LaunchPath, MaxAge: int(stateTTL / time.Second),
		Expires: expires, HttpOnly: true, Secure: secure, SameSite: same,
	}}, nil
}

// LaunchRequest is what the platform's authentication response posted to
// LaunchPath, and the state cookie the browser sent with it.
type LaunchRequest struct {
	IDToken string // id_token
	State   string // state
	// StateCookie is the value of the cookie named StateCookieName(State),
	// or "" when the browser sent none.
	StateCookie string
	// Error and ErrorDescription are set when the platform refused to
	// authenticate (error, error_description).
	Error, ErrorDescription string
}

// LaunchRequestFrom reads a launch from a POST form and the request's
// cookies (cookie returns "" for a missing one).
func LaunchRequestFrom(form url.Values, cookie func(name string) string) LaunchRequest {
	r := LaunchRequest{IDToken: form.Get("id_token"), State: form.Get("state"), Error: form.Get("error"), ErrorDescription: form.Get("error_description")}
	if r.State != "" {
		r.StateCookie = cookie(StateCookieName(r.State))
	}
	return r
}

// Why a launch was refused. Each refusal is an *errs.Error whose Message
// tells the person what to do, wrapping one of these (errors.Is finds it).
var (
	ErrPlatformRefused = errors.New("lti: the platform answered with an error")
	ErrNoCookie        = errors.New("lti: the state cookie is missing or does not match")
	ErrStateUnknown    = errors.New("lti: the state is unknown, expired or already used")
	ErrMalformed       = errors.New("lti: the id_token is not a signed JWT")
	ErrUnknownKey      = errors.New("lti: the id_token's kid is not in the platform's JWKS")
	ErrSignature       = errors.New("lti: the id_token's signature does not verify")
	ErrIssuer          = errors.New("lti: wrong issuer")
	ErrAudience        = errors.New("lti: wrong audience or authorized party")
	ErrExpired         = errors.New("lti: the id_token has expired")
	ErrIssuedAt        = errors.New("lti: the id_token's iat is missing, in the future or too old")
	ErrReplay          = errors.New("lti: the nonce was already used")
	ErrNonce           = errors.New("lti: the nonce does not match the login")
	ErrDeployment      = errors.New("lti: unknown deployment")
	ErrVersion         = errors.New("lti: unsupported LTI version")
	ErrMessageType     = errors.New("lti: unsupported message type")
	ErrClaims          = errors.New("lti: a required claim is missing")
)

// maxTokenAge is how long after its iat Margin accepts an id_token; it
// bounds how long used nonces must be remembered.
const maxTokenAge = time.Hour

func refusal(code errs.Code, cause error, format string, args ...any) error {
	return &errs.Error{Code: code, Message: fmt.Sprintf(format, args...), Err: cause}
}

const (
	msgStartOver = "This launch has expired or was already used. Go back to your course and open Margin again."
	msgVerify    = "Margin could not verify that this launch came from your LMS. Go back to your course and open Margin again; if this keeps happening, ask your LMS administrator to check Margin's registration (issuer %s, client ID %s)."
	msgSupport   = "Your LMS sent a launch Margin cannot use (%s). Ask your LMS administrator to check how Margin is installed."
)

func deploymentError(id string) error {
	return refusal(errs.Forbidden, ErrDeployment, "This installation of Margin in your LMS (deployment ID %q) is not registered with Margin. Ask your LMS administrator to add that deployment ID to Margin's registration.", id)
}

var launchAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.ES256}

// ValidateLaunch checks an authentication response completely and returns
// the launch it carries. In order: the state must be bound to this browser
// by its cookie and be one Margin issued in the last ten minutes; the
// id_token must be signed by a key in the registration's JWKS (cached,
// refetched once on an unknown kid); iss must be the registration's
// issuer, aud must contain its client ID (and azp must be it, when
// present or when aud has several values), exp must not have passed and
// iat must be present, not in the future and under an hour old (a
// minute's leeway for clocks); the deployment must be registered; the
// version must be 1.3.0 and the message a resource link or deep linking
// request with its required claims; and the nonce must be the login's,
// used once. The state is then spent.
//
// Refusals are *errs.Error wrapping one of the Err… causes above, with a
// message that says what to do: errs.Invalid when id_token or state is
// missing or the token is not a JWT, errs.Forbidden for an unknown
// deployment, errs.Unprocessable for an unsupported version, message type
// or missing claim, and errs.Unauthenticated for everything else. A
// platform JWKS that cannot be fetched is errs.Unavailable; a store
// failure is internal.
func (t *Tool) ValidateLaunch(ctx context.Context, in LaunchRequest) (*Launch, error) {
	if in.Error != "" {
		return nil, refusal(errs.Unauthenticated, ErrPlatformRefused, "Your LMS did not sign you in to Margin (%s: %s). Sign in to your LMS and open Margin again from your course.", in.Error, in.ErrorDescription)
	}
	if in.IDToken == "" || in.State == "" {
		return nil, refusal(errs.Invalid, ErrMalformed, "This page opens only from your LMS. Go to your course and open Margin from there.")
	}
	if in.StateCookie == "" || subtle.ConstantTimeCompare([]byte(in.StateCookie), []byte(in.State)) != 1 {
		return nil, refusal(errs.Unauthenticated, ErrNoCookie, "Your browser did not send back the cookie Margin set when this launch began, which happens when Margin opens in a frame that blocks cookies or in another browser. Open Margin from your course again, in a new window.")
	}
	stateID := hashID("state", in.State)
	var st stateDoc
	err := t.col(colStates).FindOne(ctx, bson.D{{Key: "_id", Value: stateID}}).Decode(&st)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && !t.now().Before(st.ExpiresAt)) {
		return nil, refusal(errs.Unauthenticated, ErrStateUnknown, msgStartOver)
	}
	if err != nil {
		return nil, errs.Wrap(err, "lti: read state")
	}
	reg, err := t.Registration(ctx, hashID(st.Issuer, st.ClientID))
	if err != nil {
		return nil, err
	}

	tok, err := jwt.ParseSigned(in.IDToken, launchAlgs)
	if err != nil {
		return nil, refusal(errs.Invalid, fmt.Errorf("%w: %v", ErrMalformed, err), msgVerify, reg.Issuer, reg.ClientID)
	}
	kid := tok.Headers[0].KeyID
	var key *jose.JSONWebKey
	if kid != "" {
		key, err = t.platformKey(ctx, reg.JWKSURL, kid)
	}
	if kid == "" || errors.Is(err, errUnknownKey) {
		return nil, refusal(errs.Unauthenticated, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid), msgVerify, reg.Issuer, reg.ClientID)
	}
	if err != nil {
		return nil, err
	}
	var std jwt.Claims
	var c ltiClaims
	if err := tok.Claims(key.Key, &std, &c); err != nil {
		return nil, refusal(errs.Unauthenticated, fmt.Errorf("%w: %v", ErrSignature, err), msgVerify, reg.Issuer, reg.ClientID)
	}

	now := t.now()
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: reg.Issuer, AnyAudience: jwt.Audience{reg.ClientID}, Time: now}, clockLeeway); err != nil {
		cause := ErrIssuedAt
		switch {
		case errors.Is(err, jwt.ErrInvalidIssuer):
			cause = ErrIssuer
		case errors.Is(err, jwt.ErrInvalidAudience):
			cause = ErrAudience
		case errors.Is(err, jwt.ErrExpired):
			cause = ErrExpired
		}
		if cause == ErrExpired {
			return nil, refusal(errs.Unauthenticated, cause, msgStartOver)
		}
		return nil, refusal(errs.Unauthenticated, fmt.Errorf("%w: %v", cause, err), msgVerify, reg.Issuer, reg.ClientID)
	}
	if std.Expiry == nil {
		return nil, refusal(errs.Unauthenticated, ErrExpired, msgVerify, reg.Issuer, reg.ClientID)
	}
	if std.IssuedAt == nil || std.IssuedAt.Time().Before(now.Add(-maxTokenAge)) {
		return nil, refusal(errs.Unauthenticated, ErrIssuedAt, msgStartOver)
	}
	if (len(std.Audience) > 1 || c.AZP != "") && c.AZP != reg.ClientID {
		return nil, refusal(errs.Unauthenticated, fmt.Errorf("%w: azp %q", ErrAudience, c.AZP), msgVerify, reg.Issuer, reg.ClientID)
	}

	if c.DeploymentID == "" {
		return nil, refusal(errs.Unprocessable, fmt.Errorf("%w: deployment_id", ErrClaims), msgSupport, "no deployment ID")
	}
	if !reg.hasDeployment(c.DeploymentID) {
		return nil, deploymentError(c.DeploymentID)
	}
	if c.Version != Version {
		return nil, refusal(errs.Unprocessable, ErrVersion, msgSupport, fmt.Sprintf("LTI version %q, not 1.3.0", c.Version))
	}
	if err := c.checkMessage(std.Subject); err != nil {
		return nil, err
	}

	if c.Nonce == "" {
		return nil, refusal(errs.Unauthenticated, ErrNonce, msgVerify, reg.Issuer, reg.ClientID)
	}
	if err := t.useNonce(ctx, c.Nonce, std.IssuedAt.Time()); err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(st.Nonce)) != 1 {
		return nil, refusal(errs.Unauthenticated, ErrNonce, msgStartOver)
	}
	res, err := t.col(colStates).DeleteOne(ctx, bson.D{{Key: "_id", Value: stateID}})
	if err != nil {
		return nil, errs.Wrap(err, "lti: spend state")
	}
	if res.DeletedCount == 0 {
		return nil, refusal(errs.Unauthenticated, ErrStateUnknown, msgStartOver)
	}
	return c.launch(reg, std), nil
}

// checkMessage checks the message type and the claims it requires.
func (c *ltiClaims) checkMessage(sub string) error {
	missing := func(what string) error {
		return refusal(errs.Unprocessable, fmt.Errorf("%w: %s", ErrClaims, what), msgSupport, "no "+what)
	}
	switch c.MessageType {
	case MessageResourceLink:
		if c.ResourceLink == nil || c.ResourceLink.ID == "" {
			return missing("resource link ID")
		}
		if c.TargetLinkURI == "" {
			return missing("target link URI")
		}
	case MessageDeepLinking:
		if c.DeepLinking == nil || c.DeepLinking.ReturnURL == "" || len(c.DeepLinking.AcceptTypes) == 0 {
			return missing("deep linking settings")
		}
	default:
		return refusal(errs.Unprocessable, ErrMessageType, msgSupport, fmt.Sprintf("message type %q", c.MessageType))
	}
	if c.Roles == nil {
		return missing("roles")
	}
	if sub == "" {
		return missing("user ID (anonymous launches are not supported)")
	}
	return nil
}

func (c *ltiClaims) launch(reg Registration, std jwt.Claims) *Launch {
	l := &Launch{
		RegistrationID: reg.ID, Issuer: reg.Issuer, ClientID: reg.ClientID, DeploymentID: c.DeploymentID,
		MessageType: c.MessageType, TargetLinkURI: c.TargetLinkURI, Subject: std.Subject, Roles: *c.Roles,
		Role: MarginRole(*c.Roles), Name: c.Name, GivenName: c.GivenName, FamilyName: c.FamilyName, Email: c.Email,
		Custom: customStrings(c.Custom), NRPS: c.NRPS, AGS: c.AGS, DeepLinking: c.DeepLinking,
		ExpiresAt: std.Expiry.Time().UTC(),
	}
	if c.LIS != nil {
		l.SourcedID = c.LIS.PersonSourcedID
	}
	if c.Context != nil {
		l.Context = *c.Context
	}
	if c.ResourceLink != nil {
		l.ResourceLink = *c.ResourceLink
	}
	if c.Platform != nil {
		l.Platform = *c.Platform
	}
	if c.Presentation != nil {
		l.ReturnURL = c.Presentation.ReturnURL
	}
	if l.Name == "" && (l.GivenName != "" || l.FamilyName != "") {
		l.Name = trimJoin(l.GivenName, l.FamilyName)
	}
	return l
}

func trimJoin(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
}

// Used nonces are kept in one document per hour of their token's iat,
// as fields named by the nonce's hash. Marking one used is a conditional
// upsert that fails with a duplicate key when it is already there; a
// token is accepted for maxTokenAge after its iat, so Sweep can drop
// whole hours by _id once they are older than that.

func nonceBucket(iat time.Time) string { return "h" + strconv.FormatInt(iat.Unix()/3600, 10) }

// useNonce marks nonce used, or returns a replay refusal if it was.
func (t *Tool) useNonce(ctx context.Context, nonce string, iat time.Time) error {
	field := "n." + hashID("nonce", nonce)
	_, err := t.col(colNonces).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: nonceBucket(iat)}, {Key: field, Value: bson.D{{Key: "$exists", Value: false}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: field, Value: true}}}}, upsert())
	if mongostore.IsDuplicateKey(err) {
		return refusal(errs.Unauthenticated, ErrReplay, "This launch was already used, so Margin refused it. Go back to your course and open Margin again.")
	}
	return errs.Wrap(err, "lti: mark nonce used")
}

// Sweep deletes what no launch can need any more: OIDC states past their
// expiry (logins never completed) and used nonces of tokens too old to be
// accepted, and deep linking launches held past their expiry. Run it
// every few minutes; it scans only lti_states and lti_deep_links, which
// hold just the logins and pickers of the last minutes, and the few nonce
// buckets.
// It returns an internal error if the store fails.
func (t *Tool) Sweep(ctx context.Context) error {
	now := t.now()
	if _, err := t.col(colStates).DeleteMany(ctx, bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lt", Value: now.UTC()}}}}); err != nil {
		return errs.Wrap(err, "lti: sweep states")
	}
	if err := t.sweepHeld(ctx); err != nil {
		return err
	}
	cur, err := t.col(colNonces).Find(ctx, bson.D{}, projectID())
	if err != nil {
		return errs.Wrap(err, "lti: list nonce buckets")
	}
	var ids []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &ids); err != nil {
		return errs.Wrap(err, "lti: list nonce buckets")
	}
	// A bucket holds iats within its hour; keep it until its last possible
	// token is too old (maxTokenAge) even with clock leeway.
	oldest := now.Add(-maxTokenAge - clockLeeway - time.Hour)
	for _, d := range ids {
		if h, err := strconv.ParseInt(strings.TrimPrefix(d.ID, "h"), 10, 64); err == nil && h < oldest.Unix()/3600 {
			if _, err := t.col(colNonces).DeleteOne(ctx, bson.D{{Key: "_id", Value: d.ID}}); err != nil {
				return errs.Wrap(err, "lti: sweep nonces")
			}
		}
	}
	return nil
}
