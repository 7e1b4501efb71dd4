package e2e

import (
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
)

// anLevels are the first reader's levels for the fixture class (index on
// Emerging 0, Developing 1, Proficient 2, Advanced 3), chosen so that every
// figure below can be worked out by hand:
//
//	student  thesis evidence analysis organization conventions  weighted (of 32)
//	1001     P      D        P        A            P            6+4+6+4+3 = 23
//	1002     P      E        E        P            P            6+2+2+3+3 = 16
//	1003     D      D        P        A            D            4+4+6+4+2 = 20
//	1004     A      P        D        P            A            8+6+4+3+4 = 25
//	1005     P      E        D        A            P            6+2+4+4+3 = 19
var anLevels = map[string][5]int{
	"1001": {2, 1, 2, 3, 2},
	"1002": {2, 0, 0, 2, 2},
	"1003": {1, 1, 2, 3, 1},
	"1004": {3, 2, 1, 2, 3},
	"1005": {2, 0, 1, 3, 2},
}

var (
	anCriteria = []string{"thesis", "evidence", "analysis", "organization", "conventions"}
	anScale    = []string{"emerging", "developing", "proficient", "advanced"}
	anNames    = map[string]string{"1001": "Avery Rivera", "1002": "Jordan Okafor", "1003": "Sam Lindqvist", "1004": "Priya Natarajan", "1005": "Mateo Alvarez"}
)

func anLevelMap(l [5]int) map[string]string {
	m := map[string]string{}
	for i, c := range anCriteria {
		m[c] = anScale[l[i]]
	}
	return m
}

// anPassage returns a run of six words from text, starting at or after word
// from, that occurs in no other student's text (the fixture has a
// near-duplicate pair), so every quote names one student.
func anPassage(t *testing.T, text string, from int, others []string) string {
	t.Helper()
	words := strings.Fields(text)
	for i := from; i+6 <= len(words); i++ {
		p := strings.Join(words[i:i+6], " ")
		if !strings.Contains(text, p) {
			continue
		}
		unique := true
		for _, o := range others {
			if strings.Contains(o, p) {
				unique = false
			}
		}
		if unique {
			return p
		}
	}
	t.Fatalf("no unique passage after word %d", from)
	return ""
}

// anQuotes are each student's four quoted passages: strengths on
// organization and thesis, growth on evidence and analysis.
type anQuotes struct{ org, thesis, evidence, analysis string }

func anContent(t *testing.T, text string, q anQuotes, rev int, levels map[string]string) map[string]any {
	t.Helper()
	cm := map[string]any{}
	for _, k := range anCriteria {
		cm[k] = fbLong
	}
	quote := func(exact, crit, kind string) map[string]any {
		return map[string]any{"target": fbSelect(t, text, exact, 0).json(), "criterion": crit, "kind": kind, "comment": fbLong}
	}
	return map[string]any{
		"rev": rev, "levels": levels, "comments": cm,
		"quotes": []any{
			quote(q.org, "organization", "strength"), quote(q.thesis, "thesis", "strength"),
			quote(q.evidence, "evidence", "growth"), quote(q.analysis, "analysis", "growth"),
		},
		"glows": []any{map[string]any{"criterion": "organization", "text": "Clear paragraphs that build the argument."}},
		"grows": []any{map[string]any{"criterion": "evidence", "text": "Cite the sources you draw on."}},
		"focus_notes": []any{
			map[string]any{"index": 0, "note": "The essay answers the question directly."},
			map[string]any{"index": 1, "note": fbLong},
		},
	}
}

