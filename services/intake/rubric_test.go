package intake_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/intake"
)

// fixture reads a file of the class-a fixture set, from $MARGIN_FIXTURES if
// set, else from the shared checkout.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	dir := os.Getenv("MARGIN_FIXTURES")
	if dir == "" {
		dir = "../../testdata" // a copy of ../shared/fixtures
	}
	b, err := os.ReadFile(filepath.Join(dir, "class-a", name))
	if err != nil {
		t.Fatalf("fixture %s: %v (set MARGIN_FIXTURES to the fixtures directory)", name, err)
	}
	return b
}

func fixtureRubric(t *testing.T) intake.Rubric {
	t.Helper()
	var r intake.Rubric
	dec := json.NewDecoder(bytes.NewReader(fixture(t, "rubric.json")))
	dec.DisallowUnknownFields() // every field of the fixture has a home
	if err := dec.Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

func cloneRubric(r intake.Rubric) intake.Rubric {
	r.Scale = slices.Clone(r.Scale)
	r.FocusPoints = slices.Clone(r.FocusPoints)
	r.Criteria = slices.Clone(r.Criteria)
	for i := range r.Criteria {
		r.Criteria[i].Descriptors = maps.Clone(r.Criteria[i].Descriptors)
	}
	return r
}

// errorFields checks that err is an errs.List of well-formed invalid-value
// errors and returns their fields in order.
func errorFields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var l errs.List
	if !errors.As(err, &l) {
		t.Fatalf("error %T is not an errs.List: %v", err, err)
	}
	var fields []string
	for _, e := range l {
		if e.Code != errs.Invalid || e.Message == "" || !strings.HasSuffix(e.Message, ".") {
			t.Errorf("malformed error %+v", e)
		}
		fields = append(fields, e.Field)
	}
	return fields
}

