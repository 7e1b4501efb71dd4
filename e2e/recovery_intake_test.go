package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bulkClass adds n students (IDs 2001…) to the fixture class, creates a
// draft assignment for them and returns its ID and a ZIP of one essay per
// student, Canvas-named, each in words of its own (no two alike).
func bulkClass(t *testing.T, in *instance, fc fixtureClass, n int) (string, []byte) {
	t.Helper()
	var csv strings.Builder
	csv.WriteString("student_id,given_name,family_name,email\n")
	for i := range n {
		fmt.Fprintf(&csv, "%d,Given%d,Family%d,\n", 2001+i, i, i)
	}
	if r := in.call("POST", "/api/v1/classes/"+fc.ClassID+"/roster", fc.TeacherToken, strings.NewReader(csv.String()), "Content-Type", "text/csv"); r.Status != 200 {
		t.Fatalf("roster: %d %s", r.Status, r.Body)
	}
	var rubric map[string]any
	mustUnmarshal(t, readFixture(t, "rubric.json"), &rubric)
	asg := in.must(201, "POST", "/api/v1/assignments", fc.TeacherToken, map[string]any{
		"class_id": fc.ClassID, "title": "Bulk essay", "prompt": "Write an essay.", "rubric": rubric,
		"due_at": time.Now().Add(14 * 24 * time.Hour).UTC().Format(time.RFC3339), "price_cents": 800,
	})["id"].(string)
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range n {
		w, _ := zw.Create(fmt.Sprintf("family%dgiven%d_%d_%d_essay.txt", i, i, 2001+i, 7000+i))
		for j := range 400 {
			fmt.Fprintf(w, "w%d%c ", rng.IntN(100000), 'a'+rune(j%26))
		}
	}
	zw.Close()
	return asg, zb.Bytes()
}

// postAsync sends a multipart upload of one file from another goroutine and
// delivers its response (or the error) on the channel.
func postAsync(in *instance, path, token string, fields []string, f upload) <-chan response {
	done := make(chan response, 1)
	body, ctype := multipartBody(in.t, fields, f)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", in.url(path), body)
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- response{Status: -1, Body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		done <- response{Status: resp.StatusCode, Header: resp.Header, Body: data}
	}()
	return done
}

// listed is the assignment's list: total and every row's version by student.
func listed(t *testing.T, in *instance, tok, asg string) (int, map[string]int) {
	t.Helper()
	rows, after, total := map[string]int{}, "", 0
	for {
		p := in.must(200, "GET", "/api/v1/assignments/"+asg+"/submissions?limit=500&after="+after, tok, nil)
		total = int(p["total"].(float64))
		for _, r := range asSlice(p["rows"]) {
			r := r.(map[string]any)
			rows[r["student_id"].(string)] = int(r["version"].(float64))
		}
		next, _ := p["next"].(string)
		if next == "" {
			return total, rows
		}
		after = next
	}
}

// kill ends the process with SIGKILL and waits for it.
func (in *instance) kill() {
	in.t.Helper()
	if err := in.cmd.Process.Kill(); err != nil {
		in.t.Fatal(err)
	}
	<-in.exited
	in.cmd = nil
}

// cutShortUpload is the assignment's upload batch that was cut short, as
// its teacher sees it.
func cutShortUpload(t *testing.T, in *instance, tok, asg string) map[string]any {
	t.Helper()
	a := in.must(200, "GET", "/api/v1/assignments/"+asg, tok, nil)
	id, _ := a["cut_short_upload_id"].(string)
	if id == "" {
		t.Fatalf("the assignment names no upload cut short: %v", a)
	}
	return in.must(200, "GET", "/api/v1/uploads/"+id, tok, nil)
}

// outcomesByStatus groups a batch's outcomes: status -> student IDs.
func outcomesByStatus(up map[string]any) map[string][]string {
	out := map[string][]string{}
	for _, o := range asSlice(up["outcomes"]) {
		o := o.(map[string]any)
		id, _ := o["student_id"].(string)
		out[o["status"].(string)] = append(out[o["status"].(string)], id)
	}
	return out
}

