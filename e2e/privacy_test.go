package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"gopkg.in/yaml.v3"

	"github.com/marginschool/margin/pkg/mongostore"
)

// The privacy class: student IDs that would need escaping in a URL, names
// that are ordinary words, and a teacher whose name the essays use.
const (
	privTeacherEmail = "maya.rivera@lincoln.example.org"
	privTeacherName  = "Maya Rivera"
	privRoster       = "student_id,given_name,family_name,email\n" +
		"lh/1001,Avery,Okafor,avery.okafor@students.example.org\n" +
		"lh/1002,Grace,Brown,grace.brown@students.example.org\n" +
		"lh/1003,Will,Lindqvist,will.lindqvist@students.example.org\n" +
		"lh/1004,Priya,Natarajan,priya.natarajan@students.example.org\n" +
		"lh/1005,Mateo,Alvarez,mateo.alvarez@students.example.org\n"
)

// privEssays name classmates and the teacher the ways students do: full
// names, given names alone, possessives, handles, emails, "Family, Given",
// a title and family name, and ordinary words that are also names.
var privEssays = map[string]string{
	"lh/1001": "Avery Okafor, English 10\n\nMy friend Grace Brown helped me with this essay, and I asked Will to read my draft. " +
		"Ms. Rivera said that personalized learning lets every student move at their own pace. I asked @priya_natarajan on the class forum, " +
		"and mateo.alvarez@students.example.org sent me a source. Grace's notes were the most useful. By the grace of good timing I finished early.\n\n" +
		"Okafor, Avery",
	"lh/1002": "Personalized learning\n\nIn my school, teachers like Ms Rivera plan lessons around each student. Avery Okafor and I compared " +
		"two studies, and Avery found the better one. I hope the reader agrees that the evidence is mixed. Write to grace.brown@students.example.org with questions.",
	"lh/1003": "Will Lindqvist\n\nPersonalized learning needs time. MATEO ALVAREZ argued the opposite in class, and Priya agreed with him. " +
		"I will show that both of them are partly right. Maya Rivera, our teacher, asked us to cite three sources.",
	"lh/1004": "Why pace matters\n\nStudents learn at different speeds. Natarajan is my family name, and my grandmother says the same. " +
		"My friends @grace_brown and Mateo read my draft. Mrs. Rivera marked it on Monday.",
	"lh/1005": "Learning plans\n\nA learning plan lists goals. Lindqvist, Will and I wrote ours together, and Will's plan was the clearest. " +
		"Grace helped too. Ms. Rivera (maya.rivera@lincoln.example.org) checked them.",
}

// privUpload sends one file per student, each after its student_id field.
func privUpload(t *testing.T, in *instance, tok, assignmentID string) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	ids := make([]string, 0, len(privEssays))
	for id := range privEssays {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := w.WriteField("student_id", id); err != nil {
			t.Fatal(err)
		}
		p, err := w.CreateFormFile("files", "essay-"+strings.ReplaceAll(id, "/", "-")+".txt")
		if err != nil {
			t.Fatal(err)
		}
		p.Write([]byte(privEssays[id]))
	}
	w.Close()
	r := in.call("POST", "/api/v1/assignments/"+assignmentID+"/submissions", tok, &buf, "Content-Type", w.FormDataContentType())
	if r.Status != 201 {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	return r.JSON(t)
}

// privCheck holds what no grader may ever receive, and which routes the
// grader test has called.
type privCheck struct {
	t         *testing.T
	in        *instance
	forbidden []*regexp.Regexp // names, emails and IDs of the school side
	called    map[string]bool  // "METHOD /openapi/path" of grader calls that answered
}

