package web

import "sort"

// Span is a highlighted passage of a text: code-point offsets [Start, End),
// the comment it links to, and its kind ("strength" or "growth").
type Span struct {
	Start, End int
	ID         string
	Kind       string
	Label      string // what a screen reader announces, e.g. the criterion
}

// Segment is a run of text, highlighted when Mark is set.
type Segment struct {
	Text string
	Mark *Span
}

// Segments cuts text into runs at the spans' edges, so a template can wrap
// the highlighted runs in <mark> while html/template escapes every run.
// Offsets count code points. A span that is empty, out of range, or
// overlaps an earlier one (by start) is left out of the text; the caller
// still lists its comment.
func Segments(text string, spans []Span) []Segment {
	runes := []rune(text)
	sorted := append([]Span(nil), spans...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Start < sorted[j].Start })
	var out []Segment
	at := 0
	for i := range sorted {
		s := sorted[i]
		if s.Start < at || s.End <= s.Start || s.End > len(runes) {
			continue
		}
		if s.Start > at {
			out = append(out, Segment{Text: string(runes[at:s.Start])})
		}
		out = append(out, Segment{Text: string(runes[s.Start:s.End]), Mark: &sorted[i]})
		at = s.End
	}
	if at < len(runes) {
		out = append(out, Segment{Text: string(runes[at:])})
	}
	return out
}
