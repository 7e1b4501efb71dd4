package web

import (
	"context"
	"fmt"
	"strings"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
)

// feedbackTable is the assignment page's feedback list as the teacher
// reads it: one row per feedback with the student's name, the level on each
// criterion and the weighted total, and how many students a release
// reaches now.
type feedbackTable struct {
	Criteria []intake.Criterion
	Rows     []feedbackTableRow
	// Releasable is the number of students with approved feedback not yet
	// released: the ones a release reaches now.
	Releasable int
	// Questions counts the students' questions about their feedback.
	Questions int
}

// feedbackTableRow is one feedback (a version's read) in the table.
type feedbackTableRow struct {
	feedback.Row
	Name   string   // the student's name, from the class roster
	Levels []string // level labels in rubric order, "" where not chosen
	Ranks  []int    // the levels' places on the scale (1 the lowest), 0 where not chosen
	// Total is the weighted total as a share of the highest possible (0–1),
	// Score its text ("72%"), "" when a level is missing.
	Total float64
	Score string
}

// feedbackTableOf lays out the rows of an assignment's feedback with the
// names of the class's students (a student not on the roster any more
// shows as "Former student").
func feedbackTableOf(a intake.Assignment, rows []feedback.Row, roster []intake.Student) feedbackTable {
	names := map[string]string{}
	for _, s := range roster {
		names[s.StudentID] = strings.TrimSpace(s.GivenName + " " + s.FamilyName)
	}
	label, points, rank, top := map[string]string{}, map[string]float64{}, map[string]int{}, 0.0
	for i, l := range a.Rubric.Scale {
		label[l.Key], points[l.Key], rank[l.Key] = l.Label, l.Points, i+1
		top = max(top, l.Points)
	}
	t := feedbackTable{Criteria: a.Rubric.Criteria}
	releasable := map[string]bool{}
	for _, r := range rows {
		row := feedbackTableRow{Row: r, Name: names[r.StudentID], Total: -1}
		if row.Name == "" {
			row.Name = "Former student"
		}
		var sum, weights float64
		complete := true
		for _, c := range a.Rubric.Criteria {
			k, ok := r.Levels[c.Key]
			row.Levels, row.Ranks = append(row.Levels, label[k]), append(row.Ranks, rank[k])
			if !ok || label[k] == "" {
				complete = false
				continue
			}
			sum += c.Weight * points[k]
			weights += c.Weight
		}
		if complete && weights > 0 && top > 0 {
			row.Total = sum / (weights * top)
			row.Score = fmt.Sprintf("%.0f%%", 100*row.Total)
		}
		if r.State == feedback.Approved {
			releasable[r.StudentID] = true
		}
		t.Questions += r.Questions
		t.Rows = append(t.Rows, row)
	}
	t.Releasable = len(releasable)
	return t
}

// feedbackTableFor reads the class roster for the table's names.
func (p *pages) feedbackTableFor(ctx context.Context, u account.User, a intake.Assignment, rows []feedback.Row) (feedbackTable, error) {
	roster, err := p.d.Intake.Roster(ctx, u, a.ClassID)
	if err != nil {
		return feedbackTable{}, err
	}
	return feedbackTableOf(a, rows, roster), nil
}