// Keys a grader's JSON may hold. Objects under mapKeys are maps whose keys
// are rubric keys, currencies or comment IDs; their values are checked.
var (
	graderKeys = strings.Fields(`error code message field details request_id
		user id name role created_at email school
		grader_id subjects grade_bands min max affiliations kind capacity available_days bio status vetted_by vetted_at held updated_at quality
		calibration_attempts calibration_passed calibration_accuracy submitted on_time on_time_rate approvals returns approval_rate helpful_ratings helpfulness second_reads agreement
		offers batch_id assignment_id reader size due_at why summary factors weight value points note spread_penalty load_in_round score eligible_graders state expires_at decided_at
		title prompt subject grade_level rubric scale key label criteria standard focus_points
		tasks submission_id version_id version assigned_at submitted_at
		calibrations attempts passed may_attempt anchor text n exact at attempt reference criterion level descriptor yours may_retry
		task assignment pseudonym settings min_quotes require_strength require_growth min_comment_chars
		feedback rev comments quotes target selector type prefix suffix start end comment glows grows focus_notes index return_note
		entries
		onboarding account_id charges_enabled payouts_enabled details_submitted currently_due disabled_reason status_at
		currency balance_cents payable_cents in_payment_cents held_cents minimum_cents balances earnings reads cents
		lines account price_cents fee_cents reason by payment_id transfer_id settles settles_entries entry_count
		payments run_id idempotency_key bank_payouts failure_code failure_message url
		items link read unread older delivery always`)
	mapKeys = map[string]bool{"levels": true, "comments": true, "balances": true}
	// Keys that must never reach a grader, whatever the allow-list says.
	neverKeys = strings.Fields("student_id student_name class_id school_id teacher_id reflections questions ratings history students")
)

// check records a grader's response to route and fails on any key not
// allowed or any school-side name, email or ID in it. Email is allowed only
// in /api/v1/me, which is the grader's own account.
func (p *privCheck) check(route string, r response) response {
	p.t.Helper()
	if r.Status/100 == 2 {
		p.called[route] = true
	}
	body := string(r.Body)
	for _, re := range p.forbidden {
		if re.MatchString(body) {
			p.t.Errorf("%s: a grader receives %q: %s", route, re.String(), clip(body))
		}
	}
	if len(r.Body) == 0 || !strings.Contains(r.Header.Get("Content-Type"), "json") {
		return r
	}
	var v any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		p.t.Fatalf("%s: not JSON: %v", route, err)
	}
	p.walk(route, "", v)
	return r
}

func (p *privCheck) walk(route, path string, v any) {
	p.t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			switch {
			case slices.Contains(neverKeys, k):
				p.t.Errorf("%s: a grader receives the field %s%s", route, path, k)
			case k == "email" && route != "GET /api/v1/me":
				p.t.Errorf("%s: a grader receives an email at %s%s", route, path, k)
			case !slices.Contains(graderKeys, k) && !mapKeys[k]:
				p.t.Errorf("%s: the field %s%s is not on the grader allow-list", route, path, k)
			}
			if mapKeys[k] {
				if m, ok := x.(map[string]any); ok {
					for mk, mv := range m {
						if _, ok := mv.(map[string]any); ok {
							p.walk(route, path+k+"."+mk+".", mv)
						}
					}
					continue
				}
			}
			p.walk(route, path+k+".", x)
		}
	case []any:
		for _, x := range v {
			p.walk(route, path, x)
		}
	}
}

func clip(s string) string {
	if len(s) > 400 {
		return s[:400] + "…"
	}
	return s
}