// TestE2EAnalytics: after the feedback flow on the whole fixture class
// (Ana first-reads all five, Eve second-reads two blind, the teacher
// approves and releases), the class summary shows the hand-computed level
// distribution, strengths and growth areas with quoted evidence, the
// students who need support and the agreement; the CSV exports and SVG
// chart carry the same numbers; a later edit refreshes the cached summary;
// the student sees their own progress and a family link shows it until it
// is revoked; nobody else sees any of it.
func TestE2EAnalytics(t *testing.T) {
	in := start(t, "MARGIN_MATCHING_INTERVAL=1h")
	fc := publishFixtureClass(t, in)
	// Two second reads: round(0.4 × 5) = 2.
	in.must(200, "PUT", "/api/v1/assignments/"+fc.AssignmentID, fc.TeacherToken, anAssignmentUpdate(t, in, fc))
	tenth := []map[string]int{{"min": 9, "max": 12}}
	ana, anaTok := signUpGrader(t, in, "ana@tutors.example.net", "Ana Grader", tenth, nil)
	eve, eveTok := signUpGrader(t, in, "eve@readers.example.org", "Eve Reader", tenth, nil)
	admin := adminToken(t, in, "root@example.org")
	for _, g := range []string{ana, eve} {
		in.must(200, "PUT", "/api/v1/admin/graders/"+g+"/vetting", admin, map[string]any{"status": "approved"})
	}

	// Ana takes the class's batch (both are eligible; whoever is offered
	// it accepts, and the other reads second).
	firstTok, secondTok := anaTok, eveTok
	m := matchingOf(t, in, fc, true)
	first := batchesBy(m, "first")
	if len(first) != 1 {
		t.Fatalf("first-read batches: %v (%s)", first, unmatchedReasons(m))
	}
	offer := first[0]["offer"].(map[string]any)
	if offer["grader_id"] == eve {
		firstTok, secondTok = eveTok, anaTok
	}
	in.must(200, "POST", "/api/v1/grader/offers/"+offer["id"].(string)+"/accept", firstTok, nil)

	// Every grader text, to choose quotes unique to each student.
	texts := map[string]string{}
	for sid, sub := range fc.Submissions {
		w := in.must(200, "GET", "/api/v1/grader/tasks/"+sub+":v1:first/workspace", firstTok, nil)
		texts[sid] = w["text"].(string)
	}
	quotes := map[string]anQuotes{}
	for sid, text := range texts {
		var others []string
		for o, ot := range texts {
			if o != sid {
				others = append(others, ot)
			}
		}
		quotes[sid] = anQuotes{anPassage(t, text, 5, others), anPassage(t, text, 25, others), anPassage(t, text, 45, others), anPassage(t, text, 65, others)}
	}
	grade := func(tok, task, sid string, levels map[string]string) {
		w := in.must(200, "GET", "/api/v1/grader/tasks/"+task+"/workspace", tok, nil)
		rev := int(w["feedback"].(map[string]any)["rev"].(float64))
		saved := in.must(200, "PUT", "/api/v1/grader/tasks/"+task+"/feedback", tok, anContent(t, w["text"].(string), quotes[sid], rev, levels))
		in.must(200, "POST", "/api/v1/grader/tasks/"+task+"/submit", tok, map[string]any{"rev": saved["rev"]})
	}
	for sid, sub := range fc.Submissions {
		grade(firstTok, sub+":v1:first", sid, anLevelMap(anLevels[sid]))
	}

	// The blind second reads go to the other grader: the same levels except
	// evidence, one level higher (adjacent, so not flagged).
	m = matchingOf(t, in, fc, true)
	second := batchesBy(m, "second")
	if len(second) != 1 || len(asSlice(second[0]["items"])) != 2 {
		t.Fatalf("second-read batches: %v (%s)", second, unmatchedReasons(m))
	}
	in.must(200, "POST", "/api/v1/grader/offers/"+second[0]["offer"].(map[string]any)["id"].(string)+"/accept", secondTok, nil)
	var secondTasks []string
	for _, tk := range asSlice(in.must(200, "GET", "/api/v1/grader/tasks", secondTok, nil)["tasks"]) {
		tk := tk.(map[string]any)
		if tk["reader"] != "second" {
			continue
		}
		id, sid := tk["id"].(string), ""
		for st, sub := range fc.Submissions { // task IDs name no student
			if sub == tk["submission_id"] {
				sid = st
			}
		}
		l := anLevels[sid]
		l[1]++
		grade(secondTok, id, sid, anLevelMap(l))
		secondTasks = append(secondTasks, id)
	}
	if len(secondTasks) != 2 {
		t.Fatalf("second reads: %v", secondTasks)
	}

	// Before approval the summary counts nobody.
	sumURL := "/api/v1/analytics/assignments/" + fc.AssignmentID + "/summary"
	if s := in.must(200, "GET", sumURL, fc.TeacherToken, nil); anN(s, 0) != 0 {
		t.Fatalf("before approval the summary counts %v students", anN(s, 0))
	}
	for _, sub := range fc.Submissions {
		in.must(200, "POST", "/api/v1/feedback/"+sub+":v1:first/approve", fc.TeacherToken, nil)
	}
	for _, id := range secondTasks {
		in.must(200, "POST", "/api/v1/feedback/"+id+"/approve", fc.TeacherToken, nil)
	}
	in.must(200, "POST", "/api/v1/assignments/"+fc.AssignmentID+"/release", fc.TeacherToken, nil)

	s := in.must(200, "GET", sumURL+"?names=true", fc.TeacherToken, nil)
	anCheckDistribution(t, s)
	anCheckAreas(t, s, quotes)
	anCheckSupportAndAgreement(t, s)
	// Turnaround: one first-read batch of five, all approved; published
	// and released, so both spans exist.
	ta := s["turnaround"].(map[string]any)
	tb := asSlice(ta["batches"])
	if ta["hours"] == nil || len(tb) != 1 || tb[0].(map[string]any)["batch_id"] == "" || tb[0].(map[string]any)["submissions"] != 5.0 || tb[0].(map[string]any)["approved"] != 5.0 || tb[0].(map[string]any)["hours"] == nil {
		t.Fatalf("turnaround %v", ta)
	}
	// Focus points: every student has a note on each.
	for _, fp := range asSlice(s["focus_points"]) {
		if fp := fp.(map[string]any); fp["students"] != 5.0 || len(asSlice(fp["notes"])) != 3 {
			t.Fatalf("focus point %v", fp)
		}
	}

	// Pseudonymised by default: no student's name anywhere.
	plain := in.call("GET", sumURL, fc.TeacherToken, nil)
	for _, name := range anNames {
		if strings.Contains(string(plain.Body), name) || strings.Contains(string(plain.Body), strings.Fields(name)[1]) {
			t.Fatalf("the pseudonymised summary names %s", name)
		}
	}

	anCheckExports(t, in, fc)

	// A later edit by the teacher makes a fresh summary (the released
	// summary is cached): 1002's thesis Proficient → Advanced.
	rv := in.must(200, "GET", "/api/v1/feedback/"+fc.Submissions["1002"]+":v1:first", fc.TeacherToken, nil)["feedback"].(map[string]any)
	edit := map[string]any{"rev": rv["rev"], "levels": rv["levels"], "comments": rv["comments"], "quotes": rv["quotes"], "glows": rv["glows"], "grows": rv["grows"], "focus_notes": rv["focus_notes"], "note": "Raised thesis."}
	edit["levels"].(map[string]any)["thesis"] = "advanced"
	in.must(200, "PUT", "/api/v1/feedback/"+fc.Submissions["1002"]+":v1:first", fc.TeacherToken, edit)
	s = in.must(200, "GET", sumURL+"?names=true", fc.TeacherToken, nil)
	if got := anCounts(s, 0); got != [4]int{0, 1, 2, 2} {
		t.Fatalf("after the edit thesis counts are %v, want [0 1 2 2] (a stale summary?)", got)
	}

	anCheckAccess(t, in, fc, sumURL, anaTok, admin)
	avery := anCheckProgressAndFamily(t, in, fc)

	// Avery rates a comment 4 stars: the (cached) summary shows it for
	// the first reader.
	sub := fc.Submissions["1001"]
	view := in.must(200, "GET", "/api/v1/submissions/"+sub+"/feedback", avery, nil)
	hl := asSlice(asSlice(view["versions"])[0].(map[string]any)["highlights"])[0].(map[string]any)
	in.must(200, "POST", "/api/v1/feedback/"+sub+":v1:first/ratings", avery, map[string]any{"comment_id": hl["comment_id"], "stars": 4})
	firstID := ana
	if firstTok == eveTok {
		firstID = eve
	}
	s = in.must(200, "GET", sumURL+"?names=true", fc.TeacherToken, nil)
	pg := asSlice(s["helpfulness"].(map[string]any)["per_grader"])
	if len(pg) != 1 || pg[0].(map[string]any)["key"] != firstID || pg[0].(map[string]any)["count"] != 1.0 || pg[0].(map[string]any)["mean"] != 4.0 {
		t.Fatalf("helpfulness per grader %v, want one rating of 4 for %s", pg, firstID)
	}
	pc := asSlice(s["helpfulness"].(map[string]any)["per_criterion"])
	if len(pc) != 1 || pc[0].(map[string]any)["key"] != hl["criterion"] {
		t.Fatalf("helpfulness per criterion %v, want one on %v", pc, hl["criterion"])
	}
}

