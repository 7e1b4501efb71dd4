// Package stripeclient adapts stripe-go to what payouts needs from Stripe
// Connect: Express accounts, account and login links, transfers, and the
// webhook signature check. It is the one place Margin talks to Stripe.
//
// A Fault hook lets tests (and the e2e binary, only when MARGIN_TEST_FAULTS=1)
// fail at the points where a payment can be interrupted; production code
// never sets it.
package stripeclient

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"github.com/stripe/stripe-go/v76/webhook"
)

// Point names a place where a payment can be interrupted.
type Point string

// The three points of a transfer where a failure is injected in tests.
const (
	BeforeStripe Point = "before_stripe" // before the transfer request is sent
	AfterStripe  Point = "after_stripe"  // Stripe accepted; the caller has not recorded it
	AfterWrite   Point = "after_write"   // the caller recorded the transfer; nothing after it ran
)

// Fault is called at each Point; a non-nil error aborts the operation there
// as a crash or timeout would. It is for tests only.
type Fault func(Point) error

// ErrNotConfigured is returned by every call when no secret key is set.
var ErrNotConfigured = errors.New("stripe is not configured")

// APIVersion is the Stripe API version stripe-go (and so Margin) speaks;
// the webhook endpoint must be pinned to it.
const APIVersion = stripe.APIVersion

// Config selects the Stripe account and endpoint.
type Config struct {
	SecretKey     string
	APIBase       string // empty: api.stripe.com
	WebhookSecret string
	Fault         Fault // tests only
}

// Client calls Stripe. A zero-key Client is valid: Configured reports false
// and every call returns ErrNotConfigured.
type Client struct {
	api   *client.API
	cfg   Config
	calls func(string) // counts calls by name, for benchmarks; may be nil
}

// New returns a client; it does no I/O.
func New(cfg Config) *Client {
	c := &Client{cfg: cfg}
	if cfg.SecretKey == "" {
		return c
	}
	bc := &stripe.BackendConfig{
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
		HTTPClient:    &http.Client{Timeout: 30 * time.Second},
	}
	if cfg.APIBase != "" {
		bc.URL = stripe.String(cfg.APIBase)
	}
	c.api = client.New(cfg.SecretKey, &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, bc),
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, bc),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, bc),
	})
	return c
}

// Configured reports whether a secret key is set.
func (c *Client) Configured() bool { return c.api != nil }

// Checkpoint runs the fault hook at p (a no-op without one). Callers use it
// for points outside this package, such as AfterWrite.
func (c *Client) Checkpoint(p Point) error {
	if c.cfg.Fault == nil {
		return nil
	}
	return c.cfg.Fault(p)
}

// AccountStatus is what Margin keeps of a connected account.
type AccountStatus struct {
	ID               string
	ChargesEnabled   bool
	PayoutsEnabled   bool
	DetailsSubmitted bool
	CurrentlyDue     []string
	DisabledReason   string
}

// StatusOf converts a Stripe account.
func StatusOf(a *stripe.Account) AccountStatus {
	s := AccountStatus{ID: a.ID, ChargesEnabled: a.ChargesEnabled, PayoutsEnabled: a.PayoutsEnabled, DetailsSubmitted: a.DetailsSubmitted}
	if a.Requirements != nil {
		s.CurrentlyDue = a.Requirements.CurrentlyDue
		s.DisabledReason = string(a.Requirements.DisabledReason)
	}
	if s.CurrentlyDue == nil {
		s.CurrentlyDue = []string{}
	}
	return s
}

// CreateExpressAccount creates an Express connected account for a grader.
// idemKey makes a retried creation return the same account.
func (c *Client) CreateExpressAccount(ctx context.Context, graderID, email, idemKey string) (AccountStatus, error) {
	if !c.Configured() {
		return AccountStatus{}, ErrNotConfigured
	}
	p := &stripe.AccountParams{
		Type:  stripe.String(string(stripe.AccountTypeExpress)),
		Email: stripe.String(email),
		Capabilities: &stripe.AccountCapabilitiesParams{
			Transfers: &stripe.AccountCapabilitiesTransfersParams{Requested: stripe.Bool(true)},
		},
		BusinessType: stripe.String(string(stripe.AccountBusinessTypeIndividual)),
	}
	p.Context = ctx
	p.SetIdempotencyKey(idemKey)
	p.AddMetadata("margin_grader", graderID)
	a, err := c.api.Accounts.New(p)
	if err != nil {
		return AccountStatus{}, err
	}
	return StatusOf(a), nil
}

// Account fetches a connected account's current status.
func (c *Client) Account(ctx context.Context, id string) (AccountStatus, error) {
	if !c.Configured() {
		return AccountStatus{}, ErrNotConfigured
	}
	p := &stripe.AccountParams{}
	p.Context = ctx
	a, err := c.api.Accounts.GetByID(id, p)
	if err != nil {
		return AccountStatus{}, err
	}
	st := StatusOf(a)
	st.ID = id // stripe-mock answers with a fixture ID
	return st, nil
}

// OnboardingLink creates an Account Link to Stripe-hosted onboarding.
func (c *Client) OnboardingLink(ctx context.Context, accountID, refreshURL, returnURL string) (string, error) {
	if !c.Configured() {
		return "", ErrNotConfigured
	}
	p := &stripe.AccountLinkParams{
		Account:    stripe.String(accountID),
		RefreshURL: stripe.String(refreshURL),
		ReturnURL:  stripe.String(returnURL),
		Type:       stripe.String("account_onboarding"),
	}
	p.Context = ctx
	l, err := c.api.AccountLinks.New(p)
	if err != nil {
		return "", err
	}
	return l.URL, nil
}

