package api_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/marginschool/margin/frontend-api/api"
)

// With LTI off (no MARGIN_PUBLIC_URL), its routes answer 404 with a
// sentence for the operator (the key set as JSON, the browser's pages as a
// page), and its teacher routes still ask who is asking first.
func TestLTIOff(t *testing.T) {
	h := newHarness(t, api.Config{})
	if st, body, _ := h.do("GET", "/lti/jwks", "", nil); st != 404 || errCode(body) != "not_found" {
		t.Errorf("GET /lti/jwks with LTI off: %d %v", st, body)
	}
	for _, path := range []string{"/lti/login?iss=x", "/lti/register?openid_configuration=x"} {
		resp, err := h.srv.App().Test(httptest.NewRequest("GET", path, nil), 10_000)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || !strings.Contains(string(page), "MARGIN_PUBLIC_URL") {
			t.Errorf("GET %s with LTI off: %d %.200q", path, resp.StatusCode, page)
		}
	}
	if st, _, _ := h.do("GET", "/api/v1/assignments/asg_x/lti/scores", "", nil); st != 401 {
		t.Errorf("the scores without a session: %d", st)
	}
	h.signupTeacher("t@school.example")
	tok := h.login("t@school.example", pw)
	if st, body, _ := h.do("GET", "/api/v1/admin/lti/registrations", tok, nil); st != 403 {
		t.Errorf("a teacher on the admin's registrations: %d %v", st, body)
	}
}
