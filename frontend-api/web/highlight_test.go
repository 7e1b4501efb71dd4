package web

import (
	"reflect"
	"testing"
)

func TestSegments(t *testing.T) {
	type seg struct {
		Text string
		ID   string
	}
	tests := []struct {
		name  string
		text  string
		spans []Span
		want  []seg
	}{
		{"no spans", "hello", nil, []seg{{"hello", ""}}},
		{"empty text", "", nil, nil},
		{"middle", "one two three", []Span{{Start: 4, End: 7, ID: "a"}}, []seg{{"one ", ""}, {"two", "a"}, {" three", ""}}},
		{"whole and unsorted", "ab cd", []Span{{Start: 3, End: 5, ID: "b"}, {Start: 0, End: 2, ID: "a"}},
			[]seg{{"ab", "a"}, {" ", ""}, {"cd", "b"}}},
		{"code points, not bytes", "café au lait", []Span{{Start: 3, End: 7, ID: "a"}}, []seg{{"caf", ""}, {"é au", "a"}, {" lait", ""}}},
		{"overlap skipped", "abcdef", []Span{{Start: 0, End: 4, ID: "a"}, {Start: 2, End: 6, ID: "b"}}, []seg{{"abcd", "a"}, {"ef", ""}}},
		{"out of range and empty skipped", "abc", []Span{{Start: 1, End: 9, ID: "x"}, {Start: 2, End: 2, ID: "y"}, {Start: -1, End: 1, ID: "z"}}, []seg{{"abc", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []seg
			for _, s := range Segments(tt.text, tt.spans) {
				id := ""
				if s.Mark != nil {
					id = s.Mark.ID
				}
				got = append(got, seg{s.Text, id})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTemplatesParse renders nothing but fails on a malformed template.
func TestTemplatesParse(t *testing.T) {
	p, err := Parse()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.sets) < 5 {
		t.Fatalf("only %d page templates", len(p.sets))
	}
	if _, ct, ok := Static("htmx.min.js"); !ok || ct == "" {
		t.Fatal("htmx is not embedded")
	}
	if _, _, ok := Static("../web.go"); ok {
		t.Fatal("a path outside static/ was served")
	}
}
