// Package e2e drives the real margin binary over HTTP, as a user would:
// each test builds nothing itself (TestMain builds the binary once), starts
// it on a temporary data directory and a free port, and talks to it.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binary is the margin binary built by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "margin-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "margin")
	build := exec.Command("go", "build", "-o", binary, "../frontend-api/cmd/margin")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building margin:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is one running margin process.
type instance struct {
	t       testing.TB
	dataDir string
	addr    string
	env     []string
	cmd     *exec.Cmd
	stdout  *bytes.Buffer
	stderr  *bytes.Buffer
	exited  chan error
}

// start runs `margin serve` on a fresh data directory and a free port and
// waits until /readyz says ready.
func start(t testing.TB, env ...string) *instance {
	t.Helper()
	return startAt(t, freeAddr(t), env...)
}

// startAt is start on a given address (for a test that must know it
// before the process starts, such as its public URL).
func startAt(t testing.TB, addr string, env ...string) *instance {
	t.Helper()
	in := &instance{t: t, dataDir: t.TempDir(), env: env, addr: addr}
	in.run()
	t.Cleanup(func() {
		if t.Failed() && in.stderr != nil {
			logs := in.stderr.String()
			t.Logf("margin's log (last 6 KB):\n%s", logs[max(0, len(logs)-6000):])
		}
		in.stop()
	})
	return in
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (in *instance) run(args ...string) {
	in.t.Helper()
	in.stdout, in.stderr = &bytes.Buffer{}, &bytes.Buffer{}
	in.cmd = exec.Command(binary, append([]string{"serve"}, args...)...)
	in.cmd.Env = in.environ()
	in.cmd.Stdout, in.cmd.Stderr = in.stdout, in.stderr
	if err := in.cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	in.exited = make(chan error, 1)
	go func() { in.exited <- in.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-in.exited:
			in.t.Fatalf("margin exited during start-up: %v\nstdout: %s\nstderr: %s", err, in.stdout, in.stderr)
		default:
		}
		resp, err := http.Get(in.url("/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	in.t.Fatalf("margin not ready after 30 s\nstderr: %s", in.stderr)
}

// stop sends SIGTERM and waits for a clean exit.
func (in *instance) stop() {
	if in.cmd == nil || in.cmd.ProcessState != nil {
		return
	}
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-in.exited:
		if err != nil {
			in.t.Errorf("margin did not exit cleanly on SIGTERM: %v\nstderr: %s", err, in.stderr)
		}
	case <-time.After(30 * time.Second):
		_ = in.cmd.Process.Kill()
		in.t.Errorf("margin did not stop within 30 s of SIGTERM")
	}
	in.cmd = nil
}

// restart stops the process and starts it again on the same data directory
// and port.
func (in *instance) restart() {
	in.t.Helper()
	in.stop()
	in.run()
}

// environ is the environment the instance runs with: its data directory,
// address, and the extra variables it was started with.
func (in *instance) environ() []string {
	env := append(os.Environ(), "MARGIN_DATA_DIR="+in.dataDir, "MARGIN_ADDR="+in.addr, "MARGIN_LOG_LEVEL=warn")
	return append(env, in.env...)
}

func (in *instance) url(path string) string { return "http://" + in.addr + path }

// response is a decoded HTTP response.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map (or fails the test).
func (r response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %q", err, r.Body)
	}
	return m
}

// ErrorCode is the machine-readable code of an error response.
func (r response) ErrorCode(t testing.TB) string {
	e, _ := r.JSON(t)["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// call sends a request. body is JSON-encoded unless it is an io.Reader;
// token, if set, is sent as a bearer token.
func (in *instance) call(method, path, token string, body any, header ...string) response {
	in.t.Helper()
	var r io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		r = b
	default:
		data, err := json.Marshal(b)
		if err != nil {
			in.t.Fatal(err)
		}
		r, ctype = bytes.NewReader(data), "application/json"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, in.url(path), r)
	if err != nil {
		in.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		in.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// must is call, failing the test unless the status is want.
func (in *instance) must(want int, method, path, token string, body any) map[string]any {
	in.t.Helper()
	r := in.call(method, path, token, body)
	if r.Status != want {
		in.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, strings.TrimSpace(string(r.Body)))
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.JSON(in.t)
}

// login signs in and returns the bearer token.
func (in *instance) login(email, password string) string {
	in.t.Helper()
	body := in.must(201, "POST", "/api/v1/sessions", "", map[string]any{"email": email, "password": password})
	tok, _ := body["token"].(string)
	if tok == "" {
		in.t.Fatalf("login %s: no token in %v", email, body)
	}
	return tok
}
