package lti

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/marginschool/margin/pkg/errs"
)

// LTI Advantage services are called with an OAuth 2 access token that
// Margin gets from the platform's token endpoint by the client-credentials
// grant, authenticating with a JWT signed by its own key (private_key_jwt,
// 1EdTech Security Framework §4.1). Tokens are cached per registration and
// scope set until shortly before they expire.

type token struct {
	value   string
	expires time.Time
}

func tokenKey(reg Registration, scopes []string) string {
	s := slices.Clone(scopes)
	slices.Sort(s)
	return reg.ID + " " + strings.Join(s, " ")
}

// AccessToken returns an access token for scopes from reg's token
// endpoint, from the cache while it has more than a minute left. It
// returns errs.Unavailable when the platform cannot be reached or refuses
// (its answer is in the message), or an internal error.
func (t *Tool) AccessToken(ctx context.Context, reg Registration, scopes []string) (string, error) {
	key := tokenKey(reg, scopes)
	t.mu.Lock()
	tok, ok := t.tokens[key]
	t.mu.Unlock()
	if ok && t.now().Add(time.Minute).Before(tok.expires) {
		return tok.value, nil
	}
	now := t.now()
	assertion, err := t.sign(ctx, jwt.Claims{
		Issuer: reg.ClientID, Subject: reg.ClientID, Audience: jwt.Audience{reg.tokenAudience()},
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(t.cfg.TokenLifetime)), ID: randomToken(),
	})
	if err != nil {
		return "", err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
		"scope":                 {strings.Join(scopes, " ")},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, reg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", errs.Wrap(err, "lti: token request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	var answer struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := t.do(req, &answer); err != nil {
		var e *errs.Error
		if errors.As(err, &e) {
			e.Message = "The LMS did not give Margin an access token: " + e.Message
		}
		return "", err
	}
	if answer.AccessToken == "" || !strings.EqualFold(answer.TokenType, "bearer") {
		return "", errs.E(errs.Unavailable, "The LMS's token endpoint answered without a bearer access token.")
	}
	if answer.ExpiresIn <= 0 {
		answer.ExpiresIn = 3600
	}
	t.mu.Lock()
	t.tokens[key] = token{value: answer.AccessToken, expires: now.Add(time.Duration(answer.ExpiresIn) * time.Second)}
	t.mu.Unlock()
	return answer.AccessToken, nil
}

// call sends one service request with an access token for scopes and
// decodes a 2xx JSON answer into out. When the platform answers 401 it
// drops the cached token and tries once more with a new one.
func (t *Tool) call(ctx context.Context, reg Registration, scopes []string, method, u, accept, ctype string, body []byte, out any) (http.Header, error) {
	for try := 0; ; try++ {
		tok, err := t.AccessToken(ctx, reg, scopes)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
		if err != nil {
			return nil, errs.E(errs.Unprocessable, "The platform gave Margin %q, which is not a URL.", u)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", accept)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		h, err := t.doHeaders(req, out)
		if statusOf(err) == http.StatusUnauthorized && try == 0 {
			t.mu.Lock()
			delete(t.tokens, tokenKey(reg, scopes))
			t.mu.Unlock()
			continue
		}
		return h, err
	}
}

// Member is one person in a course roster from Names and Role
// Provisioning Services 2.0. Name, email and SourcedID are empty unless
// the platform shares them.
type Member struct {
	UserID     string   `json:"user_id"`
	Roles      []string `json:"roles"`
	Status     string   `json:"status,omitempty"` // Active (when absent), Inactive or Deleted
	Name       string   `json:"name,omitempty"`
	GivenName  string   `json:"given_name,omitempty"`
	FamilyName string   `json:"family_name,omitempty"`
	Email      string   `json:"email,omitempty"`
	SourcedID  string   `json:"lis_person_sourcedid,omitempty"`
}

// Member statuses.
const (
	StatusActive   = "Active"
	StatusInactive = "Inactive"
	StatusDeleted  = "Deleted"
)

// Active reports whether the member is in the course now.
func (m Member) Active() bool { return m.Status == "" || m.Status == StatusActive }

const (
	mediaMemberships = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
	mediaLineItems   = "application/vnd.ims.lis.v2.lineitemcontainer+json"
	mediaLineItem    = "application/vnd.ims.lis.v2.lineitem+json"
	mediaScore       = "application/vnd.ims.lis.v1.score+json"
	maxPages         = 500
)

// Members fetches a course's whole roster from its NRPS context
// memberships URL, following rel="next" links page by page. It returns
// errs.Unavailable when the platform cannot be reached or refuses, or
// errs.Unprocessable when it pages without end.
func (t *Tool) Members(ctx context.Context, reg Registration, membershipsURL string) ([]Member, error) {
	var all []Member
	next := membershipsURL
	for page := 0; next != ""; page++ {
		if page == maxPages {
			return nil, errs.E(errs.Unprocessable, "The LMS's roster has more than %d pages; Margin stopped reading it.", maxPages)
		}
		var c struct {
			Members []Member `json:"members"`
		}
		h, err := t.call(ctx, reg, []string{ScopeMembership}, http.MethodGet, next, mediaMemberships, "", nil, &c)
		if err != nil {
			return nil, err
		}
		for _, m := range c.Members {
			if m.UserID != "" {
				all = append(all, m)
			}
		}
		next = nextLink(next, h.Values("Link"))
	}
	return all, nil
}

// nextLink finds rel="next" in Link headers (RFC 8288), resolved against
// the URL of the page that carried them.
func nextLink(base string, links []string) string {
	for _, header := range links {
		for _, link := range strings.Split(header, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(link), ";")
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && slices.Contains(strings.Fields(strings.Trim(v, `"`)), "next") {
					b, err1 := url.Parse(base)
					r, err2 := url.Parse(target[1 : len(target)-1])
					if err1 != nil || err2 != nil {
						return ""
					}
					return b.ResolveReference(r).String()
				}
			}
		}
	}
	return ""
}