// TestE2ERecovery: issue 22, item 4 with kill -9. A bulk upload is killed
// part-way; after the restart every submission stored is in the teacher's
// list, the batch (found from the assignment) is marked interrupted with an
// outcome for every file stored and nothing else claimed, and sending the
// same ZIP again with the batch's ID completes it: the stored files are
// unchanged, the rest created, none twice.
func TestE2ERecovery(t *testing.T) {
	in := start(t)
	fc := publishFixtureClass(t, in)
	tok := fc.TeacherToken
	const n = 120
	asg, z := bulkClass(t, in, fc, n)
	path := "/api/v1/assignments/" + asg + "/submissions"
	done := postAsync(in, path, tok, nil, upload{Field: "files", Name: "bulk.zip", Data: z})
	waitFor(t, "15 submissions listed", func() bool { total, _ := listed(t, in, tok, asg); return total >= 15 })
	in.kill()
	if r := <-done; r.Status > 0 {
		t.Fatalf("the killed upload answered %d %s (it was killed too late)", r.Status, r.Body)
	}

	in.run()
	total, rows := listed(t, in, tok, asg)
	if total != len(rows) || total < 15 || total >= n {
		t.Fatalf("after the restart the list has %d rows (total %d), want between 15 and %d", len(rows), total, n)
	}
	up := cutShortUpload(t, in, tok, asg)
	by := outcomesByStatus(up)
	if up["state"] != "interrupted" || len(by["created"]) != total {
		t.Fatalf("the killed batch: state %v, %d created for %d listed: %v", up["state"], len(by["created"]), total, up["counts"])
	}
	for _, st := range by["created"] {
		if rows[st] != 1 {
			t.Errorf("outcome for %s, who is not listed", st)
		}
	}
	for _, r := range asSlice(up["outcomes"]) {
		if r := r.(map[string]any); r["status"] == "rejected" && !strings.Contains(fmt.Sprint(r["error"]), "upload it again") {
			t.Errorf("a file was rejected: %v", r)
		}
	}
	// The same ZIP again completes the batch.
	again := in.postMultipart(path+"?batch_id="+up["id"].(string), tok, nil, upload{Field: "files", Name: "bulk.zip", Data: z})
	if again.Status != 201 {
		t.Fatalf("the ZIP again: %d %s", again.Status, again.Body)
	}
	final := again.JSON(t)
	fby := outcomesByStatus(final)
	if len(fby["unchanged"]) != total || len(fby["created"]) != n || final["state"] != "finished" {
		t.Fatalf("the completed batch: %v, %d unchanged, %d created", final["state"], len(fby["unchanged"]), len(fby["created"]))
	}
	if total, rows := listed(t, in, tok, asg); total != n || len(rows) != n {
		t.Fatalf("after completing: %d rows (total %d), want %d", len(rows), total, n)
	}
	in.stop()
	if logs := in.stderr.String(); !strings.Contains(logs, "intake finished work an interrupted run left in flight") {
		t.Errorf("the restart after the kill did not log its repair; log:\n%s", logs)
	}
}

