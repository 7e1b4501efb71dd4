package lti

import (
	"bytes"
	"context"
	"html/template"
	"slices"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/marginschool/margin/pkg/errs"
)

// CustomAssignmentID is the custom parameter that ties a resource link to
// a Margin assignment.
const CustomAssignmentID = "margin_assignment_id"

// LinkItem is a resource link Margin returns to the platform from deep
// linking (content item type ltiResourceLink, Deep Linking 2.0 §3.4.3).
type LinkItem struct {
	Title string `json:"title,omitempty"`
	Text  string `json:"text,omitempty"`
	// URL is where the link launches; Margin's launch URL when empty.
	URL    string            `json:"url,omitempty"`
	Custom map[string]string `json:"custom,omitempty"`
	// LineItem asks the platform to create a gradebook column for the
	// link; nil when no grades flow back.
	LineItem *LineItem `json:"lineItem,omitempty"`
}

// Form is a page that posts Fields to Action as soon as it loads: how a
// deep linking response goes back to the platform through the browser.
type Form struct {
	Action string
	Fields map[string]string
}

var formPage = template.Must(template.New("form").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Returning to your course…</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{{.Action}}">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<noscript><p>JavaScript is off: press the button to return to your course.</p></noscript>
<button type="submit">Return to your course</button>
</form></body></html>
`))

// HTML renders the auto-submitting page.
func (f Form) HTML() string {
	type field struct{ Name, Value string }
	names := make([]string, 0, len(f.Fields))
	for n := range f.Fields {
		names = append(names, n)
	}
	slices.Sort(names)
	fields := make([]field, len(names))
	for i, n := range names {
		fields[i] = field{n, f.Fields[n]}
	}
	var b bytes.Buffer
	_ = formPage.Execute(&b, struct {
		Action string
		Fields []field
	}{f.Action, fields})
	return b.String()
}

// deepLinkClaims is the LtiDeepLinkingResponse message (Deep Linking 2.0
// §4.2).
type deepLinkClaims struct {
	jwt.Claims
	Nonce        string     `json:"nonce"`
	DeploymentID string     `json:"https://purl.imsglobal.org/spec/lti/claim/deployment_id"`
	MessageType  string     `json:"https://purl.imsglobal.org/spec/lti/claim/message_type"`
	Version      string     `json:"https://purl.imsglobal.org/spec/lti/claim/version"`
	ContentItems []linkItem `json:"https://purl.imsglobal.org/spec/lti-dl/claim/content_items"`
	Data         string     `json:"https://purl.imsglobal.org/spec/lti-dl/claim/data,omitempty"`
	Msg          string     `json:"https://purl.imsglobal.org/spec/lti-dl/claim/msg,omitempty"`
}

type linkItem struct {
	Type string `json:"type"`
	LinkItem
}

// DeepLinkResponse builds the signed LtiDeepLinkingResponse for a deep
// linking launch l, returning items (none when the teacher cancelled) and
// msg (shown by the platform, may be empty), as a Form that posts the JWT
// to the platform's deep_link_return_url. Items without a URL get
// Margin's launch URL; line items are left out when the platform said it
// ignores them.
//
// It returns errs.Invalid when l is not a deep linking launch, and
// errs.Unprocessable when the platform does not accept resource links or
// several items were given where it accepts one.
func (t *Tool) DeepLinkResponse(ctx context.Context, l *Launch, items []LinkItem, msg string) (Form, error) {
	if l == nil || l.MessageType != MessageDeepLinking || l.DeepLinking == nil {
		return Form{}, errs.E(errs.Invalid, "This is not a deep linking launch; open Margin from your LMS's assignment editor.")
	}
	s := l.DeepLinking
	if len(items) > 0 && !slices.Contains(s.AcceptTypes, "ltiResourceLink") {
		return Form{}, errs.E(errs.Unprocessable, "Your LMS does not accept links to tools here, so Margin cannot add an assignment from this place.")
	}
	if len(items) > 1 && s.AcceptMultiple != nil && !*s.AcceptMultiple {
		return Form{}, errs.E(errs.Unprocessable, "Your LMS accepts one item here; choose one assignment.")
	}
	now := t.now()
	c := deepLinkClaims{
		Claims: jwt.Claims{
			Issuer: l.ClientID, Audience: jwt.Audience{l.Issuer},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(t.cfg.TokenLifetime)),
			ID: randomToken(),
		},
		Nonce: randomToken(), DeploymentID: l.DeploymentID, MessageType: MessageDeepLinkingResponse,
		Version: Version, ContentItems: []linkItem{}, Data: s.Data, Msg: msg,
	}
	for _, it := range items {
		if it.URL == "" {
			it.URL = t.URL(LaunchPath)
		}
		if s.IgnoresLineItems() {
			it.LineItem = nil
		}
		c.ContentItems = append(c.ContentItems, linkItem{Type: "ltiResourceLink", LinkItem: it})
	}
	signed, err := t.sign(ctx, c)
	if err != nil {
		return Form{}, err
	}
	return Form{Action: s.ReturnURL, Fields: map[string]string{"JWT": signed}}, nil
}
