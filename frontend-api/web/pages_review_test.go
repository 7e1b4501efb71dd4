package web

import (
	"strings"
	"testing"

	"github.com/marginschool/margin/services/feedback"
)

// TestEditFormContent: the edit form applies the teacher's changes to the
// stored feedback (levels, comments, quote comments, removals, glows and
// focus notes) and names every blank or unknown field.
func TestEditFormContent(t *testing.T) {
	scale := []levelOption{{Key: "developing"}, {Key: "proficient"}}
	stored := feedback.Content{
		Levels:     map[string]string{"thesis": "developing"},
		Comments:   map[string]string{"thesis": "Good start."},
		Quotes:     []feedback.Quote{{ID: "q1", Comment: "Nice."}, {ID: "q2", Comment: "Cite this."}},
		Glows:      []feedback.Point{{Criterion: "thesis", Text: "Clear claim."}},
		FocusNotes: []feedback.FocusNote{{Index: 0, Note: "Answered."}},
	}
	form := func() editForm {
		return editForm{
			Criteria: []editCriterion{{Key: "thesis", Title: "Thesis", Level: "proficient", Comment: "Sharper now.", Levels: scale}},
			Quotes:   []editQuote{{ID: "q1", Comment: "Very nice."}, {ID: "q2", Comment: "Cite this."}},
			Glows:    []editPoint{{Criterion: "thesis", Text: "A clear claim."}},
			Focus:    []editFocus{{Index: 0, Note: "Answered well."}},
		}
	}
	tests := []struct {
		name   string
		change func(*editForm)
		fields []string
		check  func(t *testing.T, c feedback.Content)
	}{
		{"every change applied", func(*editForm) {}, nil, func(t *testing.T, c feedback.Content) {
			if c.Levels["thesis"] != "proficient" || c.Comments["thesis"] != "Sharper now." || c.Quotes[0].Comment != "Very nice." ||
				c.Glows[0].Text != "A clear claim." || c.FocusNotes[0].Note != "Answered well." || len(c.Quotes) != 2 {
				t.Fatalf("content %+v", c)
			}
		}},
		{"a quote removed", func(f *editForm) { f.Quotes[1].Remove = true }, nil, func(t *testing.T, c feedback.Content) {
			if len(c.Quotes) != 1 || c.Quotes[0].ID != "q1" {
				t.Fatalf("quotes %+v", c.Quotes)
			}
		}},
		{"blank level and comment", func(f *editForm) { f.Criteria[0].Level, f.Criteria[0].Comment = "", " " }, []string{"levels.thesis", "comments.thesis"}, nil},
		{"unknown level", func(f *editForm) { f.Criteria[0].Level = "stellar" }, []string{"levels.thesis"}, nil},
		{"blank quote comment", func(f *editForm) { f.Quotes[0].Comment = "" }, []string{"quotes.q1"}, nil},
		{"blank glow and focus note", func(f *editForm) { f.Glows[0].Text, f.Focus[0].Note = "", "" }, []string{"glows[0]", "focus_notes[0]"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := form()
			tt.change(&f)
			c, err := f.content(stored)
			if got := errFields(t, err); strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("fields with mistakes %v, want %v", got, tt.fields)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
			if stored.Levels["thesis"] != "developing" || stored.Quotes[0].Comment != "Nice." || stored.Glows[0].Text != "Clear claim." {
				t.Fatal("the stored content was changed in place")
			}
		})
	}
}
