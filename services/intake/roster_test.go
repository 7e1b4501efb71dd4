package intake_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/intake"
)

func TestParseRosterFixture(t *testing.T) {
	rows, rowErrs, err := intake.ParseRoster(bytes.NewReader(fixture(t, "roster.csv")))
	if err != nil || rowErrs != nil {
		t.Fatalf("err %v, row errors %v", err, rowErrs)
	}
	want := []intake.RosterRow{
		{2, "1001", "Avery", "Rivera", "avery.rivera@students.example.org"},
		{3, "1002", "Jordan", "Okafor", "jordan.okafor@students.example.org"},
		{4, "1003", "Sam", "Lindqvist", "sam.lindqvist@students.example.org"},
		{5, "1004", "Priya", "Natarajan", "priya.natarajan@students.example.org"},
		{6, "1005", "Mateo", "Alvarez", "mateo.alvarez@students.example.org"},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("rows\ngot  %+v\nwant %+v", rows, want)
	}
}

// rowErr is the part of a row error the tests pin down.
type rowErr struct {
	code  errs.Code
	field string
}

func TestParseRoster(t *testing.T) {
	const header = "student_id,given_name,family_name,email\n"
	avery := intake.RosterRow{Row: 2, StudentID: "1001", GivenName: "Avery", FamilyName: "Rivera", Email: "avery@example.org"}
	at := func(r intake.RosterRow, row int) intake.RosterRow { r.Row = row; return r }
	tests := []struct {
		name    string
		in      string
		rows    []intake.RosterRow
		rowErrs []rowErr
	}{
		{"plain", header + "1001,Avery,Rivera,avery@example.org\n", []intake.RosterRow{avery}, nil},
		{"no final newline", header + "1001,Avery,Rivera,avery@example.org", []intake.RosterRow{avery}, nil},
		{"reordered, spaced, capitalised header with an extra column",
			" Email ,Section,FAMILY_NAME,Given_Name,Student_ID\navery@example.org,B,Rivera,Avery,1001\n",
			[]intake.RosterRow{avery}, nil},
		{"BOM and CRLF", "\uFEFF" + strings.ReplaceAll(header+"1001,Avery,Rivera,avery@example.org\n", "\n", "\r\n"),
			[]intake.RosterRow{avery}, nil},
		{"values trimmed, email lowercased", header + " 1001 ,  Avery ,Rivera\t, Avery@Example.ORG \n", []intake.RosterRow{avery}, nil},
		{"names normalised to NFC", header + "1001,Zoe\u0301,Nu\u0301n\u0303ez,\n",
			[]intake.RosterRow{{Row: 2, StudentID: "1001", GivenName: "Zoé", FamilyName: "Núñez"}}, nil},
		{"email optional", header + "1001,Avery,Rivera,\n",
			[]intake.RosterRow{{Row: 2, StudentID: "1001", GivenName: "Avery", FamilyName: "Rivera"}}, nil},
		{"blank lines and empty rows skipped but counted", "\n" + header + "\n,,,\n1001,Avery,Rivera,avery@example.org\n \n",
			[]intake.RosterRow{at(avery, 5)}, nil},
		{"trailing empty cells tolerated", header + "1001,Avery,Rivera,avery@example.org,,\n", []intake.RosterRow{avery}, nil},
		{"quoted values, with a comma and a line break", header +
			"\"1002\",\"Okafor, Jr.\",\"Jordan\nJames\",\n1001,Avery,Rivera,avery@example.org\n",
			[]intake.RosterRow{
				{Row: 2, StudentID: "1002", GivenName: "Okafor, Jr.", FamilyName: "Jordan\nJames"},
				at(avery, 3), // a spreadsheet shows the multi-line value in one row
			}, nil},
		{"bad rows mixed with good ones", header +
			"1001,Avery,Rivera,avery@example.org\n" + // 2
			",Jordan,Okafor,jordan@example.org\n" + // 3
			"1003,Sam,Lindqvist,sam at example.org\n" + // 4
			"1001,Avery,Rivera,avery2@example.org\n" + // 5
			"1004,,,\n" + // 6
			"1005,Mateo,Alvarez\n" + // 7
			"1006,Ana,Silva,ana@example.org,extra\n" + // 8
			"1007,Li,Wei,Li Wei <li@example.org>\n" + // 9
			"10 08,Kim,Park,kim@example.org\n" + // 10
			"1009,Noor,Haddad,noor@example.org\n", // 11
			[]intake.RosterRow{avery, {Row: 11, StudentID: "1009", GivenName: "Noor", FamilyName: "Haddad", Email: "noor@example.org"}},
			[]rowErr{
				{errs.Invalid, "rows[3].student_id"},
				{errs.InvalidEmail, "rows[4].email"},
				{errs.Invalid, "rows[5].student_id"},
				{errs.Invalid, "rows[6].given_name"},
				{errs.Invalid, "rows[6].family_name"},
				{errs.Invalid, "rows[7]"},
				{errs.Invalid, "rows[8]"},
				{errs.InvalidEmail, "rows[9].email"},
				{errs.Invalid, "rows[10].student_id"},
			}},
		{"only bad rows", header + ",Avery,Rivera,\n", nil, []rowErr{{errs.Invalid, "rows[2].student_id"}}},
		{"overlong values", header + strings.Repeat("9", 65) + "," + strings.Repeat("a", 101) + ",Rivera,\n", nil,
			[]rowErr{{errs.Invalid, "rows[2].student_id"}, {errs.Invalid, "rows[2].given_name"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, rowErrs, err := intake.ParseRoster(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("whole-file error: %v", err)
			}
			if !slices.Equal(rows, tt.rows) {
				t.Errorf("rows\ngot  %+v\nwant %+v", rows, tt.rows)
			}
			var got []rowErr
			for _, e := range rowErrs {
				got = append(got, rowErr{e.Code, e.Field})
				row := strings.TrimPrefix(strings.SplitN(e.Field, "]", 2)[0], "rows[")
				if !strings.HasPrefix(e.Message, "Row "+row+": ") {
					t.Errorf("message %q does not name row %s", e.Message, row)
				}
			}
			if !slices.Equal(got, tt.rowErrs) {
				t.Errorf("row errors\ngot  %v\nwant %v\n%v", got, tt.rowErrs, rowErrs)
			}
		})
	}
}

func TestParseRosterWholeFileErrors(t *testing.T) {
	const header = "student_id,given_name,family_name,email\n"
	tests := []struct {
		name  string
		in    string
		code  errs.Code
		field string
	}{
		{"empty", "", errs.Invalid, ""},
		{"only blank lines", "\n\r\n,,\n", errs.Invalid, ""},
		{"header only", header, errs.Invalid, ""},
		{"missing column", "student_id,given_name,email\n1001,Avery,a@b.org\n", errs.Invalid, "rows[1]"},
		{"no header at all", "1001,Avery,Rivera,avery@example.org\n", errs.Invalid, "rows[1]"},
		{"semicolons", "student_id;given_name;family_name;email\n1001;Avery;Rivera;a@b.org\n", errs.Invalid, "rows[1]"},
		{"repeated column", "student_id,given_name,family_name,email,Email\n", errs.Invalid, "rows[1]"},
		{"unclosed quote", header + "1001,Avery,Rivera,a@b.org\n1002,\"Jordan,Okafor,j@b.org\n", errs.Invalid, "rows[3]"},
		{"bare quote", header + "1001,Av\"ery,Rivera,a@b.org\n", errs.Invalid, "rows[2]"},
		{"a spreadsheet", "PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", errs.UnsupportedType, ""},
		{"Latin-1", header + "1001,Jos\xe9,Garc\xeda,\n", errs.UnsupportedType, ""},
		{"UTF-16", "\xff\xfes\x00t\x00", errs.UnsupportedType, ""},
		{"too large", header + strings.Repeat("1001,Avery,Rivera,avery@example.org\n", intake.MaxRosterBytes/30), errs.TooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, rowErrs, err := intake.ParseRoster(strings.NewReader(tt.in))
			if rows != nil || rowErrs != nil {
				t.Errorf("rows %v and row errors %v alongside a whole-file error", rows, rowErrs)
			}
			var e *errs.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *errs.Error", err)
			}
			if e.Code != tt.code || e.Field != tt.field || e.Message == "" {
				t.Errorf("got %q %q %q, want code %q field %q", e.Code, e.Field, e.Message, tt.code, tt.field)
			}
		})
	}

	_, _, err := intake.ParseRoster(iotest.ErrReader(errors.New("disk on fire")))
	if !errs.Is(err, errs.Internal) {
		t.Errorf("read failure: %v", err)
	}
}
