package api

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// TestParam: an ID reads the same raw or percent-encoded, including the "/"
// of a batch split before IDs were opaque.
func TestParam(t *testing.T) {
	app := fiber.New()
	var got string
	app.Get("/x/:id/accept", func(c *fiber.Ctx) error { got = param(c, "id"); return c.SendStatus(200) })
	tests := []struct {
		path, want string
		status     int
	}{
		{"/x/asg_a:sub_b:v1:first/accept", "asg_a:sub_b:v1:first", 200},
		{"/x/asg_a%3Asub_b%3Av1%3Afirst/accept", "asg_a:sub_b:v1:first", 200},
		{"/x/asg_a-first-k3j2/accept", "asg_a-first-k3j2", 200},
		{"/x/asg_a:1001:v1:first:b%2F1:o1/accept", "asg_a:1001:v1:first:b/1:o1", 200},
		{"/x/a%2fb/accept", "a/b", 200},
		{"/x/caf%C3%A9%20%3F%23/accept", "café ?#", 200},
		{"/x/plus+sign/accept", "plus+sign", 200},
		{"/x/asg_a:1001:v1:first:b/1:o1/accept", "", 404}, // a raw "/" is two segments
	}
	for _, tt := range tests {
		got = ""
		resp, err := app.Test(httptest.NewRequest("GET", tt.path, nil))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tt.status || got != tt.want {
			t.Errorf("%s: status %d, param %q; want %d, %q", tt.path, resp.StatusCode, got, tt.status, tt.want)
		}
	}
}

// TestOnlyParamReadsPathParameters: every route and page reads its path
// parameters through param, so none decodes them differently.
func TestOnlyParamReadsPathParameters(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "params.go" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, ".Params(") || strings.Contains(line, ".AllParams(") || strings.Contains(line, ".ParamsInt(") {
				t.Errorf("%s:%d reads a path parameter without param: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
