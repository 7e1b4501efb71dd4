package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2ERecoveryOriginals kills margin (kill -9) while it writes an
// original to the embedded S3, at the two moments that matter: halfway
// through the bytes, and after the object is in place but before its
// metadata is. After a restart on the same data directory, nothing
// acknowledged is lost (every earlier original downloads byte for byte),
// the killed upload left no version behind, the spool and staged files of
// the killed run are gone (and their removal logged), and uploading the
// same file again succeeds and stores it byte for byte.
func TestE2ERecoveryOriginals(t *testing.T) {
	in := start(t)
	fc := publishFixtureClass(t, in)
	tok := fc.TeacherToken
	acknowledged := map[string][]byte{}
	for _, sub := range fc.Submissions {
		path := "/api/v1/submissions/" + sub + "/versions/1/original"
		r := in.call("GET", path, tok, nil)
		if r.Status != 200 || len(r.Body) == 0 {
			t.Fatalf("GET %s: %d", path, r.Status)
		}
		acknowledged[path] = r.Body
	}
	sub := fc.Submissions["1001"]
	base := in.env
	blobs := filepath.Join(in.dataDir, "blobs")

	for i, fault := range []string{"blob.put.mid", "blob.put.published"} {
		version := i + 2
		revision := []byte(strings.Repeat(fmt.Sprintf("Revision %d of my essay on personalised learning, paragraph after paragraph. ", version), 12000))
		sum := sha256.Sum256(revision)
		key := filepath.Join(blobs, "buckets", "margin", "submissions", hex.EncodeToString(sum[:]))

		// Freeze the put at the fault, then kill -9.
		in.stop()
		in.env = append(append([]string{}, base...), "MARGIN_TEST_FAULT="+fault)
		in.run()
		killedTmp := globOne(t, filepath.Join(in.dataDir, "tmp", "run-*"))
		body, ctype := multipartBody(t, []string{"student_id", "1001"}, upload{Field: "file", Name: "revision.txt", Data: revision})
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", in.url("/api/v1/assignments/"+fc.AssignmentID+"/submissions"), body)
			req.Header.Set("Content-Type", ctype)
			req.Header.Set("Authorization", "Bearer "+tok)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		waitFor(t, fault, func() bool {
			switch fault {
			case "blob.put.mid":
				staged, _ := filepath.Glob(filepath.Join(blobs, "staging", "*.obj"))
				return len(staged) == 1 && fileSize(staged[0]) >= int64(len(revision)/2)
			default:
				staged, _ := filepath.Glob(filepath.Join(blobs, "staging", "*.meta"))
				return len(staged) == 1 && fileSize(key) == int64(len(revision))
			}
		})
		if err := in.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-in.exited
		in.cmd = nil
		if spools, _ := filepath.Glob(filepath.Join(killedTmp, "margin-upload-*")); len(spools) != 1 {
			t.Fatalf("the killed run's spool files: %v, want the upload's one (else this test kills too early)", spools)
		}

		// Restart as usual.
		in.env = base
		in.run()
		if runs, _ := filepath.Glob(filepath.Join(in.dataDir, "tmp", "run-*")); len(runs) != 1 || runs[0] == killedTmp {
			t.Fatalf("temporary directories after the restart: %v (the killed run's was %s)", runs, killedTmp)
		}
		if staged, _ := os.ReadDir(filepath.Join(blobs, "staging")); len(staged) != 0 {
			t.Fatalf("staged files after the restart: %v", staged)
		}
		s := in.must(200, "GET", "/api/v1/submissions/"+sub, tok, nil)["submission"].(map[string]any)
		if n := len(asSlice(s["versions"])); n != version-1 {
			t.Fatalf("after the kill at %s the submission has %d versions, want %d (the killed upload was never acknowledged)", fault, n, version-1)
		}
		for path, want := range acknowledged {
			if r := in.call("GET", path, tok, nil); r.Status != 200 || !bytes.Equal(r.Body, want) {
				t.Fatalf("after the kill at %s, GET %s: %d, %d bytes, want the %d acknowledged", fault, path, r.Status, len(r.Body), len(want))
			}
		}

		// The same file again is stored whole.
		up := in.postMultipart("/api/v1/assignments/"+fc.AssignmentID+"/submissions", tok, []string{"student_id", "1001"},
			upload{Field: "file", Name: "revision.txt", Data: revision})
		if up.Status != 201 {
			t.Fatalf("upload after the kill at %s: %d %s", fault, up.Status, up.Body)
		}
		o := asSlice(up.JSON(t)["outcomes"])[0].(map[string]any)
		if o["status"] != "new_version" || o["version"] != float64(version) {
			t.Fatalf("upload after the kill at %s: %v, want new_version %d", fault, o, version)
		}
		path := fmt.Sprintf("/api/v1/submissions/%s/versions/%d/original", sub, version)
		if r := in.call("GET", path, tok, nil); r.Status != 200 || !bytes.Equal(r.Body, revision) {
			t.Fatalf("GET %s: %d, %d bytes, want the %d uploaded", path, r.Status, len(r.Body), len(revision))
		}
		acknowledged[path] = revision

		in.stop()
		if runs, _ := filepath.Glob(filepath.Join(in.dataDir, "tmp", "run-*")); len(runs) != 0 {
			t.Fatalf("a clean stop left its temporary directory: %v", runs)
		}
		logs := in.stderr.String()
		for _, want := range []string{"removed the temporary files an interrupted run left", "embedded S3 recovered from an interrupted run"} {
			if !strings.Contains(logs, want) {
				t.Errorf("after the kill at %s the restart did not log %q; log:\n%s", fault, want, logs)
			}
		}
		if completed := `"puts_completed":["margin/submissions/` + hex.EncodeToString(sum[:]) + `"]`; fault == "blob.put.published" && !strings.Contains(logs, completed) {
			t.Errorf("the put stopped between its renames was not completed; log:\n%s", logs)
		}
		in.run()
	}
}

func globOne(t *testing.T, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) != 1 {
		t.Fatalf("%s: %v, want one match", pattern, m)
	}
	return m[0]
}

func fileSize(name string) int64 {
	st, err := os.Stat(name)
	if err != nil {
		return -1
	}
	return st.Size()
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
