package intake

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/marginschool/margin/pkg/errs"
)

// Rubric is a competency rubric in the rubric.json format: a scale of levels
// (for example Emerging, Developing, Proficient, Advanced), the criteria a
// submission is graded on, each with a description of every level, and the
// focus points a teacher wants feedback to address. The JSON field names
// match rubric.json, so a rubric decodes and encodes without loss.
//
// A Rubric from outside Margin must pass Validate before it is used; the
// helpers below assume a valid rubric but never panic on an invalid one.
type Rubric struct {
	Title       string      `json:"title,omitempty"`
	Scale       []Level     `json:"scale"`
	Criteria    []Criterion `json:"criteria"`
	FocusPoints []string    `json:"focus_points,omitempty"`
}

// Level is one step of a rubric's scale. Points grow strictly along the
// scale, so the first level is the lowest and the last the highest.
type Level struct {
	Key    string  `json:"key"`    // a slug, e.g. "proficient"; unique within the scale
	Label  string  `json:"label"`  // shown to people, e.g. "Proficient"
	Points float64 `json:"points"` // non-negative
}

// Criterion is one thing a submission is graded on.
type Criterion struct {
	Key      string  `json:"key"`   // a slug, e.g. "thesis"; unique within the rubric
	Title    string  `json:"title"` // e.g. "Thesis and focus"
	Weight   float64 `json:"weight"`
	Standard string  `json:"standard,omitempty"` // optional standard code, e.g. "CCSS.ELA-LITERACY.W.9-10.1.A"
	// Descriptors says what work at each level looks like, keyed by level
	// key. A valid criterion describes every level of the scale and no other.
	Descriptors map[string]string `json:"levels"`
}

// Limits Validate enforces. Lengths count characters (runes), not bytes.
const (
	minLevels        = 2
	maxLevels        = 10
	maxCriteria      = 50
	maxFocusPoints   = 20
	maxKeyLen        = 64
	maxTitleLen      = 200
	maxLabelLen      = 60
	maxStandardLen   = 100
	maxDescriptorLen = 2000
	maxFocusPointLen = 500
	maxPoints        = 1000
	maxWeight        = 1000
)