// LoginLink creates a one-time link to the account's Express dashboard.
func (c *Client) LoginLink(ctx context.Context, accountID string) (string, error) {
	if !c.Configured() {
		return "", ErrNotConfigured
	}
	p := &stripe.LoginLinkParams{Account: stripe.String(accountID)}
	p.Context = ctx
	l, err := c.api.LoginLinks.New(p)
	if err != nil {
		return "", err
	}
	return l.URL, nil
}

// Transfer is a transfer as Margin records it.
type Transfer struct {
	ID          string
	Amount      int64
	Currency    string
	Destination string
	Group       string
	Metadata    map[string]string
	Created     time.Time
}

// TransferRequest is one payment to a connected account.
type TransferRequest struct {
	Amount         int64
	Currency       string
	Destination    string
	Group          string // the payout run
	Description    string
	Metadata       map[string]string
	IdempotencyKey string
}

// CreateTransfer sends a transfer. With the same IdempotencyKey, Stripe
// returns the first result instead of moving money again. The fault hook
// runs at BeforeStripe and AfterStripe.
func (c *Client) CreateTransfer(ctx context.Context, r TransferRequest) (Transfer, error) {
	if !c.Configured() {
		return Transfer{}, ErrNotConfigured
	}
	if err := c.Checkpoint(BeforeStripe); err != nil {
		return Transfer{}, err
	}
	p := &stripe.TransferParams{
		Amount:        stripe.Int64(r.Amount),
		Currency:      stripe.String(r.Currency),
		Destination:   stripe.String(r.Destination),
		TransferGroup: stripe.String(r.Group),
		Description:   stripe.String(r.Description),
		Metadata:      r.Metadata,
	}
	p.Context = ctx
	p.SetIdempotencyKey(r.IdempotencyKey)
	t, err := c.api.Transfers.New(p)
	if err != nil {
		return Transfer{}, err
	}
	if err := c.Checkpoint(AfterStripe); err != nil {
		return Transfer{}, err
	}
	return transferOf(t), nil
}

// TransfersInGroup lists every transfer of a transfer group (a payout run).
func (c *Client) TransfersInGroup(ctx context.Context, group string) ([]Transfer, error) {
	if !c.Configured() {
		return nil, ErrNotConfigured
	}
	p := &stripe.TransferListParams{TransferGroup: stripe.String(group)}
	p.Context = ctx
	p.Limit = stripe.Int64(100)
	it := c.api.Transfers.List(p)
	var out []Transfer
	for it.Next() {
		out = append(out, transferOf(it.Transfer()))
	}
	return out, it.Err()
}

func transferOf(t *stripe.Transfer) Transfer {
	out := Transfer{ID: t.ID, Amount: t.Amount, Currency: string(t.Currency), Group: t.TransferGroup, Metadata: t.Metadata, Created: time.Unix(t.Created, 0).UTC()}
	if t.Destination != nil {
		out.Destination = t.Destination.ID
	}
	return out
}

// Permanent reports whether err is Stripe refusing the request for good
// (a 4xx other than a conflict or rate limit), so that retrying with the
// same idempotency key cannot succeed. Network errors, timeouts, 409, 429
// and 5xx are not permanent: the request may or may not have been applied.
func Permanent(err error) bool {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return false
	}
	switch s := se.HTTPStatusCode; {
	case s == http.StatusConflict, s == http.StatusTooManyRequests:
		return false
	case s >= 400 && s < 500:
		return true
	}
	return false
}

// Message is a short, safe description of a Stripe error.
func Message(err error) string {
	var se *stripe.Error
	if errors.As(err, &se) && se.Msg != "" {
		return se.Msg
	}
	return err.Error()
}

// Event is a verified webhook event.
type Event = stripe.Event

// Webhook errors, for the HTTP edge to answer correctly.
var (
	ErrBadSignature = errors.New("the Stripe-Signature header does not match the payload")
	ErrTooOld       = errors.New("the signature's timestamp is outside the tolerance")
	ErrAPIVersion   = errors.New("the event's API version is not the one this endpoint is pinned to")
)

// VerifyEvent checks the payload's signature and timestamp (5 minutes'
// tolerance) and that the event is of the pinned API version. It returns
// ErrNotConfigured without a webhook secret, ErrTooOld for an old timestamp,
// ErrAPIVersion for another API version, and ErrBadSignature otherwise.
func (c *Client) VerifyEvent(payload []byte, header string) (Event, error) {
	if c.cfg.WebhookSecret == "" {
		return Event{}, ErrNotConfigured
	}
	ev, err := webhook.ConstructEvent(payload, header, c.cfg.WebhookSecret)
	switch {
	case err == nil:
		return ev, nil
	case errors.Is(err, webhook.ErrTooOld):
		return Event{}, ErrTooOld
	case errors.Is(err, webhook.ErrNoValidSignature), errors.Is(err, webhook.ErrNotSigned), errors.Is(err, webhook.ErrInvalidHeader):
		return Event{}, ErrBadSignature
	}
	// The signature was valid; what remains is the API version check.
	if _, verr := webhook.ConstructEventWithOptions(payload, header, c.cfg.WebhookSecret, webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true}); verr == nil {
		return Event{}, ErrAPIVersion
	}
	return Event{}, ErrBadSignature
}
