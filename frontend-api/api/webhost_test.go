package api

import "testing"

func TestIsPagePath(t *testing.T) {
	for path, want := range map[string]bool{
		"/": true, "/signin": true, "/teacher/classes/x": true, "/static/margin.css": true, "/s/tok": true,
		"/api/v1/me": false, "/healthz": false, "/readyz": false, "/lti/jwks": false, "/lti/launch": true,
	} {
		if got := IsPagePath(path); got != want {
			t.Errorf("IsPagePath(%q) = %v, want %v", path, got, want)
		}
	}
}
