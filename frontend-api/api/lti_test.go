package api_test

import (
	"testing"

	"github.com/marginschool/margin/frontend-api/api"
)

// With LTI off (no MARGIN_PUBLIC_URL), its routes answer 404 with a
// sentence for the operator, and its teacher routes still ask who is
// asking first.
func TestLTIOff(t *testing.T) {
	h := newHarness(t, api.Config{})
	for _, path := range []string{"/lti/jwks", "/lti/login?iss=x", "/lti/register?openid_configuration=x"} {
		if st, body, _ := h.do("GET", path, "", nil); st != 404 || errCode(body) != "not_found" {
			t.Errorf("GET %s with LTI off: %d %v", path, st, body)
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
