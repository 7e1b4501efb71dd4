package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// TestE2EFoundation: sign up and log in over real HTTP, restart on the same
// data directory, and find everything still there.
func TestE2EFoundation(t *testing.T) {
	m := start(t)
	if !strings.Contains(m.stdout.String(), "Margin is running at http://"+m.addr) || !strings.Contains(m.stdout.String(), m.dataDir) {
		t.Fatalf("start-up line = %q; want the URL and the data directory", m.stdout.String())
	}
	m.must(200, "GET", "/healthz", "", nil)

	const pw = "lesson plans and coffee"
	signup := m.must(202, "POST", "/api/v1/signup", "", map[string]any{
		"email": "Rivera.Teacher@Lincoln.example.org", "password": pw, "name": "Ms Rivera", "role": "teacher", "school": "Lincoln High",
	})
	m.must(202, "POST", "/api/v1/signup", "", map[string]any{
		"email": "grader@example.com", "password": pw, "name": "Gail Grader", "role": "grader",
	})
	// A taken email (in another case) gets the same answer and changes nothing.
	if again := m.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": "rivera.teacher@lincoln.example.org", "password": pw, "name": "Again", "role": "grader"}); again["message"] != signup["message"] {
		t.Fatalf("a taken email answers %v; a new one %v", again, signup)
	}
	if r := m.call("POST", "/api/v1/sessions", "", map[string]any{"email": "rivera.teacher@lincoln.example.org", "password": "not the password"}); r.Status != 401 || r.ErrorCode(t) != "unauthenticated" {
		t.Fatalf("wrong password: %d %s", r.Status, r.Body)
	}

	tok := m.login("rivera.teacher@lincoln.example.org", pw)
	me := m.must(200, "GET", "/api/v1/me", tok, nil)
	if me["user"].(map[string]any)["role"] != "teacher" || me["user"].(map[string]any)["name"] != "Ms Rivera" {
		t.Fatalf("me = %v", me)
	}
	invite := me["school"].(map[string]any)["invite_code"].(string)
	graderTok := m.login("grader@example.com", pw)
	if r := m.call("GET", "/api/v1/admin/schools", graderTok, nil); r.Status != 403 {
		t.Fatalf("grader on an admin route: %d", r.Status)
	}

	// Restart on the same data directory: accounts, schools and sessions survive.
	m.restart()
	m.must(200, "GET", "/api/v1/me", tok, nil)
	tok2 := m.login("rivera.teacher@lincoln.example.org", pw)
	me = m.must(200, "GET", "/api/v1/me", tok2, nil)
	if me["school"].(map[string]any)["invite_code"] != invite {
		t.Fatalf("school after restart = %v, want invite code %s", me["school"], invite)
	}
	m.must(204, "DELETE", "/api/v1/sessions/current", tok2, nil)
	if r := m.call("GET", "/api/v1/me", tok2, nil); r.Status != 401 {
		t.Fatalf("me after logout: %d", r.Status)
	}

	// A second process on the same data directory is refused, not allowed to corrupt it.
	second := exec.Command(binary, "serve")
	second.Env = append(m.environ(), "MARGIN_ADDR="+freeAddr(t))
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another margin process is using") {
		t.Fatalf("second process on the same data directory: err=%v, output %s", err, out)
	}

	// An admin bootstrapped from the command line can sign in (after a stop: the data directory is locked while serving).
	m.stop()
	admin := exec.Command(binary, "admin", "create", "--email", "root@example.org", "--role", "admin", "--password-stdin")
	admin.Env = m.environ()
	admin.Stdin = strings.NewReader(pw + "\n")
	if out, err := admin.CombinedOutput(); err != nil || !strings.Contains(string(out), "Created admin root@example.org") {
		t.Fatalf("admin create: %v: %s", err, out)
	}
	m.run()
	adminTok := m.login("root@example.org", pw)
	schools := m.must(200, "GET", "/api/v1/admin/schools", adminTok, nil)
	if n := len(schools["schools"].([]any)); n != 1 {
		t.Fatalf("admin sees %d schools, want 1", n)
	}
}