func TestRubricFixtureRoundTrips(t *testing.T) {
	r := fixtureRubric(t)
	if err := r.Validate(); err != nil {
		t.Fatalf("fixture does not validate: %v", err)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(fixture(t, "rubric.json"), &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("round trip changed the rubric:\nwant %v\ngot  %v", want, got)
	}
}

func TestRubricValidate(t *testing.T) {
	base := fixtureRubric(t)
	eachCriterion := func(path string) []string {
		var f []string
		for i := range base.Criteria {
			f = append(f, "criteria["+string(rune('0'+i))+"]"+path)
		}
		return f
	}
	tests := []struct {
		name   string
		change func(r *intake.Rubric)
		want   []string
	}{
		{"fixture", func(r *intake.Rubric) {}, nil},
		{"no focus points or title", func(r *intake.Rubric) { r.FocusPoints, r.Title = nil, "" }, nil},
		{"fractional points and weights", func(r *intake.Rubric) {
			r.Scale[0].Points, r.Criteria[0].Weight = 0, 0.5
		}, nil},
		{"one level", func(r *intake.Rubric) {
			r.Scale = r.Scale[:1]
			for _, c := range r.Criteria {
				for k := range c.Descriptors {
					if k != "emerging" {
						delete(c.Descriptors, k)
					}
				}
			}
		}, []string{"scale"}},
		{"too many levels", func(r *intake.Rubric) {
			r.Scale = nil
			for i := range 11 {
				r.Scale = append(r.Scale, intake.Level{Key: "l" + string(rune('a'+i)), Label: "L", Points: float64(i)})
			}
			for i := range r.Criteria {
				r.Criteria[i].Descriptors = map[string]string{}
				for _, lv := range r.Scale {
					r.Criteria[i].Descriptors[lv.Key] = "text"
				}
			}
		}, []string{"scale"}},
		{"duplicate level key", func(r *intake.Rubric) { r.Scale[1].Key = "emerging" },
			append([]string{"scale[1].key"}, eachCriterion(".levels.developing")...)},
		{"empty level key", func(r *intake.Rubric) { r.Scale[1].Key = "" },
			append([]string{"scale[1].key"}, eachCriterion(".levels.developing")...)},
		{"level key not a slug", func(r *intake.Rubric) { r.Scale[2].Key = "Proficient" },
			append([]string{"scale[2].key"}, eachCriterion(".levels.proficient")...)},
		{"level key too long", func(r *intake.Rubric) {
			k := strings.Repeat("a", 65)
			r.Scale[3].Key = k
			for _, c := range r.Criteria {
				c.Descriptors[k] = c.Descriptors["advanced"]
				delete(c.Descriptors, "advanced")
			}
		}, []string{"scale[3].key"}},
		{"blank label", func(r *intake.Rubric) { r.Scale[3].Label = "  " }, []string{"scale[3].label"}},
		{"points not ascending", func(r *intake.Rubric) { r.Scale[2].Points = 2 }, []string{"scale[2].points"}},
		{"points descending", func(r *intake.Rubric) {
			r.Scale[0].Points, r.Scale[1].Points, r.Scale[2].Points, r.Scale[3].Points = 4, 3, 2, 1
		}, []string{"scale[1].points", "scale[2].points", "scale[3].points"}},
		{"negative points", func(r *intake.Rubric) { r.Scale[0].Points = -1 }, []string{"scale[0].points"}},
		{"NaN points", func(r *intake.Rubric) { r.Scale[1].Points = math.NaN() }, []string{"scale[1].points"}},
		{"huge points", func(r *intake.Rubric) { r.Scale[3].Points = 1e9 }, []string{"scale[3].points"}},
		{"no criteria", func(r *intake.Rubric) { r.Criteria = nil }, []string{"criteria"}},
		{"too many criteria", func(r *intake.Rubric) {
			for len(r.Criteria) <= 50 {
				c := r.Criteria[0]
				c.Key = "c" + strings.Repeat("x", len(r.Criteria))
				r.Criteria = append(r.Criteria, c)
			}
		}, []string{"criteria"}},
		{"duplicate criterion key", func(r *intake.Rubric) { r.Criteria[3].Key = "thesis" }, []string{"criteria[3].key"}},
		{"criterion key with a space", func(r *intake.Rubric) { r.Criteria[0].Key = "the sis" }, []string{"criteria[0].key"}},
		{"missing criterion key", func(r *intake.Rubric) { r.Criteria[4].Key = "" }, []string{"criteria[4].key"}},
		{"missing title", func(r *intake.Rubric) { r.Criteria[1].Title = "" }, []string{"criteria[1].title"}},
		{"zero weight", func(r *intake.Rubric) { r.Criteria[2].Weight = 0 }, []string{"criteria[2].weight"}},
		{"negative weight", func(r *intake.Rubric) { r.Criteria[2].Weight = -1 }, []string{"criteria[2].weight"}},
		{"NaN weight", func(r *intake.Rubric) { r.Criteria[2].Weight = math.NaN() }, []string{"criteria[2].weight"}},
		{"infinite weight", func(r *intake.Rubric) { r.Criteria[2].Weight = math.Inf(1) }, []string{"criteria[2].weight"}},
		{"long standard", func(r *intake.Rubric) { r.Criteria[0].Standard = strings.Repeat("S", 101) }, []string{"criteria[0].standard"}},
		{"missing descriptor", func(r *intake.Rubric) { delete(r.Criteria[2].Descriptors, "proficient") },
			[]string{"criteria[2].levels.proficient"}},
		{"no descriptors", func(r *intake.Rubric) { r.Criteria[1].Descriptors = nil }, []string{
			"criteria[1].levels.emerging", "criteria[1].levels.developing",
			"criteria[1].levels.proficient", "criteria[1].levels.advanced",
		}},
		{"blank descriptor", func(r *intake.Rubric) { r.Criteria[2].Descriptors["proficient"] = " \n" },
			[]string{"criteria[2].levels.proficient"}},
		{"long descriptor", func(r *intake.Rubric) { r.Criteria[0].Descriptors["advanced"] = strings.Repeat("é", 2001) },
			[]string{"criteria[0].levels.advanced"}},
		{"descriptor of an unknown level", func(r *intake.Rubric) {
			r.Criteria[0].Descriptors["expert"] = "x"
			r.Criteria[0].Descriptors["beginner"] = "x"
		}, []string{"criteria[0].levels.beginner", "criteria[0].levels.expert"}},
		{"empty focus point", func(r *intake.Rubric) { r.FocusPoints[0] = " " }, []string{"focus_points[0]"}},
		{"repeated focus point", func(r *intake.Rubric) {
			r.FocusPoints = append(r.FocusPoints, " "+strings.ToUpper(r.FocusPoints[0]))
		}, []string{"focus_points[2]"}},
		{"too many focus points", func(r *intake.Rubric) {
			for i := range 19 {
				r.FocusPoints = append(r.FocusPoints, "point "+string(rune('a'+i)))
			}
		}, []string{"focus_points"}},
		{"long title", func(r *intake.Rubric) { r.Title = strings.Repeat("t", 201) }, []string{"title"}},
		{"several problems, all reported in order", func(r *intake.Rubric) {
			r.Scale[0].Points = 9
			r.Criteria[0].Weight = 0
			r.Criteria[3].Title = ""
			delete(r.Criteria[4].Descriptors, "emerging")
			r.FocusPoints[1] = ""
		}, []string{
			"scale[1].points", "criteria[0].weight", "criteria[3].title",
			"criteria[4].levels.emerging", "focus_points[1]",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cloneRubric(base)
			tt.change(&r)
			got := errorFields(t, r.Validate())
			if !slices.Equal(got, tt.want) {
				t.Errorf("fields\ngot  %q\nwant %q\nerror: %v", got, tt.want, r.Validate())
			}
		})
	}
}

func TestRubricLookups(t *testing.T) {
	r := fixtureRubric(t)
	if i, ok := r.LevelIndex("proficient"); !ok || i != 2 {
		t.Errorf("LevelIndex(proficient) = %d, %v", i, ok)
	}
	if i, ok := r.LevelIndex("expert"); ok || i != -1 {
		t.Errorf("LevelIndex(expert) = %d, %v", i, ok)
	}
	if lv, ok := r.Level("advanced"); !ok || lv.Label != "Advanced" || lv.Points != 4 {
		t.Errorf("Level(advanced) = %+v, %v", lv, ok)
	}
	if _, ok := r.Level(""); ok {
		t.Error("Level(\"\") found a level")
	}
	if c, ok := r.Criterion("evidence"); !ok || c.Weight != 2 || c.Standard != "CCSS.ELA-LITERACY.W.9-10.8" {
		t.Errorf("Criterion(evidence) = %+v, %v", c, ok)
	}
	if _, ok := r.Criterion("style"); ok {
		t.Error("Criterion(style) found a criterion")
	}
	if m := r.MaxPoints(); m != 4 {
		t.Errorf("MaxPoints = %v", m)
	}
	if m := (intake.Rubric{}).MaxPoints(); m != 0 {
		t.Errorf("MaxPoints of an empty rubric = %v", m)
	}
}

func TestRubricScore(t *testing.T) {
	r := fixtureRubric(t)
	all := func(level string) map[string]string {
		m := map[string]string{}
		for _, c := range r.Criteria {
			m[c.Key] = level
		}
		return m
	}
	tests := []struct {
		name   string
		levels map[string]string
		want   float64
		fields []string
	}{
		{"all advanced", all("advanced"), 1, nil},
		{"all proficient", all("proficient"), 0.75, nil},
		{"all emerging", all("emerging"), 0.25, nil},
		// weights 2,2,2,1,1: (2*4 + 2*3 + 2*2 + 1*1 + 1*4) / (8*4) = 23/32
		{"mixed", map[string]string{
			"thesis": "advanced", "evidence": "proficient", "analysis": "developing",
			"organization": "emerging", "conventions": "advanced",
		}, 23.0 / 32, nil},
		{"missing, unknown level and stray key", map[string]string{
			"thesis": "advanced", "evidence": "expert", "analysis": "developing",
			"organization": "emerging", "style": "advanced", "voice": "advanced",
		}, 0, []string{"evidence", "conventions", "style", "voice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Score(tt.levels)
			if fields := errorFields(t, err); !slices.Equal(fields, tt.fields) {
				t.Fatalf("error fields %q, want %q (%v)", fields, tt.fields, err)
			}
			if math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("Score = %v, want %v", got, tt.want)
			}
		})
	}
	zero := intake.Rubric{
		Scale:    []intake.Level{{Key: "none", Points: 0}},
		Criteria: []intake.Criterion{{Key: "a", Weight: 1}},
	}
	if _, err := zero.Score(map[string]string{"a": "none"}); !errs.Is(err, errs.Invalid) {
		t.Errorf("Score of a rubric with no points to earn: %v", err)
	}
}