// anAssignmentUpdate is the published assignment's settings with a second
// read share of 0.4.
func anAssignmentUpdate(t *testing.T, in *instance, fc fixtureClass) map[string]any {
	a := in.must(200, "GET", "/api/v1/assignments/"+fc.AssignmentID, fc.TeacherToken, nil)
	return map[string]any{
		"title": a["title"], "prompt": a["prompt"], "rubric": a["rubric"], "due_at": a["due_at"],
		"price_cents": a["price_cents"], "currency": a["currency"], "allow_resubmission": a["allow_resubmission"],
		"focus_points": a["focus_points"], "second_read_share": 0.4,
	}
}

func anCriterion(s map[string]any, i int) map[string]any {
	return asSlice(s["criteria"])[i].(map[string]any)
}

func anN(s map[string]any, i int) float64 {
	return anCriterion(s, i)["distribution"].(map[string]any)["n"].(float64)
}

func anCounts(s map[string]any, i int) [4]int {
	var out [4]int
	for l, lv := range asSlice(anCriterion(s, i)["distribution"].(map[string]any)["levels"]) {
		out[l] = int(lv.(map[string]any)["count"].(float64))
	}
	return out
}

func anCheckDistribution(t *testing.T, s map[string]any) {
	t.Helper()
	want := []struct {
		counts    [4]int
		meanIndex float64
		median    string
	}{
		{[4]int{0, 1, 3, 1}, 2.0, "Proficient"}, // thesis: 1 2 2 2 3
		{[4]int{2, 2, 1, 0}, 0.8, "Developing"}, // evidence: 0 0 1 1 2
		{[4]int{1, 2, 2, 0}, 1.2, "Developing"}, // analysis: 0 1 1 2 2
		{[4]int{0, 0, 2, 3}, 2.6, "Advanced"},   // organization: 2 2 3 3 3
		{[4]int{0, 1, 3, 1}, 2.0, "Proficient"}, // conventions: 1 2 2 2 3
	}
	for i, w := range want {
		d := anCriterion(s, i)["distribution"].(map[string]any)
		mean := d["mean"].(map[string]any)["index"].(float64)
		if anCounts(s, i) != w.counts || mean != w.meanIndex || d["median"].(map[string]any)["label"] != w.median {
			t.Fatalf("%s: counts %v mean %v median %v; want %v %v %v", anCriteria[i], anCounts(s, i), mean, d["median"], w.counts, w.meanIndex, w.median)
		}
		if l0 := asSlice(d["levels"])[2].(map[string]any); l0["share"] != float64(w.counts[2])/5 {
			t.Fatalf("%s: Proficient share %v", anCriteria[i], l0["share"])
		}
	}
	// Weighted: (23+16+20+25+19)/(5·32) = 103/160; bins 50–60: 16, 19;
	// 60–70: 20; 70–80: 23, 25.
	o := s["overall"].(map[string]any)
	if o["mean"] != 103.0/160 || o["complete"] != 5.0 {
		t.Fatalf("overall %v", o)
	}
	var bins []float64
	for _, b := range asSlice(o["bins"]) {
		bins = append(bins, b.(map[string]any)["count"].(float64))
	}
	if fmt.Sprint(bins) != "[0 0 0 0 0 2 1 2 0 0]" {
		t.Fatalf("bins %v", bins)
	}
}

