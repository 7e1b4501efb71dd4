package analytics

import (
	"cmp"
	"slices"
	"time"

	"github.com/marginschool/margin/services/intake"
)

// Graded is one graded submission version: the levels one student received
// on one assignment. Progress and the data wall are computed from these.
type Graded struct {
	AssignmentID string            `json:"assignment_id"`
	Title        string            `json:"title"`
	StudentID    string            `json:"student_id"`
	Version      int               `json:"version"` // submission version; above 1 is a revision
	At           time.Time         `json:"at"`      // the assignment's date (published, else created)
	Rubric       intake.Rubric     `json:"-"`
	Levels       map[string]string `json:"levels"`
}

// Strand is what progress is followed along: a standard code when the
// criterion has one, otherwise the criterion key, so that assignments
// sharing either line up.
type Strand struct {
	Key      string `json:"key"`
	Title    string `json:"title"`
	Standard string `json:"standard,omitempty"`
}

// strandOf is the strand a criterion belongs to.
func strandOf(c intake.Criterion) Strand {
	if c.Standard != "" {
		return Strand{Key: c.Standard, Title: c.Title, Standard: c.Standard}
	}
	return Strand{Key: "criterion:" + c.Key, Title: c.Title}
}

// Mark is one level on one strand at one time.
type Mark struct {
	AssignmentID string    `json:"assignment_id"`
	Title        string    `json:"title"`
	Version      int       `json:"version"`
	Revision     bool      `json:"revision"` // a re-assessment of a revised version
	At           time.Time `json:"at"`
	Level        string    `json:"level"` // level key
	Label        string    `json:"label"`
	Index        int       `json:"index"`  // 0 is the lowest level
	Levels       int       `json:"levels"` // size of that assignment's scale
	// Fraction is Index/(Levels-1), so scales of different sizes share one
	// axis from 0 (lowest) to 1 (highest).
	Fraction float64 `json:"fraction"`
}

// StrandProgress is a student's marks on one strand, oldest first.
type StrandProgress struct {
	Strand
	Marks []Mark `json:"marks"`
}

// Progress is one student's levels over time, per strand.
type Progress struct {
	StudentID string           `json:"student_id"`
	Student   string           `json:"student"`
	Strands   []StrandProgress `json:"strands"`
}

// LearnerProgress follows one student's levels across the graded versions
// given (any order; only the student's own are used): per strand, every
// mark oldest first (ties by assignment ID, then version), revisions
// included and flagged. Strands are ordered by first appearance.
func LearnerProgress(studentID, name string, graded []Graded) Progress {
	mine := make([]Graded, 0, len(graded))
	for _, g := range graded {
		if g.StudentID == studentID {
			mine = append(mine, g)
		}
	}
	sortGraded(mine)
	p := Progress{StudentID: studentID, Student: name, Strands: []StrandProgress{}}
	index := map[string]int{}
	for _, g := range mine {
		for _, c := range g.Rubric.Criteria {
			m, ok := markOf(g, c)
			if !ok {
				continue
			}
			st := strandOf(c)
			i, ok := index[st.Key]
			if !ok {
				i = len(p.Strands)
				index[st.Key] = i
				p.Strands = append(p.Strands, StrandProgress{Strand: st})
			}
			p.Strands[i].Title = st.Title // the latest wording
			p.Strands[i].Marks = append(p.Strands[i].Marks, m)
		}
	}
	return p
}

func sortGraded(gs []Graded) {
	slices.SortFunc(gs, func(a, b Graded) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.AssignmentID, b.AssignmentID), cmp.Compare(a.Version, b.Version))
	})
}

// markOf is g's level on criterion c, if it was scored on the scale.
func markOf(g Graded, c intake.Criterion) (Mark, bool) {
	key, ok := g.Levels[c.Key]
	if !ok {
		return Mark{}, false
	}
	i, ok := g.Rubric.LevelIndex(key)
	if !ok {
		return Mark{}, false
	}
	k := len(g.Rubric.Scale)
	return Mark{
		AssignmentID: g.AssignmentID, Title: g.Title, Version: g.Version, Revision: g.Version > 1, At: g.At,
		Level: key, Label: g.Rubric.Scale[i].Label, Index: i, Levels: k, Fraction: float64(i) / float64(k-1),
	}, true
}

// WallStudent is a row heading of the data wall.
type WallStudent struct {
	StudentID string `json:"student_id"`
	Name      string `json:"name"`
}

// Wall is a class's data wall: students by strands, with each student's
// latest level in each cell (nil where they have none).
type Wall struct {
	Strands []Strand  `json:"strands"`
	Rows    []WallRow `json:"rows"`
}

// WallRow is one student's line of the data wall; Cells follow Strands.
type WallRow struct {
	WallStudent
	Cells []*Mark `json:"cells"`
}

// DataWall builds the data wall of students from the graded versions given
// (any order; versions of students not listed are ignored). A cell holds the
// student's latest mark on the strand: the most recent At, ties broken by
// assignment ID and then the higher version. Strands are ordered by standard
// code or key; rows follow students.
func DataWall(students []WallStudent, graded []Graded) Wall {
	row := make(map[string]int, len(students))
	for i, s := range students {
		row[s.StudentID] = i
	}
	latest := make([]map[string]Mark, len(students))
	strands := map[string]Strand{}
	for _, g := range graded {
		r, ok := row[g.StudentID]
		if !ok {
			continue
		}
		for _, c := range g.Rubric.Criteria {
			m, ok := markOf(g, c)
			if !ok {
				continue
			}
			st := strandOf(c)
			strands[st.Key] = st
			if latest[r] == nil {
				latest[r] = map[string]Mark{}
			}
			if old, ok := latest[r][st.Key]; !ok || later(m, old) {
				latest[r][st.Key] = m
			}
		}
	}
	w := Wall{Strands: make([]Strand, 0, len(strands)), Rows: make([]WallRow, len(students))}
	for _, st := range strands {
		w.Strands = append(w.Strands, st)
	}
	slices.SortFunc(w.Strands, func(a, b Strand) int { return cmp.Compare(a.Key, b.Key) })
	for i, s := range students {
		w.Rows[i] = WallRow{WallStudent: s, Cells: make([]*Mark, len(w.Strands))}
		for j, st := range w.Strands {
			if m, ok := latest[i][st.Key]; ok {
				w.Rows[i].Cells[j] = &m
			}
		}
	}
	return w
}

// later reports whether mark a is more recent than b.
func later(a, b Mark) bool {
	return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.AssignmentID, b.AssignmentID), cmp.Compare(a.Version, b.Version)) > 0
}
