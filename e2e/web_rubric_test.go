package e2e

import (
	"encoding/json"
	"testing"
)

// builderTitle is the assignment e2e/browser/rubric.mjs creates with the
// rubric builder.
const builderTitle = "Argument essay: school uniforms"

// rubricBuilder drives the rubric builder of the new-assignment form in a
// real browser (e2e/browser/rubric.mjs, see there for the steps), with a
// copy of the fixture rubric saved to the school's library first so that
// "Copy into the builder" is exercised; the class page shows the library
// afterwards. It then checks through the JSON API that the assignment the
// builder created has the rubric typed into it: two criteria on the default
// four-level scale, every level described, and the focus point. It saves
// 08-teacher-rubric-builder.png to shots.
func rubricBuilder(t *testing.T, in *instance, fc fixtureClass, node, chromium, shots string) {
	t.Helper()
	rubricPath := fixturePath(t, "rubric.json")
	var fixture map[string]any
	mustUnmarshal(t, readFixture(t, "rubric.json"), &fixture)
	in.must(201, "POST", "/api/v1/rubrics", fc.TeacherToken, map[string]any{"name": "Research essay (school library)", "rubric": fixture})

	runBrowser(t, node, "browser/rubric.mjs", "rubric: ok",
		"BASE_URL="+in.url(""), "PASSWORD="+teacherPassword, "TEACHER_EMAIL="+fc.TeacherEmail, "CLASS_ID="+fc.ClassID,
		"RUBRIC="+rubricPath, "SCREENSHOTS="+shots, "CHROMIUM="+chromium)

	list := in.must(200, "GET", "/api/v1/classes/"+fc.ClassID+"/assignments", fc.TeacherToken, nil)
	raw, err := json.Marshal(list["assignments"])
	if err != nil {
		t.Fatal(err)
	}
	var as []struct {
		Title  string `json:"title"`
		Rubric struct {
			Scale []struct {
				Key    string  `json:"key"`
				Label  string  `json:"label"`
				Points float64 `json:"points"`
			} `json:"scale"`
			Criteria []struct {
				Key      string            `json:"key"`
				Title    string            `json:"title"`
				Weight   float64           `json:"weight"`
				Standard string            `json:"standard"`
				Levels   map[string]string `json:"levels"`
			} `json:"criteria"`
			FocusPoints []string `json:"focus_points"`
		} `json:"rubric"`
	}
	mustUnmarshal(t, raw, &as)
	found := 0
	for _, a := range as {
		if a.Title != builderTitle {
			continue
		}
		found++
		r := a.Rubric
		if len(r.Scale) != 4 || len(r.Criteria) != 2 {
			t.Fatalf("the builder's rubric has %d levels and %d criteria, want 4 and 2: %+v", len(r.Scale), len(r.Criteria), r)
		}
		for i, want := range []string{"emerging", "developing", "proficient", "advanced"} {
			if lv := r.Scale[i]; lv.Key != want || lv.Points != float64(i+1) {
				t.Errorf("level %d: %+v, want the key %q and %d points", i+1, lv, want, i+1)
			}
		}
		for i, want := range []struct {
			key, title, standard string
			weight               float64
		}{{"thesis", "Thesis", "W.9-10.1", 2}, {"evidence", "Evidence", "", 1}} {
			c := r.Criteria[i]
			if c.Key != want.key || c.Title != want.title || c.Standard != want.standard || c.Weight != want.weight || len(c.Levels) != 4 {
				t.Errorf("criterion %d: %+v, want %+v with four descriptors", i+1, c, want)
			}
			for _, lv := range r.Scale {
				if c.Levels[lv.Key] == "" {
					t.Errorf("criterion %q has no descriptor at %q", c.Key, lv.Key)
				}
			}
		}
		if got, want := r.Criteria[0].Levels["proficient"], "A clear, arguable claim that the essay supports throughout."; got != want {
			t.Errorf("the thesis at proficient is %q, want %q as typed", got, want)
		}
		if len(r.FocusPoints) != 1 || r.FocusPoints[0] != "Cite the sources" {
			t.Errorf("focus points %q, want the one typed", r.FocusPoints)
		}
	}
	if found != 1 {
		t.Fatalf("%d assignments titled %q, want the one the builder created", found, builderTitle)
	}
}
