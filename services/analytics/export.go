package analytics

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/marginschool/margin/services/intake"
)

// GradebookRow is one student's line in the Canvas gradebook export.
type GradebookRow struct {
	StudentID  string // the school's student ID: Canvas's "SIS User ID"
	GivenName  string
	FamilyName string
}

// GradebookCSV writes a CSV that Canvas's gradebook import accepts
// (Grades → Import), with one row per student in students order. The
// mapping to Canvas's columns:
//
//	Student        "Family, Given", as Canvas writes names
//	ID             empty: Margin does not know Canvas's user IDs, so Canvas
//	               matches the row on SIS User ID instead
//	SIS User ID    the school's student ID from the roster
//	SIS Login ID   empty
//	Section        the class name
//	"<title>: <criterion title>"  one column per criterion, in rubric order:
//	               the points of the level awarded (the rubric's points,
//	               unweighted); empty when not scored
//	"<title>"      the weighted total, Σ weight × points, over the scored
//	               criteria
//
// The second line is Canvas's "Points Possible" row: the top level's points
// for each criterion and Σ weight × top points for the total. Canvas creates
// an assignment for each column it does not know, so import it into a
// course where these columns are meant to be new assignments (or rename the
// headers to existing ones). Students without feedback get empty cells.
// Numbers are written with the fewest digits that round-trip.
func GradebookCSV(s Summary, r intake.Rubric, section string, students []GradebookRow) []byte {
	var buf bytes.Buffer
	w := newCSV(&buf)
	head := []string{"Student", "ID", "SIS User ID", "SIS Login ID", "Section"}
	possible := []string{"    Points Possible", "", "", "", ""}
	top := r.MaxPoints()
	var total float64
	for _, c := range r.Criteria {
		head = append(head, s.Title+": "+c.Title)
		possible = append(possible, num(top))
		total += c.Weight * top
	}
	head = append(head, s.Title)
	possible = append(possible, num(total))
	w.Write(head)
	w.Write(possible)
	res := make(map[string]StudentResult, len(s.Students))
	for _, sr := range s.Students {
		res[sr.StudentID] = sr
	}
	for _, st := range students {
		row := []string{st.FamilyName + ", " + st.GivenName, "", st.StudentID, "", section}
		sr, ok := res[st.StudentID]
		for c := range r.Criteria {
			cell := ""
			if ok && sr.Levels[c] != "" {
				lv, _ := r.Level(sr.Levels[c])
				cell = num(lv.Points)
			}
			row = append(row, cell)
		}
		if ok {
			row = append(row, num(sr.Earned))
		} else {
			row = append(row, "")
		}
		w.Write(row)
	}
	w.Flush()
	return buf.Bytes()
}

// LevelsCSV writes one row per student and criterion: student_id, student
// (pseudonym, or name when the summary has names), criterion key and title,
// level key and label, and points (the level's, unweighted). Criteria not
// scored have empty level and points.
func LevelsCSV(s Summary) []byte {
	var buf bytes.Buffer
	w := newCSV(&buf)
	w.Write([]string{"student_id", "student", "criterion", "criterion_title", "level", "level_label", "points"})
	for _, sr := range s.Students {
		for c, cr := range s.Criteria {
			key, label, pts := sr.Levels[c], "", ""
			for _, lv := range s.Scale {
				if lv.Key == key && key != "" {
					label, pts = lv.Label, num(lv.Points)
				}
			}
			w.Write([]string{sr.StudentID, sr.Student, cr.Key, cr.Title, key, label, pts})
		}
	}
	w.Flush()
	return buf.Bytes()
}

// SummaryCSV writes the class summary, one row per criterion: students
// scored and not, then the count and share of each level (columns named by
// level label), the mean level (index from 0 and points), the median, and
// the agreement on second reads (pairs, exact, adjacent, quadratic weighted
// kappa, Krippendorff's ordinal alpha, and the figure to show). A figure
// that does not exist is an empty cell.
func SummaryCSV(s Summary) []byte {
	var buf bytes.Buffer
	w := newCSV(&buf)
	head := []string{"criterion", "title", "scored", "unscored"}
	for _, lv := range s.Scale {
		head = append(head, lv.Label+" count", lv.Label+" share")
	}
	head = append(head, "mean_index", "mean_points", "median", "pairs", "exact", "adjacent", "kappa", "alpha", "agreement")
	w.Write(head)
	for i, c := range s.Criteria {
		row := []string{c.Key, c.Title, strconv.Itoa(c.Dist.N), strconv.Itoa(c.Dist.Unscored)}
		for _, l := range c.Dist.Levels {
			row = append(row, strconv.Itoa(l.Count), num(l.Share))
		}
		mi, mp, med := "", "", ""
		if c.Dist.Mean != nil {
			mi, mp, med = num(c.Dist.Mean.Index), num(*c.MeanPoints), c.Dist.Median.Label
		}
		row = append(row, mi, mp, med)
		a := s.Agreement[i]
		row = append(row, strconv.Itoa(a.Agreement.Pairs), optNum(a.Agreement.Exact), optNum(a.Agreement.Adjacent),
			optNum(a.Agreement.Kappa.Value), optNum(a.Agreement.Alpha.Value), a.Figure)
		w.Write(row)
	}
	w.Flush()
	return buf.Bytes()
}

// csvWriter writes CSV in which no cell can run as a spreadsheet formula
// (see neutralise). Every CSV export goes through it.
type csvWriter struct{ w *csv.Writer }

func newCSV(out io.Writer) csvWriter { return csvWriter{csv.NewWriter(out)} }

// Write writes one row, neutralised. Writes to a bytes.Buffer cannot fail.
func (c csvWriter) Write(row []string) {
	safe := make([]string, len(row))
	for i, cell := range row {
		safe[i] = neutralise(cell)
	}
	_ = c.w.Write(safe)
}

func (c csvWriter) Flush() { c.w.Flush() }

// neutralise makes a cell that a spreadsheet would read as a formula (one
// starting with =, +, -, @, a tab or a carriage return) text, by putting an
// apostrophe before it, as OWASP advises; spreadsheets show the rest as
// written. A plain number, such as -2, is left as it is.
func neutralise(cell string) string {
	if cell == "" || !strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return cell
	}
	if _, err := strconv.ParseFloat(cell, 64); err == nil {
		return cell
	}
	return "'" + cell
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func optNum(f *float64) string {
	if f == nil {
		return ""
	}
	return num(*f)
}

// percent formats a share 0..1 as a whole percentage.
func percent(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

// joinKeys names criteria by title for prose.
func joinKeys(s Summary, keys []string) string {
	titles := make([]string, 0, len(keys))
	for _, k := range keys {
		for _, c := range s.Criteria {
			if c.Key == k {
				titles = append(titles, c.Title)
			}
		}
	}
	return strings.Join(titles, ", ")
}
