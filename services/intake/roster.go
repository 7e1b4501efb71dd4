package intake

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/marginschool/margin/pkg/errs"
)

// RosterRow is one student from a roster file, normalised: every value is
// trimmed and in Unicode NFC, and the email is lowercased.
type RosterRow struct {
	Row        int    `json:"row"` // the spreadsheet row it came from; the header is row 1
	StudentID  string `json:"student_id"`
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
	Email      string `json:"email,omitempty"` // "" when the row has none
}

// MaxRosterBytes is the largest roster file ParseRoster reads.
const MaxRosterBytes = 4 << 20

// The roster columns, as they appear in the header.
const (
	colStudentID  = "student_id"
	colGivenName  = "given_name"
	colFamilyName = "family_name"
	colEmail      = "email"
)

var rosterColumns = []string{colStudentID, colGivenName, colFamilyName, colEmail}

const (
	maxStudentIDLen = 64
	maxNameLen      = 100
	maxEmailLen     = 254
)

// ParseRoster reads a roster in CSV: a header row naming the columns
// student_id, given_name, family_name and email in any order (names are
// matched case-insensitively after trimming; other columns are ignored), then
// one student per row. A UTF-8 byte order mark, CRLF line ends and blank rows
// (including rows of empty cells) are accepted. student_id, given_name and
// family_name are required in every row; email may be empty, but when present
// it must be a plain address such as avery@example.org.
//
// Rows are numbered as a spreadsheet shows them: the header is row 1 and
// blank rows count. rows holds every good row in file order. rowErrs holds
// one *errs.Error per problem in a bad row, in row order; its Field is
// "rows[N]" or "rows[N].<column>" where N is that spreadsheet row number (not
// a 0-based index), and its Message starts with "Row N:". Codes: errs.InvalidEmail
// for an email that is not an address, errs.Invalid for everything else
// (a missing value, a value too long, a student_id already used in an
// earlier row — the earlier row is kept — or a row with fewer cells than the
// header, or more cells with something in them).
//
// err is a whole-file problem, and then rows and rowErrs are nil:
// errs.TooLarge over MaxRosterBytes; errs.UnsupportedType for a file that is
// not UTF-8 text (a spreadsheet, a PDF, a CSV saved in a legacy encoding);
// errs.Invalid for a file that is empty, is not well-formed CSV, lacks a
// required column or repeats one, or has no students; or an internal error
// if r fails.
func ParseRoster(r io.Reader) (rows []RosterRow, rowErrs errs.List, err error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxRosterBytes+1))
	if err != nil {
		return nil, nil, errs.Wrap(err, "read roster")
	}
	if len(data) > MaxRosterBytes {
		return nil, nil, errs.E(errs.TooLarge, "The roster is larger than %d MB; a class roster is much smaller, so check that this is the right file.", MaxRosterBytes>>20)
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	switch {
	case bytes.IndexByte(data, 0) >= 0:
		return nil, nil, errs.E(errs.UnsupportedType, "The roster is not a CSV file. If it is a spreadsheet, save or export it as CSV.")
	case !utf8.Valid(data):
		return nil, nil, errs.E(errs.UnsupportedType, "The roster is not UTF-8 text. Save it again as \"CSV UTF-8\".")
	}

	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1 // cell counts are checked per row, to report them per row

	// A spreadsheet shows a quoted value with line breaks in one row, so
	// rows are lines minus the line breaks inside values before them.
	innerBreaks := 0
	rowOf := func(line int) int { return line - innerBreaks }

	var header []string
	col := map[string]int{}
	firstRow := map[string]int{} // student_id -> row
	for {
		rec, rerr := cr.Read()
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, nil, csvError(rerr, rowOf)
		}
		line, _ := cr.FieldPos(0)
		row := rowOf(line)
		for _, f := range rec {
			innerBreaks += strings.Count(f, "\n")
		}
		if blank(rec) {
			continue
		}
		if header == nil {
			header = rec
			if err := readHeader(rec, col); err != nil {
				return nil, nil, err
			}
			continue
		}

		rowErr := func(code errs.Code, column, format string, args ...any) {
			field := fmt.Sprintf("rows[%d]", row)
			if column != "" {
				field += "." + column
			}
			rowErrs = append(rowErrs, errs.F(code, field, "Row %d: "+format, append([]any{row}, args...)...))
		}
		if len(rec) < len(header) {
			rowErr(errs.Invalid, "", "it has %d cells but the header has %d.", len(rec), len(header))
			continue
		}
		if !blank(rec[len(header):]) {
			rowErr(errs.Invalid, "", "it has values beyond the %d columns of the header.", len(header))
			continue
		}

		cell := func(name string) string { return norm.NFC.String(strings.TrimSpace(rec[col[name]])) }
		s := RosterRow{
			Row:        row,
			StudentID:  cell(colStudentID),
			GivenName:  cell(colGivenName),
			FamilyName: cell(colFamilyName),
			Email:      strings.ToLower(cell(colEmail)),
		}
		bad := len(rowErrs)
		switch id := s.StudentID; {
		case id == "":
			rowErr(errs.Invalid, colStudentID, "the student_id is missing.")
		case utf8.RuneCountInString(id) > maxStudentIDLen:
			rowErr(errs.Invalid, colStudentID, "the student_id is longer than %d characters.", maxStudentIDLen)
		case strings.ContainsFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
			rowErr(errs.Invalid, colStudentID, "the student_id %q contains spaces.", id)
		default:
			if first, dup := firstRow[id]; dup {
				rowErr(errs.Invalid, colStudentID, "the student_id %s is already used in row %d.", id, first)
			} else {
				firstRow[id] = row
			}
		}
		checkName(rowErr, colGivenName, s.GivenName)
		checkName(rowErr, colFamilyName, s.FamilyName)
		if s.Email != "" && !plainAddress(s.Email) {
			rowErr(errs.InvalidEmail, colEmail, "%q is not an email address.", s.Email)
		}
		if len(rowErrs) == bad {
			rows = append(rows, s)
		}
	}

	if header == nil {
		return nil, nil, errs.E(errs.Invalid, "The roster is empty.")
	}
	if len(rows) == 0 && len(rowErrs) == 0 {
		return nil, nil, errs.E(errs.Invalid, "The roster has a header row but no students.")
	}
	return rows, rowErrs, nil
}