// Validate checks the whole rubric and returns nil or an errs.List of every
// problem found, in document order. Each element has code errs.Invalid, the
// JSON path of the offending field (e.g. "scale[1].key",
// "criteria[2].levels.proficient") and a sentence a teacher can act on.
//
// The rules: a scale of 2 to 10 levels whose keys are unique slugs
// (lowercase letters, digits, '-' and '_'), whose labels are non-empty and
// whose points are finite, between 0 and 1000 and strictly ascending along
// the scale; 1 to 50 criteria with unique slug keys, non-empty titles,
// weights above 0 and at most 1000, and a non-empty descriptor for every
// level of the scale and for no other key; at most 20 focus points, each
// non-empty and different from the others. Keys are at most 64 characters,
// titles 200, labels 60, standard codes 100, descriptors 2000 and focus
// points 500. The title is optional.
func (r Rubric) Validate() error {
	var l errs.List
	add := func(field, format string, args ...any) {
		l = append(l, errs.F(errs.Invalid, field, format, args...))
	}

	tooLong(&l, "title", "The rubric title", r.Title, maxTitleLen)

	switch {
	case len(r.Scale) < minLevels:
		add("scale", "The scale needs at least %d levels.", minLevels)
	case len(r.Scale) > maxLevels:
		add("scale", "The scale has %d levels; at most %d are allowed.", len(r.Scale), maxLevels)
	}
	levelKeys := make(map[string]int, len(r.Scale)) // usable key -> index of first use
	onScale := make(map[string]bool, len(r.Scale))  // every key, usable or not
	prevPoints, prevOK := 0.0, false
	for i, lv := range r.Scale {
		f := fmt.Sprintf("scale[%d]", i)
		name := "Level " + strconv.Itoa(i+1)
		onScale[lv.Key] = true
		if checkKey(&l, f+".key", name, lv.Key) {
			if j, dup := levelKeys[lv.Key]; dup {
				add(f+".key", "Level %d uses the key %q, which level %d already uses.", i+1, lv.Key, j+1)
			} else {
				levelKeys[lv.Key] = i
			}
		}
		if strings.TrimSpace(lv.Label) == "" {
			add(f+".label", "%s needs a label.", name)
		} else {
			tooLong(&l, f+".label", name+"'s label", lv.Label, maxLabelLen)
		}
		switch p := lv.Points; {
		case math.IsNaN(p) || math.IsInf(p, 0) || p < 0 || p > maxPoints:
			add(f+".points", "%s's points must be a number from 0 to %d.", name, maxPoints)
			prevOK = false
		case prevOK && p <= prevPoints:
			add(f+".points", "%s must be worth more points than the level before it; levels go from lowest to highest.", name)
			prevPoints = p
		default:
			prevPoints, prevOK = p, true
		}
	}

	switch {
	case len(r.Criteria) == 0:
		add("criteria", "The rubric needs at least one criterion.")
	case len(r.Criteria) > maxCriteria:
		add("criteria", "The rubric has %d criteria; at most %d are allowed.", len(r.Criteria), maxCriteria)
	}
	critKeys := make(map[string]int, len(r.Criteria))
	for i, c := range r.Criteria {
		f := fmt.Sprintf("criteria[%d]", i)
		name := "Criterion " + strconv.Itoa(i+1)
		if checkKey(&l, f+".key", name, c.Key) {
			if j, dup := critKeys[c.Key]; dup {
				add(f+".key", "Criterion %d uses the key %q, which criterion %d already uses.", i+1, c.Key, j+1)
			} else {
				critKeys[c.Key] = i
			}
		}
		if strings.TrimSpace(c.Title) == "" {
			add(f+".title", "%s needs a title.", name)
		} else {
			tooLong(&l, f+".title", name+"'s title", c.Title, maxTitleLen)
		}
		if !(c.Weight > 0 && c.Weight <= maxWeight) { // also catches NaN
			add(f+".weight", "%s's weight must be more than 0 and at most %d.", name, maxWeight)
		}
		tooLong(&l, f+".standard", name+"'s standard code", c.Standard, maxStandardLen)

		// Describe levels in scale order, then stray keys in sorted order, so
		// the list is stable.
		for li, lv := range r.Scale {
			if j, ok := levelKeys[lv.Key]; !ok || j != li {
				continue // the level itself is broken or a duplicate; reported above
			}
			df := f + ".levels." + lv.Key
			d, ok := c.Descriptors[lv.Key]
			switch {
			case !ok:
				add(df, "%s needs a description of the level %q.", name, lv.Label)
			case strings.TrimSpace(d) == "":
				add(df, "%s's description of the level %q is empty.", name, lv.Label)
			default:
				tooLong(&l, df, fmt.Sprintf("%s's description of the level %q", name, lv.Label), d, maxDescriptorLen)
			}
		}
		var stray []string
		for k := range c.Descriptors {
			if !onScale[k] {
				stray = append(stray, k)
			}
		}
		slices.Sort(stray)
		for _, k := range stray {
			add(f+".levels."+k, "%s describes a level %q that is not on the scale.", name, k)
		}
	}

	if len(r.FocusPoints) > maxFocusPoints {
		add("focus_points", "The rubric has %d focus points; at most %d are allowed.", len(r.FocusPoints), maxFocusPoints)
	}
	seen := make(map[string]int, len(r.FocusPoints))
	for i, p := range r.FocusPoints {
		f := fmt.Sprintf("focus_points[%d]", i)
		norm := strings.ToLower(strings.TrimSpace(p))
		switch j, dup := seen[norm]; {
		case norm == "":
			add(f, "Focus point %d is empty.", i+1)
		case dup:
			add(f, "Focus point %d repeats focus point %d.", i+1, j+1)
		default:
			seen[norm] = i
			tooLong(&l, f, "Focus point "+strconv.Itoa(i+1), p, maxFocusPointLen)
		}
	}
	return l.Err()
}