// graderRoutes lists the API operations a grader may call, from
// openapi.yaml (which a test keeps in step with the router).
func graderRoutes(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../frontend-api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Roles []string `yaml:"x-roles"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if slices.Contains(op.Roles, "grader") {
				out = append(out, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestE2EFeedbackGraderPrivacy reproduces issue 17 items 1, 2 and 5 against
// the binary: through every API route and page a grader can reach (the API
// routes listed from openapi.yaml), with a class whose essays name
// classmates and the teacher in many forms, whose student IDs hold a "/",
// and whose students write questions signed with their name and email, a
// grader receives no field off the allow-list and no rostered name, email
// or ID, nor a class, school or teacher ID; quotes of a pseudonym map back
// to the student's words.
func TestE2EFeedbackGraderPrivacy(t *testing.T) {
	in := startWithAdmin(t, "root@example.org", "MARGIN_MATCHING_INTERVAL=1h", "MARGIN_PAYOUTS_TICK=200ms")
	admin := in.login("root@example.org", teacherPassword)

	in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": privTeacherEmail, "password": teacherPassword, "name": privTeacherName, "role": "teacher", "school": "Lincoln High"})
	teacher := in.login(privTeacherEmail, teacherPassword)
	class := in.must(201, "POST", "/api/v1/classes", teacher, map[string]any{"name": "English 10, period 4", "subject": "english", "grade_level": 10})
	classID := class["id"].(string)
	if r := in.call("POST", "/api/v1/classes/"+classID+"/roster", teacher, strings.NewReader(privRoster), "Content-Type", "text/csv"); r.Status != 200 {
		t.Fatalf("roster: %d %s", r.Status, r.Body)
	}
	var rubric map[string]any
	mustUnmarshal(t, readFixture(t, "rubric.json"), &rubric)
	asg := in.must(201, "POST", "/api/v1/assignments", teacher, map[string]any{
		"class_id": classID, "title": "Research essay", "prompt": "Write a research essay on personalized learning in schools.",
		"rubric": rubric, "due_at": time.Now().Add(14 * 24 * time.Hour).UTC().Format(time.RFC3339), "price_cents": 800,
	})
	asgID := asg["id"].(string)
	up := privUpload(t, in, teacher, asgID)
	subs := map[string]string{} // student ID → submission ID
	for _, o := range asSlice(up["outcomes"]) {
		o := o.(map[string]any)
		if o["status"] != "created" {
			t.Fatalf("upload outcome %v", o)
		}
		subs[o["student_id"].(string)] = o["submission_id"].(string)
	}
	// Opaque submission IDs: no student ID, and nothing a URL must escape.
	for st, sub := range subs {
		if strings.Contains(sub, "1001") || strings.Contains(sub, strings.TrimPrefix(st, "lh/")) || url.PathEscape(sub) != sub {
			t.Fatalf("submission ID %q of %s is not opaque", sub, st)
		}
	}
	levels := map[string]string{}
	for _, c := range []string{"thesis", "evidence", "analysis", "organization", "conventions"} {
		levels[c] = "proficient"
	}
	in.must(200, "PUT", "/api/v1/assignments/"+asgID+"/anchors", teacher, map[string]any{"anchors": []any{map[string]any{"student_id": "lh/1003", "levels": levels}}})
	in.must(200, "POST", "/api/v1/assignments/"+asgID+"/publish", teacher, nil)

	// What no grader may receive.
	p := &privCheck{t: t, in: in, called: map[string]bool{}}
	word := func(s string) *regexp.Regexp { return regexp.MustCompile(`\b` + regexp.QuoteMeta(s) + `\b`) }
	for _, line := range strings.Split(strings.TrimSpace(privRoster), "\n")[1:] {
		f := strings.Split(line, ",")
		p.forbidden = append(p.forbidden, regexp.MustCompile(regexp.QuoteMeta(f[0])), regexp.MustCompile(`(?i)`+regexp.QuoteMeta(f[3])),
			word(f[1]), word(f[2]), regexp.MustCompile(`(?i)\b`+regexp.QuoteMeta(strings.ToLower(f[1]))+`[._]`+regexp.QuoteMeta(strings.ToLower(f[2]))))
	}
	p.forbidden = append(p.forbidden, word("Maya"), word("Rivera"), regexp.MustCompile(`(?i)`+regexp.QuoteMeta(privTeacherEmail)),
		regexp.MustCompile(regexp.QuoteMeta(classID)), regexp.MustCompile(regexp.QuoteMeta(class["school_id"].(string))),
		regexp.MustCompile(regexp.QuoteMeta(class["teacher_id"].(string))), regexp.MustCompile(`1001|1002|1003|1004|1005`))
	g := func(tok, method, route, path string, body any) response {
		t.Helper()
		return p.check(method+" "+route, in.call(method, path, tok, body))
	}
	gmust := func(want int, tok, method, route, path string, body any) map[string]any {
		t.Helper()
		r := g(tok, method, route, path, body)
		if r.Status != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, r.Status, want, r.Body)
		}
		if len(r.Body) == 0 {
			return nil
		}
		return r.JSON(t)
	}

	// Two graders, vetted; both pass calibration on the anchor paper.
	gid, gita := signUpGrader(t, in, "gita@graders.example.net", "Gita Grader", []map[string]int{{"min": 9, "max": 12}}, nil)
	hid, hal := signUpGrader(t, in, "hal@graders.example.net", "Hal Second", []map[string]int{{"min": 9, "max": 12}}, nil)
	for _, id := range []string{gid, hid} {
		in.must(200, "PUT", "/api/v1/admin/graders/"+id+"/vetting", admin, map[string]any{"status": "approved"})
	}
	for _, tok := range []string{gita, hal} {
		gmust(200, tok, "GET", "/api/v1/me", "/api/v1/me", nil)
		gmust(200, tok, "GET", "/api/v1/grader/profile", "/api/v1/grader/profile", nil)
		if cs := asSlice(gmust(200, tok, "GET", "/api/v1/grader/calibrations", "/api/v1/grader/calibrations", nil)["calibrations"]); len(cs) != 1 {
			t.Fatalf("calibrations: %v", cs)
		}
		ct := gmust(200, tok, "GET", "/api/v1/grader/calibration/{assignmentId}", "/api/v1/grader/calibration/"+asgID, nil)
		if !strings.Contains(ct["text"].(string), "Student ") {
			t.Fatalf("the anchor paper shows no pseudonyms: %q", ct["text"])
		}
		res := gmust(201, tok, "POST", "/api/v1/grader/calibration/{assignmentId}", "/api/v1/grader/calibration/"+url.PathEscape(asgID), map[string]any{"levels": levels})
		if res["attempt"].(map[string]any)["passed"] != true {
			t.Fatalf("calibration: %v", res)
		}
	}
	// The calibration pages, while the assignment is open.
	graderPages := func(email string, paths ...string) {
		t.Helper()
		c := browserClient(t)
		_, _, tok := page(t, c, in, "/signin")
		postForm(t, c, in, "/signin", url.Values{"_csrf": {tok}, "email": {email}, "password": {teacherPassword}})
		for _, path := range paths {
			resp, body, _ := page(t, c, in, path)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d", path, resp.StatusCode)
			}
			p.check("page "+path, response{Status: resp.StatusCode, Header: resp.Header, Body: []byte(body)})
			for _, bad := range []string{"reflection", "Why this level", "student_id", "class_id", "school_id"} {
				if strings.Contains(body, bad) {
					t.Errorf("%s shows %q", path, bad)
				}
			}
		}
	}
	graderPages("gita@graders.example.net", "/grader/calibration", "/grader/calibration/"+asgID+"/attempts/1")
	gmust(200, gita, "PUT", "/api/v1/grader/profile", "/api/v1/grader/profile", map[string]any{
		"subjects": []string{"English"}, "grade_bands": []map[string]int{{"min": 9, "max": 12}}, "capacity": 30,
		"available_days": []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}, "bio": "Former teacher.",
	})

	// A round offers the class; the offer, the batch and the tasks carry
	// no student ID. The accept goes with the ID percent-encoded.
	in.must(201, "POST", "/api/v1/assignments/"+asgID+"/matching/rounds", teacher, nil)
	var offer map[string]any
	var taker, other string
	for _, tok := range []string{gita, hal} {
		for _, o := range asSlice(gmust(200, tok, "GET", "/api/v1/grader/offers", "/api/v1/grader/offers?state=open", nil)["offers"]) {
			offer, taker = o.(map[string]any), tok
		}
	}
	if offer == nil {
		t.Fatal("no offer")
	}
	if other = gita; taker == gita {
		other = hal
	}
	gmust(200, taker, "POST", "/api/v1/grader/offers/{id}/accept", "/api/v1/grader/offers/"+strings.ReplaceAll(offer["id"].(string), ":", "%3A")+"/accept", nil)

	// The blind second read goes to the other grader, who declines it.
	in.must(201, "POST", "/api/v1/assignments/"+asgID+"/matching/rounds", teacher, nil)
	second := asSlice(gmust(200, other, "GET", "/api/v1/grader/offers", "/api/v1/grader/offers?state=open", nil)["offers"])
	if len(second) != 1 {
		t.Fatalf("second-read offers: %v", second)
	}
	gmust(200, other, "POST", "/api/v1/grader/offers/{id}/decline", "/api/v1/grader/offers/"+second[0].(map[string]any)["id"].(string)+"/decline", nil)

	// Grade every task; quote a pseudonym in one.
	tasks := asSlice(gmust(200, taker, "GET", "/api/v1/grader/tasks", "/api/v1/grader/tasks", nil)["tasks"])
	if len(tasks) != 5 {
		t.Fatalf("%d tasks, want 5", len(tasks))
	}
	var pseudoQuote struct{ task, comment, pseudonym string }
	taskOf := map[string]string{} // submission ID → task ID
	for i, tk := range tasks {
		id := tk.(map[string]any)["id"].(string)
		taskOf[tk.(map[string]any)["submission_id"].(string)] = id
		path := "/api/v1/grader/tasks/" + id
		if i == 0 {
			path = "/api/v1/grader/tasks/" + strings.ReplaceAll(id, ":", "%3A")
		}
		w := gmust(200, taker, "GET", "/api/v1/grader/tasks/{id}/workspace", path+"/workspace", nil)
		text := w["text"].(string)
		content := privContent(int(w["feedback"].(map[string]any)["rev"].(float64)), levels, privQuotes(t, text, w["pseudonym"].(string)))
		saved := gmust(200, taker, "PUT", "/api/v1/grader/tasks/{id}/feedback", "/api/v1/grader/tasks/"+id+"/feedback", content)
		if pseudoQuote.task == "" {
			for _, q := range asSlice(saved["quotes"]) {
				q := q.(map[string]any)
				if strings.Contains(q["target"].(map[string]any)["selector"].([]any)[0].(map[string]any)["exact"].(string), w["pseudonym"].(string)) {
					pseudoQuote.task, pseudoQuote.comment, pseudoQuote.pseudonym = id, q["id"].(string), w["pseudonym"].(string)
				}
			}
		}
		gmust(200, taker, "POST", "/api/v1/grader/tasks/{id}/submit", "/api/v1/grader/tasks/"+id+"/submit", map[string]any{"rev": saved["rev"]})
	}
	if pseudoQuote.task == "" {
		t.Fatal("no quote holds a pseudonym")
	}

	// The teacher returns one (the grader sees the note), then approves
	// and releases all.
	first := tasks[0].(map[string]any)["id"].(string)
	in.must(200, "POST", "/api/v1/feedback/"+first+"/return", teacher, map[string]any{"note": "Say more about the sources."})
	w := gmust(200, taker, "GET", "/api/v1/grader/tasks/{id}/workspace", "/api/v1/grader/tasks/"+first+"/workspace", nil)
	if w["feedback"].(map[string]any)["return_note"] != "Say more about the sources." {
		t.Fatalf("returned: %v", w["feedback"])
	}
	gmust(200, taker, "POST", "/api/v1/grader/tasks/{id}/submit", "/api/v1/grader/tasks/"+first+"/submit", map[string]any{"rev": w["feedback"].(map[string]any)["rev"]})
	for _, tk := range tasks {
		in.must(200, "POST", "/api/v1/feedback/"+tk.(map[string]any)["id"].(string)+"/approve", teacher, nil)
	}
	in.must(200, "POST", "/api/v1/assignments/"+asgID+"/release", teacher, nil)

	// The teacher sees the pseudonym quote on the student's own words.
	rv := in.must(200, "GET", "/api/v1/feedback/"+pseudoQuote.task, teacher, nil)
	for _, h := range asSlice(rv["highlights"]) {
		h := h.(map[string]any)
		if h["comment_id"] != pseudoQuote.comment {
			continue
		}
		orig := []rune(rv["text"].(string))
		if h["anchored"] != true || strings.Contains(h["exact"].(string), "Student ") || string(orig[int(h["start"].(float64)):int(h["end"].(float64))]) != h["exact"] {
			t.Fatalf("the quote of %s maps to %v", pseudoQuote.pseudonym, h)
		}
	}

	// A student, through an access link made on a route whose student ID
	// holds a "/", rates the feedback and signs a question with their name
	// and email; the grader's workspace shows none of it.
	link := in.must(201, "POST", "/api/v1/classes/"+classID+"/students/"+url.PathEscape("lh/1001")+"/access-link", teacher, nil)["token"].(string)
	student := in.must(201, "POST", "/api/v1/student-sessions", "", map[string]any{"token": link})["token"].(string)
	sv := asSlice(in.must(200, "GET", "/api/v1/submissions/"+subs["lh/1001"]+"/feedback", student, nil)["versions"])[0].(map[string]any)
	fid := sv["feedback_id"].(string)
	in.must(200, "POST", "/api/v1/feedback/"+fid+"/ratings", student, map[string]any{"comment_id": asSlice(sv["highlights"])[0].(map[string]any)["comment_id"], "stars": 2})
	in.must(201, "POST", "/api/v1/feedback/"+fid+"/reflections", student, map[string]any{"kind": "question", "text": "Why this level? Avery Okafor, avery.okafor@students.example.org"})
	in.must(201, "POST", "/api/v1/feedback/"+fid+"/reflections", student, map[string]any{"kind": "reflection", "text": "I will add sources, as Grace Brown did."})
	gmust(200, taker, "GET", "/api/v1/grader/tasks/{id}/workspace", "/api/v1/grader/tasks/"+taskOf[subs["lh/1001"]]+"/workspace", nil)

	// Earnings carry opaque IDs only (the ledger takes the approvals in
	// the background).
	deadline := time.Now().Add(20 * time.Second)
	for {
		v := gmust(200, taker, "GET", "/api/v1/payouts/me", "/api/v1/payouts/me", nil)
		if len(asSlice(v["entries"])) >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("earnings not in the ledger after 20 s: %v", v)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, r := range []string{"/api/v1/payouts/onboarding", "/api/v1/payouts/onboarding/sync", "/api/v1/payouts/login-link"} {
		g(taker, "POST", r, r, nil) // Stripe is not configured here: errors, checked all the same
		p.called["POST "+r] = true
	}

	// The comment bank.
	e := gmust(201, taker, "POST", "/api/v1/grader/comment-bank", "/api/v1/grader/comment-bank", map[string]any{"criterion": "thesis", "kind": "growth", "text": "Name your claim in the first paragraph."})
	gmust(200, taker, "GET", "/api/v1/grader/comment-bank", "/api/v1/grader/comment-bank", nil)
	gmust(204, taker, "DELETE", "/api/v1/grader/comment-bank/{id}", "/api/v1/grader/comment-bank/"+e["id"].(string), nil)

	// The grader's inbox (offers, returned feedback, …) and email settings.
	inbox := gmust(200, taker, "GET", "/api/v1/notifications", "/api/v1/notifications", nil)
	items := asSlice(inbox["items"])
	if len(items) == 0 {
		t.Fatalf("the grader's inbox is empty")
	}
	gmust(200, taker, "GET", "/api/v1/notifications/unread", "/api/v1/notifications/unread", nil)
	gmust(204, taker, "POST", "/api/v1/notifications/{id}/read", "/api/v1/notifications/"+url.PathEscape(items[0].(map[string]any)["id"].(string))+"/read", nil)
	gmust(204, taker, "POST", "/api/v1/notifications/read", "/api/v1/notifications/read", nil)
	gmust(200, taker, "GET", "/api/v1/notifications/settings", "/api/v1/notifications/settings", nil)
	gmust(204, taker, "PUT", "/api/v1/notifications/settings/{kind}", "/api/v1/notifications/settings/offer_made", map[string]any{"delivery": "daily"})

	// Someone else's upload batch is not found.
	if r := g(taker, "GET", "/api/v1/uploads/{id}", "/api/v1/uploads/"+up["id"].(string), nil); r.Status != 404 {
		t.Fatalf("a grader reading the teacher's upload batch: %d", r.Status)
	}
	p.called["GET /api/v1/uploads/{id}"] = true

	// The grader's pages show nothing of the school side either.
	email := "gita@graders.example.net"
	if taker == hal {
		email = "hal@graders.example.net"
	}
	pages := []string{"/grader", "/grader/profile", "/grader/comments", "/grader/earnings", "/notifications", "/notifications/settings"}
	for _, tk := range tasks {
		pages = append(pages, "/grader/tasks/"+url.PathEscape(tk.(map[string]any)["id"].(string)))
	}
	graderPages(email, pages...)

	// Signing out, last.
	one := in.login(email, teacherPassword)
	gmust(204, one, "DELETE", "/api/v1/sessions/current", "/api/v1/sessions/current", nil)
	all := in.login(email, teacherPassword)
	gmust(204, all, "DELETE", "/api/v1/sessions", "/api/v1/sessions", nil)

	// Every API route a grader may call was called.
	for _, route := range graderRoutes(t) {
		if !p.called[route] {
			t.Errorf("the grader test never called %s: add it", route)
		}
	}
}

// privContent is a complete feedback body for the fixture rubric.
func privContent(rev int, levels map[string]string, quotes []any) map[string]any {
	cm := map[string]any{}
	for k := range levels {
		cm[k] = fbLong
	}
	return map[string]any{
		"rev": rev, "levels": levels, "comments": cm, "quotes": quotes,
		"glows":       []any{map[string]any{"criterion": "thesis", "text": fbLong}},
		"grows":       []any{map[string]any{"criterion": "evidence", "text": fbLong}},
		"focus_notes": []any{map[string]any{"index": 0, "note": fbLong}, map[string]any{"index": 1, "note": fbLong}},
	}
}

// legacySplitOffer turns an offer's batch into a piece split before IDs
// were opaque: it opens the store in dataDir (the instance must be
// stopped) and moves the batch to the ID batchID and the offer to
// "<batchID>:o1". It returns the offer's new ID.
func legacySplitOffer(t *testing.T, dataDir, offerID, batchID string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := mongostore.Open(ctx, mongostore.Config{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	offers, batches := st.DB.Collection("offers"), st.DB.Collection("batches")
	var o, b bson.M
	if err := offers.FindOne(ctx, bson.M{"_id": offerID}).Decode(&o); err != nil {
		t.Fatal(err)
	}
	if err := batches.FindOne(ctx, bson.M{"_id": o["batch_id"]}).Decode(&b); err != nil {
		t.Fatal(err)
	}
	newOffer, oldBatch := batchID+":o1", b["_id"]
	b["_id"], b["offer_id"] = batchID, newOffer
	o["_id"], o["batch_id"] = newOffer, batchID
	for _, step := range []func() error{
		func() error { _, err := batches.InsertOne(ctx, b); return err },
		func() error { _, err := offers.InsertOne(ctx, o); return err },
		func() error { _, err := batches.DeleteOne(ctx, bson.M{"_id": oldBatch}); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := offers.DeleteOne(ctx, bson.M{"_id": offerID}); err != nil {
		t.Fatal(err)
	}
	return newOffer
}

// privQuotes are three quotes into a grader text: one with the author's
// pseudonym in it when the text has it, and two plain passages.
func privQuotes(t *testing.T, text, pseudonym string) []any {
	t.Helper()
	runes := []rune(text)
	var qs []any
	add := func(start, end int, kind string) {
		q := fbTarget{Exact: string(runes[start:end]), Start: start, End: end,
			Prefix: string(runes[max(start-32, 0):start]), Suffix: string(runes[end:min(end+32, len(runes))])}
		qs = append(qs, map[string]any{"target": q.json(), "criterion": "thesis", "kind": kind, "comment": fbLong})
	}
	if i := strings.Index(text, pseudonym); i >= 0 {
		s := len([]rune(text[:i]))
		add(s, min(s+len([]rune(pseudonym))+12, len(runes)), "strength")
	} else {
		add(0, 12, "strength")
	}
	n := len(runes)
	add(n/2, n/2+10, "growth")
	add(n-10, n, "growth")
	return qs
}

// TestE2EMatchingSplitBatch reproduces issue 22 item 6 against the binary:
// a class larger than any grader's free capacity is split into batches
// whose IDs need no escaping and name no student; offers on them are
// accepted through the API and through the grader's page. Pieces split
// before IDs were opaque ("…/1") keep working: percent-encoded through the
// API, and from the page, whose form action escapes them.
func TestE2EMatchingSplitBatch(t *testing.T) {
	in := startWithAdmin(t, "root@example.org", "MARGIN_MATCHING_INTERVAL=1h")
	admin := in.login("root@example.org", teacherPassword)
	fc := publishFixtureClass(t, in)
	type grader struct{ id, tok, email string }
	var gs []grader
	for _, name := range []string{"ana", "ben", "cho", "dev"} {
		email := name + "@graders.example.net"
		id, tok := signUpGrader(t, in, email, strings.ToUpper(name[:1])+name[1:]+" Grader", []map[string]int{{"min": 9, "max": 12}}, nil)
		in.must(200, "PUT", "/api/v1/grader/profile", tok, map[string]any{
			"subjects": []string{"English"}, "grade_bands": []map[string]int{{"min": 9, "max": 12}}, "capacity": 1,
			"available_days": []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"},
		})
		in.must(200, "PUT", "/api/v1/admin/graders/"+id+"/vetting", admin, map[string]any{"status": "approved"})
		gs = append(gs, grader{id, tok, email})
	}
	m := matchingOf(t, in, fc, true)
	offered := map[string]string{} // grader ID → offer ID
	for _, b := range batchesBy(m, "first") {
		id := b["id"].(string)
		if url.PathEscape(id) != id || strings.ContainsAny(id, "/?#%") {
			t.Fatalf("batch ID %q needs escaping in a URL path", id)
		}
		for st := range fc.Submissions {
			if strings.Contains(id, st) {
				t.Fatalf("batch ID %q names student %s", id, st)
			}
		}
		if o, ok := b["offer"].(map[string]any); ok && b["state"] == "offered" {
			offered[o["grader_id"].(string)] = o["id"].(string)
		}
	}
	if len(offered) != 4 {
		t.Fatalf("%d offers on split batches, want 4: %v (%s)", len(offered), batchesBy(m, "first"), unmatchedReasons(m))
	}

	// Cho's and Dev's pieces become pieces of the old kind, "<batch>/<n>",
	// as a store written before this change holds them.
	legacy := map[string]string{}
	in.stop()
	for i, g := range gs[2:] {
		legacy[g.id] = legacySplitOffer(t, in.dataDir, offered[g.id], fmt.Sprintf("%s:1001:v1:first:b/%d", fc.AssignmentID, i+1))
	}
	in.run()

	// Through the API: a new ID as it is, an old one percent-encoded (a raw
	// "/" is two path segments, so it finds no route).
	in.must(200, "POST", "/api/v1/grader/offers/"+offered[gs[0].id]+"/accept", gs[0].tok, nil)
	old := legacy[gs[2].id]
	if r := in.call("POST", "/api/v1/grader/offers/"+old+"/accept", gs[2].tok, nil); r.Status != 404 {
		t.Fatalf("an old split ID with a raw slash: %d", r.Status)
	}
	acc := in.must(200, "POST", "/api/v1/grader/offers/"+url.PathEscape(old)+"/accept", gs[2].tok, nil)
	if acc["state"] != "accepted" || !strings.Contains(acc["batch_id"].(string), "/") {
		t.Fatalf("accepting an old split batch: %v", acc)
	}

	// Through the page: the form action is the page's own.
	for _, g := range []grader{gs[1], gs[3]} {
		c := browserClient(t)
		_, _, tok := page(t, c, in, "/signin")
		postForm(t, c, in, "/signin", url.Values{"_csrf": {tok}, "email": {g.email}, "password": {teacherPassword}})
		_, body, tok := page(t, c, in, "/grader")
		want := offered[g.id]
		if l, ok := legacy[g.id]; ok {
			want = l
		}
		action := "/grader/offers/" + url.PathEscape(want) + "/accept"
		if !strings.Contains(body, `action="`+action+`"`) {
			t.Fatalf("the grader's page has no form %s:\n%s", action, body)
		}
		resp := postForm(t, c, in, action, url.Values{"_csrf": {tok}})
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "accepted") {
			t.Fatalf("accepting %s from the page: %d %s", want, resp.StatusCode, resp.Header.Get("Location"))
		}
		tasks := asSlice(in.must(200, "GET", "/api/v1/grader/tasks", g.tok, nil)["tasks"])
		if len(tasks) != 1 {
			t.Fatalf("%s has %d tasks after accepting", g.email, len(tasks))
		}
		// The task's page and workspace open with the ID raw or encoded.
		tid := tasks[0].(map[string]any)["id"].(string)
		if resp, _, _ := page(t, c, in, "/grader/tasks/"+strings.ReplaceAll(tid, ":", "%3A")); resp.StatusCode != 200 {
			t.Fatalf("the task page, ID encoded: %d", resp.StatusCode)
		}
		in.must(200, "GET", "/api/v1/grader/tasks/"+tid+"/workspace", g.tok, nil)
	}
}
