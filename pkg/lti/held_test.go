package lti

import (
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/errs"
)

// A held deep linking launch comes back whole by its token, once; not
// after it is spent, nor after the launch's expiry (and Sweep then
// deletes it); and only a deep linking launch is held.
func TestHeldDeepLink(t *testing.T) {
	e := newEnv(t)
	l, err := e.tool.ValidateLaunch(e.ctx, e.begin(e.p.DeepLinkingLogin(e.client, "c1", teacher.ID)))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.tool.Hold(e.ctx, l, "user-1", "class-1")
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.tool.Held(e.ctx, tok)
	if err != nil || h.UserID != "user-1" || h.ClassID != "class-1" || h.Launch.DeepLinking == nil ||
		h.Launch.DeepLinking.ReturnURL != l.DeepLinking.ReturnURL || h.Launch.DeploymentID != l.DeploymentID {
		t.Fatalf("held: %+v, %v", h, err)
	}
	for _, bad := range []string{"", "not-a-token", tok + "x"} {
		if _, err := e.tool.Held(e.ctx, bad); !errs.Is(err, errs.NotFound) {
			t.Fatalf("Held(%q) = %v, want not_found", bad, err)
		}
	}
	if err := e.tool.Release(e.ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := e.tool.Release(e.ctx, tok); !errs.Is(err, errs.NotFound) {
		t.Fatalf("spent twice: %v", err)
	}
	if _, err := e.tool.Held(e.ctx, tok); !errs.Is(err, errs.NotFound) {
		t.Fatalf("a spent launch: %v", err)
	}

	tok2, err := e.tool.Hold(e.ctx, l, "user-1", "class-1")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Until(l.ExpiresAt) + time.Minute)
	if _, err := e.tool.Held(e.ctx, tok2); !errs.Is(err, errs.NotFound) {
		t.Fatalf("an expired launch: %v", err)
	}
	if err := e.tool.Sweep(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := e.tool.col(colHeld).CountDocuments(e.ctx, map[string]any{}); err != nil || n != 0 {
		t.Fatalf("%d held launches after the sweep, %v", n, err)
	}

	rl, err := e.launch("link-a", teacher.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.tool.Hold(e.ctx, rl, "user-1", "class-1"); !errs.Is(err, errs.Invalid) {
		t.Fatalf("holding a resource link launch: %v", err)
	}
}