// LineItem is a gradebook column (Assignment and Grade Services 2.0).
type LineItem struct {
	ID             string  `json:"id,omitempty"`
	ScoreMaximum   float64 `json:"scoreMaximum"`
	Label          string  `json:"label"`
	ResourceID     string  `json:"resourceId,omitempty"`
	ResourceLinkID string  `json:"resourceLinkId,omitempty"`
	Tag            string  `json:"tag,omitempty"`
}

// FindOrCreateLineItem returns the line item in the course's line items
// container that has want's resource link ID (and resource ID, when
// given), creating want there when there is none. It returns
// errs.Invalid when want has no label or a non-positive maximum, and
// errs.Unavailable when the platform cannot be reached or refuses.
func (t *Tool) FindOrCreateLineItem(ctx context.Context, reg Registration, lineItemsURL string, want LineItem) (LineItem, error) {
	if want.Label == "" || want.ScoreMaximum <= 0 {
		return LineItem{}, errs.E(errs.Invalid, "A line item needs a label and a positive maximum score.")
	}
	u, err := url.Parse(lineItemsURL)
	if err != nil {
		return LineItem{}, errs.E(errs.Unprocessable, "The platform gave Margin %q as its line items URL, which is not a URL.", lineItemsURL)
	}
	q := u.Query()
	if want.ResourceLinkID != "" {
		q.Set("resource_link_id", want.ResourceLinkID)
	}
	if want.ResourceID != "" {
		q.Set("resource_id", want.ResourceID)
	}
	u.RawQuery = q.Encode()
	scopes := []string{ScopeLineItem}
	for next, page := u.String(), 0; next != "" && page < maxPages; page++ {
		var items []LineItem
		h, err := t.call(ctx, reg, scopes, http.MethodGet, next, mediaLineItems, "", nil, &items)
		if err != nil {
			return LineItem{}, err
		}
		for _, it := range items {
			if (want.ResourceLinkID == "" || it.ResourceLinkID == want.ResourceLinkID) && (want.ResourceID == "" || it.ResourceID == want.ResourceID) {
				return it, nil
			}
		}
		next = nextLink(next, h.Values("Link"))
	}
	body, err := json.Marshal(want)
	if err != nil {
		return LineItem{}, errs.Wrap(err, "lti: encode line item")
	}
	var created LineItem
	if _, err := t.call(ctx, reg, scopes, http.MethodPost, lineItemsURL, mediaLineItem, mediaLineItem, body, &created); err != nil {
		return LineItem{}, err
	}
	if created.ID == "" {
		return LineItem{}, errs.E(errs.Unavailable, "The LMS created the gradebook column but did not say where it is.")
	}
	return created, nil
}

// Score is one student's result for a line item (AGS 2.0 score service).
type Score struct {
	UserID           string   `json:"userId"`
	ScoreGiven       *float64 `json:"scoreGiven,omitempty"`
	ScoreMaximum     *float64 `json:"scoreMaximum,omitempty"`
	Comment          string   `json:"comment,omitempty"`
	Timestamp        string   `json:"timestamp"`
	ActivityProgress string   `json:"activityProgress"`
	GradingProgress  string   `json:"gradingProgress"`
}

// GradedScore is a final score of given out of maximum, as of at: the
// score Margin posts on release. Platforms keep the score with the latest
// timestamp, so a revision graded later replaces it and an old one
// posted again changes nothing.
func GradedScore(userID string, given, maximum float64, comment string, at time.Time) Score {
	return Score{
		UserID: userID, ScoreGiven: &given, ScoreMaximum: &maximum, Comment: comment,
		Timestamp:        at.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		ActivityProgress: "Completed", GradingProgress: "FullyGraded",
	}
}

// scoreRetries is how many times one delivery tries a score post.
var scoreRetries = []time.Duration{0, 500 * time.Millisecond, 2 * time.Second}

// PostScore posts s to the line item at lineItemURL, trying again after a
// transport failure, 408, 429 or 5xx (waiting as the platform's
// Retry-After says, up to 30 s). It returns errs.Unavailable with the
// platform's last answer when every try failed or the platform refused.
func (t *Tool) PostScore(ctx context.Context, reg Registration, lineItemURL string, s Score) error {
	u, err := url.Parse(lineItemURL)
	if err != nil {
		return errs.E(errs.Unprocessable, "The line item URL %q is not a URL.", lineItemURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/scores"
	body, err := json.Marshal(s)
	if err != nil {
		return errs.Wrap(err, "lti: encode score")
	}
	for i, wait := range scoreRetries {
		var pe *platformError
		if i > 0 && errors.As(err, &pe) {
			if secs, perr := strconv.Atoi(pe.retryAfter); perr == nil && secs > 0 {
				wait = min(time.Duration(secs)*time.Second, 30*time.Second)
			}
		}
		if err := t.sleep(ctx, wait); err != nil {
			return errs.E(errs.Unavailable, "Margin stopped posting the score: %v.", err)
		}
		_, err = t.call(ctx, reg, []string{ScopeScore}, http.MethodPost, u.String(), "application/json", mediaScore, body, nil)
		if err == nil || !retryable(err) {
			return err
		}
	}
	return fmt.Errorf("after %d tries: %w", len(scoreRetries), err)
}