// checkKey reports a missing, overlong or non-slug key and says whether the
// key is usable.
func checkKey(l *errs.List, field, name, key string) bool {
	switch {
	case key == "":
		*l = append(*l, errs.F(errs.Invalid, field, "%s needs a key.", name))
	case len(key) > maxKeyLen:
		*l = append(*l, errs.F(errs.Invalid, field, "%s's key is longer than %d characters.", name, maxKeyLen))
	case !isSlug(key):
		*l = append(*l, errs.F(errs.Invalid, field, "%s's key %q may contain only lowercase letters, digits, '-' and '_'.", name, key))
	default:
		return true
	}
	return false
}

func isSlug(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

func tooLong(l *errs.List, field, what, s string, max int) {
	if utf8.RuneCountInString(s) > max {
		*l = append(*l, errs.F(errs.Invalid, field, "%s is longer than %d characters.", what, max))
	}
}

// LevelIndex returns the position of the level with the given key on the
// scale (0 is the lowest) and whether there is one.
func (r Rubric) LevelIndex(key string) (int, bool) {
	for i, lv := range r.Scale {
		if lv.Key == key {
			return i, true
		}
	}
	return -1, false
}

// Level returns the level with the given key and whether there is one.
func (r Rubric) Level(key string) (Level, bool) {
	if i, ok := r.LevelIndex(key); ok {
		return r.Scale[i], true
	}
	return Level{}, false
}

// Criterion returns the criterion with the given key and whether there is
// one.
func (r Rubric) Criterion(key string) (Criterion, bool) {
	for _, c := range r.Criteria {
		if c.Key == key {
			return c, true
		}
	}
	return Criterion{}, false
}

// MaxPoints is the points of the highest level on the scale, or 0 for an
// empty scale.
func (r Rubric) MaxPoints() float64 {
	m := 0.0
	for _, lv := range r.Scale {
		m = max(m, lv.Points)
	}
	return m
}

// Score is the weighted share of the best possible result that a grading
// earns. levels maps every criterion key to the key of the level awarded.
//
//	Score = Σ weight(c) × points(levels[c]) / Σ weight(c) × MaxPoints()
//
// summed over all criteria c, so it runs from 0 to 1 (all-top-level is 1; a
// scale starting at 1 point makes all-lowest-level 1/MaxPoints, not 0).
//
// It returns an errs.List with code errs.Invalid naming every criterion with
// no level or an unknown level and every key that is not a criterion; each
// error's Field is the offending key of levels. It returns an errs.Invalid
// error too if the rubric has no points to earn (an unvalidated rubric).
func (r Rubric) Score(levels map[string]string) (float64, error) {
	var l errs.List
	var earned, possible float64
	top := r.MaxPoints()
	for _, c := range r.Criteria {
		key, ok := levels[c.Key]
		if !ok {
			l = append(l, errs.F(errs.Invalid, c.Key, "The criterion %q has no level.", c.Title))
			continue
		}
		lv, ok := r.Level(key)
		if !ok {
			l = append(l, errs.F(errs.Invalid, c.Key, "The criterion %q has the level %q, which is not on the scale.", c.Title, key))
			continue
		}
		earned += c.Weight * lv.Points
		possible += c.Weight * top
	}
	var stray []string
	for k := range levels {
		if _, ok := r.Criterion(k); !ok {
			stray = append(stray, k)
		}
	}
	slices.Sort(stray)
	for _, k := range stray {
		l = append(l, errs.F(errs.Invalid, k, "%q is not a criterion of this rubric.", k))
	}
	if err := l.Err(); err != nil {
		return 0, err
	}
	if !(possible > 0) {
		return 0, errs.E(errs.Invalid, "The rubric has no points to earn.")
	}
	return earned / possible, nil
}