// TestE2ERecoveryListRow: issue 22, item 2. Killed between storing a
// version and writing its list row (MARGIN_TEST_FAULT holds the upload
// there), the version is the student's but not in the teacher's list; the
// restart lists it, with the batch's outcome, and logs the repair. The
// same file again is unchanged.
func TestE2ERecoveryListRow(t *testing.T) {
	in := start(t)
	fc := publishFixtureClass(t, in)
	tok, sub := fc.TeacherToken, fc.Submissions["1001"]
	path := "/api/v1/assignments/" + fc.AssignmentID + "/submissions"
	revision := upload{Field: "file", Name: "riveraavery_1001_8001_revised.txt", Data: []byte(strings.Repeat("Avery's revised essay on personalized learning. ", 40))}
	base := in.env
	in.stop()
	in.env = append(append([]string{}, base...), "MARGIN_TEST_FAULT=intake.version.before-row")
	in.run()
	done := postAsync(in, path, tok, nil, revision)
	waitFor(t, "the version stored", func() bool {
		s := in.must(200, "GET", "/api/v1/submissions/"+sub, tok, nil)["submission"].(map[string]any)
		return len(asSlice(s["versions"])) == 2
	})
	if _, rows := listed(t, in, tok, fc.AssignmentID); rows["1001"] != 1 {
		t.Fatalf("before the kill the row says version %d; the fault point is wrong", rows["1001"])
	}
	in.kill()
	<-done

	in.env = base
	in.run()
	if _, rows := listed(t, in, tok, fc.AssignmentID); rows["1001"] != 2 {
		t.Fatalf("after the restart the row of 1001 says version %d, want 2", rows["1001"])
	}
	up := cutShortUpload(t, in, tok, fc.AssignmentID)
	outs := asSlice(up["outcomes"])
	if up["state"] != "interrupted" || len(outs) != 1 {
		t.Fatalf("the killed batch: %v", up)
	}
	if o := outs[0].(map[string]any); o["status"] != "new_version" || o["version"] != 2.0 || o["file"] != revision.Name {
		t.Fatalf("its outcome: %v", o)
	}
	r := in.postMultipart(path, tok, nil, revision)
	if o := asSlice(r.JSON(t)["outcomes"])[0].(map[string]any); r.Status != 201 || o["status"] != "unchanged" {
		t.Fatalf("the same file again: %d %v", r.Status, o)
	}
	in.stop()
	if logs := in.stderr.String(); !strings.Contains(logs, `versions_listed=1`) && !strings.Contains(logs, `"versions_listed":1`) {
		t.Errorf("the restart did not log the version it listed; log:\n%s", logs)
	}
}

// TestE2ERecoveryShutdown: issue 22, item 4. SIGTERM while an upload runs
// longer than MARGIN_SHUTDOWN_TIMEOUT: the upload stops at a file boundary
// and answers 503 with its outcomes so far, marked stopped by shutdown;
// the process exits 0; after the restart the batch and the list say the
// same, file for file.
func TestE2ERecoveryShutdown(t *testing.T) {
	in := start(t, "MARGIN_SHUTDOWN_TIMEOUT=1s")
	fc := publishFixtureClass(t, in)
	tok := fc.TeacherToken
	const n = 150
	asg, z := bulkClass(t, in, fc, n)
	done := postAsync(in, "/api/v1/assignments/"+asg+"/submissions", tok, nil, upload{Field: "files", Name: "bulk.zip", Data: z})
	waitFor(t, "5 submissions listed", func() bool { total, _ := listed(t, in, tok, asg); return total >= 5 })
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-done
	var up map[string]any
	if err := json.Unmarshal(r.Body, &up); err != nil || r.Status != 503 {
		t.Fatalf("the upload during shutdown: %d %s", r.Status, r.Body)
	}
	by := outcomesByStatus(up)
	if up["state"] != "stopped" || up["stopped_by"] != "shutdown" || len(by["created"]) < 5 || len(by["created"]) == n || len(by) != 1 {
		t.Fatalf("the stopped upload: state %v by %v, outcomes %v", up["state"], up["stopped_by"], up["counts"])
	}
	if e, _ := up["error"].(map[string]any); e["code"] != "unavailable" || !strings.Contains(e["message"].(string), "batch_id="+up["id"].(string)) {
		t.Errorf("the stopped upload's error: %v", up["error"])
	}
	select {
	case err := <-in.exited:
		if err != nil {
			t.Fatalf("margin exited with %v after an orderly shutdown; log:\n%s", err, in.stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("margin did not exit within 60 s of SIGTERM")
	}
	in.cmd = nil

	in.run()
	total, rows := listed(t, in, tok, asg)
	if total != len(by["created"]) || len(rows) != total {
		t.Fatalf("after the restart %d rows (total %d) for %d created outcomes", len(rows), total, len(by["created"]))
	}
	for _, st := range by["created"] {
		if rows[st] != 1 {
			t.Errorf("%s has an outcome but no row", st)
		}
	}
	again := in.must(200, "GET", "/api/v1/uploads/"+up["id"].(string), tok, nil)
	if again["state"] != "stopped" || len(asSlice(again["outcomes"])) != len(asSlice(up["outcomes"])) {
		t.Fatalf("the batch after the restart: %v, %d outcomes", again["state"], len(asSlice(again["outcomes"])))
	}
}