// anCheckAreas: ranked by mean level, organization 2.6 and thesis 2.0 (tied
// with conventions; rubric order) are the strengths, evidence 0.8 and
// analysis 1.2 the growth areas. Evidence comes from the students at the
// median level first, in name order.
func anCheckAreas(t *testing.T, s map[string]any, quotes map[string]anQuotes) {
	t.Helper()
	type ev struct{ student, quote string }
	check := func(list string, wantKeys []string, wantEv [][]ev) {
		areas := asSlice(s[list])
		if len(areas) != len(wantKeys) {
			t.Fatalf("%s: %v", list, areas)
		}
		for i, a := range areas {
			a := a.(map[string]any)
			if a["criterion"] != wantKeys[i] {
				t.Fatalf("%s[%d] = %v, want %s", list, i, a["criterion"], wantKeys[i])
			}
			var got []ev
			for _, e := range asSlice(a["evidence"]) {
				e := e.(map[string]any)
				got = append(got, ev{e["student"].(string), e["quote"].(string)})
			}
			if fmt.Sprint(got) != fmt.Sprint(wantEv[i]) {
				t.Fatalf("%s %s evidence:\n%v\nwant\n%v", list, wantKeys[i], got, wantEv[i])
			}
		}
	}
	e := func(sid, q string) ev { return ev{anNames[sid], q} }
	check("strengths", []string{"organization", "thesis"}, [][]ev{
		// Median Advanced: Avery, Mateo, Sam.
		{e("1001", quotes["1001"].org), e("1005", quotes["1005"].org), e("1003", quotes["1003"].org)},
		// Median Proficient: Avery, Jordan, Mateo.
		{e("1001", quotes["1001"].thesis), e("1002", quotes["1002"].thesis), e("1005", quotes["1005"].thesis)},
	})
	check("growth", []string{"evidence", "analysis"}, [][]ev{
		// Median Developing: Avery, Sam; then one away: Jordan, Mateo, Priya.
		{e("1001", quotes["1001"].evidence), e("1003", quotes["1003"].evidence), e("1002", quotes["1002"].evidence)},
		// Median Developing: Mateo, Priya; then Avery.
		{e("1005", quotes["1005"].analysis), e("1004", quotes["1004"].analysis), e("1001", quotes["1001"].analysis)},
	})
	org := asSlice(s["strengths"])[0].(map[string]any)
	if g := asSlice(org["glows"]); len(g) != 1 || g[0].(map[string]any)["count"] != 5.0 {
		t.Fatalf("organization glows %v", g)
	}
}

