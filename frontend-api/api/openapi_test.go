package api_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/marginschool/margin/frontend-api/api"
)

// TestOpenAPIDescribesEveryRoute fails when a registered route is missing
// from openapi.yaml, or when its declared roles differ from the x-roles the
// description gives (and the other way round).
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	data, err := os.ReadFile("../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                               `yaml:"openapi"`
		Paths   map[string]map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	h := newHarness(t, api.Config{})
	param := regexp.MustCompile(`:([A-Za-z_]+)\??`)
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			described[strings.ToUpper(method)+" "+path] = true
		}
	}
	routes := h.srv.RouteRoles()
	if len(routes) == 0 {
		t.Fatal("no routes registered")
	}
	for key, roles := range routes {
		method, path, _ := strings.Cut(key, " ")
		oaPath := param.ReplaceAllString(path, "{$1}")
		op, ok := doc.Paths[oaPath][strings.ToLower(method)]
		if !ok && !strings.HasPrefix(path, "/api/") && !strings.HasPrefix(path, "/lti/") && path != "/healthz" && path != "/readyz" {
			continue // a web page (frontend-api/web), not part of the JSON API or LTI, unless described (one-click unsubscribe)
		}
		if !ok {
			t.Errorf("%s %s is served but not described in openapi.yaml", method, oaPath)
			continue
		}
		delete(described, method+" "+oaPath)
		var want []string
		for _, r := range roles {
			want = append(want, string(r))
		}
		if roles == nil {
			want = []string{"public"}
		}
		var got []string
		if xs, ok := op["x-roles"].([]any); ok {
			for _, x := range xs {
				got = append(got, x.(string))
			}
		}
		if roles == nil && len(got) == 0 {
			got = []string{"public"} // x-roles: [] also means public
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s %s: x-roles %v, but the route admits %v", method, oaPath, got, want)
		}
		if _, ok := op["responses"]; !ok {
			t.Errorf("%s %s: no responses described", method, oaPath)
		}
	}
	for k := range described {
		t.Errorf("openapi.yaml describes %s, which is not served", k)
	}
}