// readHeader maps the column names of the roster to their positions.
func readHeader(rec []string, col map[string]int) error {
	for i, name := range rec {
		name = strings.ToLower(strings.TrimSpace(name))
		if _, dup := col[name]; dup && name != "" {
			return errs.F(errs.Invalid, "rows[1]", "The header row has the column %q twice.", name)
		}
		col[name] = i
	}
	var missing []string
	for _, name := range rosterColumns {
		if _, ok := col[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	msg := fmt.Sprintf("The header row lacks the column%s %s; it needs %s.",
		plural(len(missing)), strings.Join(missing, ", "), strings.Join(rosterColumns, ", "))
	if len(rec) == 1 && strings.ContainsAny(rec[0], ";\t") {
		msg += " The file seems to separate values with semicolons or tabs; export it with commas."
	}
	return errs.F(errs.Invalid, "rows[1]", "%s", msg)
}

func checkName(rowErr func(errs.Code, string, string, ...any), column, v string) {
	switch {
	case v == "":
		rowErr(errs.Invalid, column, "the %s is missing.", column)
	case utf8.RuneCountInString(v) > maxNameLen:
		rowErr(errs.Invalid, column, "the %s is longer than %d characters.", column, maxNameLen)
	}
}

// plainAddress reports whether s is a bare addr-spec such as a@b.org, with
// no display name, comment or angle brackets.
func plainAddress(s string) bool {
	if len(s) > maxEmailLen {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

func blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// csvError turns a CSV syntax error into a whole-file error naming the
// spreadsheet row where it starts.
func csvError(err error, rowOf func(int) int) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return errs.Wrap(err, "read roster CSV")
	}
	row := rowOf(pe.StartLine)
	what := "it is not well-formed CSV"
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		what = `a value contains a " but is not in quotes`
	case errors.Is(pe.Err, csv.ErrQuote):
		what = "a quoted value is not closed, or has text after its closing quote"
	}
	return &errs.Error{
		Code:    errs.Invalid,
		Field:   fmt.Sprintf("rows[%d]", row),
		Message: fmt.Sprintf("The roster cannot be read from row %d on: %s.", row, what),
		Err:     err,
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