// anCheckSupportAndAgreement: below Proficient on two or more criteria are
// 1002 (evidence, analysis), 1003 (thesis, evidence, conventions) and 1005
// (evidence, analysis). Two second reads agree exactly except on evidence,
// where they are one level apart.
func anCheckSupportAndAgreement(t *testing.T, s map[string]any) {
	t.Helper()
	var got []string
	for _, st := range asSlice(s["support"]) {
		st := st.(map[string]any)
		got = append(got, st["student_id"].(string)+":"+strings.Join(toStrings(st["below"]), ","))
	}
	// In name order: Jordan, Mateo, Sam.
	if want := "[1002:evidence,analysis 1005:evidence,analysis 1003:thesis,evidence,conventions]"; fmt.Sprint(got) != want {
		t.Fatalf("support %v, want %s", got, want)
	}
	for i, a := range asSlice(s["agreement"]) {
		a := a.(map[string]any)
		ag := a["agreement"].(map[string]any)
		exact := 1.0
		if i == 1 {
			exact = 0
		}
		if ag["pairs"] != 2.0 || ag["exact"] != exact || ag["adjacent"] != 1.0 || a["figure"] != "too few pairs (2)" {
			t.Fatalf("agreement on %v: %v %v", a["criterion"], ag, a["figure"])
		}
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range asSlice(v) {
		out = append(out, x.(string))
	}
	return out
}

func anCheckExports(t *testing.T, in *instance, fc fixtureClass) {
	t.Helper()
	base := "/api/v1/analytics/assignments/" + fc.AssignmentID
	r := in.call("GET", base+"/gradebook.csv", fc.TeacherToken, nil)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("gradebook: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 || rows[0][2] != "SIS User ID" || rows[1][10] != "32" {
		t.Fatalf("gradebook rows %v", rows)
	}
	// Roster order (family name): Alvarez, Lindqvist, Natarajan, Okafor, Rivera.
	if got := strings.Join(rows[2], "|"); got != "Alvarez, Mateo||1005||English 10, period 2|3|1|2|4|3|19" {
		t.Fatalf("gradebook row for 1005: %s", got)
	}
	r = in.call("GET", base+"/summary.csv", fc.TeacherToken, nil)
	lines := strings.Split(strings.TrimSpace(string(r.Body)), "\n")
	if r.Status != 200 || len(lines) != 6 || !strings.HasPrefix(lines[2], "evidence,Use of evidence and sources,5,0,2,0.4,2,0.4,1,0.2,0,0,0.8,1.8,Developing,2,0,1,") {
		t.Fatalf("summary CSV: %d\n%s", r.Status, r.Body)
	}
	r = in.call("GET", base+"/levels.svg", fc.TeacherToken, nil)
	if r.Status != 200 || r.Header.Get("Content-Type") != "image/svg+xml" ||
		!strings.Contains(string(r.Body), "Use of evidence and sources: Emerging 2, Developing 2, Proficient 1, Advanced 0") {
		t.Fatalf("levels chart: %d %s\n%.400s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	r = in.call("GET", base+"/report.html", fc.TeacherToken, nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), "@media print") || !strings.Contains(string(r.Body), "too few pairs (2)") {
		t.Fatalf("report: %d", r.Status)
	}
}

func anCheckAccess(t *testing.T, in *instance, fc fixtureClass, sumURL, graderTok, admin string) {
	t.Helper()
	in.must(202, "POST", "/api/v1/signup", "", map[string]any{"email": "other@elsewhere.example.org", "password": teacherPassword, "name": "Other", "role": "teacher", "school": "Elsewhere"})
	other := in.login("other@elsewhere.example.org", teacherPassword)
	for _, p := range []string{sumURL, sumURL + ".csv", strings.TrimSuffix(sumURL, "summary") + "levels.svg", strings.TrimSuffix(sumURL, "summary") + "gradebook.csv", "/api/v1/analytics/classes/" + fc.ClassID + "/data-wall", "/api/v1/analytics/classes/" + fc.ClassID + "/students/1001/progress"} {
		if r := in.call("GET", p, other, nil); r.Status != 404 {
			t.Fatalf("another teacher on %s: %d", p, r.Status)
		}
	}
	if r := in.call("GET", sumURL, graderTok, nil); r.Status != 403 {
		t.Fatalf("a grader on the summary: %d", r.Status)
	}
	if r := in.call("GET", sumURL, "", nil); r.Status != 401 {
		t.Fatalf("signed out on the summary: %d", r.Status)
	}
	// An admin sees it, without names even when asking for them.
	r := in.call("GET", sumURL+"?names=true", admin, nil)
	if r.Status != 200 || strings.Contains(string(r.Body), "Avery Rivera") {
		t.Fatalf("admin summary: %d, names shown: %v", r.Status, strings.Contains(string(r.Body), "Avery Rivera"))
	}
	tot := in.must(200, "GET", "/api/v1/analytics/admin/totals", admin, nil)
	if tot["assignments"] != 1.0 || tot["students"] != 5.0 {
		t.Fatalf("totals %v", tot)
	}
	if r := in.call("GET", "/api/v1/analytics/admin/totals", fc.TeacherToken, nil); r.Status != 403 {
		t.Fatalf("a teacher on admin totals: %d", r.Status)
	}
	wall := in.must(200, "GET", "/api/v1/analytics/classes/"+fc.ClassID+"/data-wall", fc.TeacherToken, nil)
	if len(asSlice(wall["rows"])) != 5 || len(asSlice(wall["strands"])) != 5 {
		t.Fatalf("data wall %v", wall)
	}
	// Rows in roster order (Rivera last); strands by standard code:
	// L.9-10.2 conventions, W.9-10.1.A thesis, W.9-10.1.C organization,
	// W.9-10.8 evidence, W.9-10.9 analysis.
	avery := asSlice(wall["rows"])[4].(map[string]any)
	var cells []string
	for _, c := range asSlice(avery["cells"]) {
		cells = append(cells, c.(map[string]any)["label"].(string))
	}
	if avery["student_id"] != "1001" || strings.Join(cells, ",") != "Proficient,Proficient,Advanced,Developing,Proficient" {
		t.Fatalf("Avery's data wall row: %v %v", avery["student_id"], cells)
	}
}

// anCheckProgressAndFamily returns Avery's (student 1001's) token.
func anCheckProgressAndFamily(t *testing.T, in *instance, fc fixtureClass) string {
	t.Helper()
	tok := func(sid string) string {
		link := in.must(201, "POST", "/api/v1/classes/"+fc.ClassID+"/students/"+sid+"/access-link", fc.TeacherToken, nil)["token"].(string)
		return in.must(201, "POST", "/api/v1/student-sessions", "", map[string]any{"token": link})["token"].(string)
	}
	avery, jordan := tok("1001"), tok("1002")
	p := in.must(200, "GET", "/api/v1/analytics/me/progress", avery, nil)
	strands := asSlice(p["strands"])
	if p["student_id"] != "1001" || len(strands) != 5 {
		t.Fatalf("Avery's progress %v", p)
	}
	if m := asSlice(strands[0].(map[string]any)["marks"])[0].(map[string]any); m["label"] != "Proficient" {
		t.Fatalf("Avery's thesis mark %v", m)
	}
	progress := "/api/v1/analytics/classes/" + fc.ClassID + "/students/1001/progress"
	if r := in.call("GET", progress, jordan, nil); r.Status != 404 {
		t.Fatalf("Jordan on Avery's progress: %d", r.Status)
	}
	if r := in.call("GET", progress+".svg", avery, nil); r.Status != 200 || !strings.Contains(string(r.Body), "<svg") {
		t.Fatalf("Avery's chart: %d", r.Status)
	}

	links := "/api/v1/analytics/classes/" + fc.ClassID + "/students/1001/share-links"
	if r := in.call("POST", links, jordan, nil); r.Status != 404 {
		t.Fatalf("Jordan making a link for Avery: %d", r.Status)
	}
	link := in.must(201, "POST", links, avery, nil)
	fam := "/api/v1/analytics/family/progress?token=" + link["token"].(string)
	if f := in.must(200, "GET", fam, "", nil); f["student_id"] != "1001" || f["student"] != "Avery Rivera" {
		t.Fatalf("family view %v", f)
	}
	if r := in.call("GET", "/api/v1/analytics/family/progress?token="+link["id"].(string)+".forged", "", nil); r.Status != 404 {
		t.Fatalf("a forged token: %d", r.Status)
	}
	if r := in.call("DELETE", "/api/v1/analytics/share-links/"+link["id"].(string), jordan, nil); r.Status != 404 {
		t.Fatalf("Jordan revoking Avery's link: %d", r.Status)
	}
	in.must(200, "DELETE", "/api/v1/analytics/share-links/"+link["id"].(string), fc.TeacherToken, nil)
	if r := in.call("GET", fam, "", nil); r.Status != 404 {
		t.Fatalf("a revoked link: %d", r.Status)
	}
	return avery
}
