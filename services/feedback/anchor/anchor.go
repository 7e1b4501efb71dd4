// Package anchor ties a grader's quotes to the student's own words.
//
// A quote is stored as a W3C Web Annotation target holding two selectors:
// a TextQuoteSelector (the exact words plus a little context on either side,
// as Hypothesis does) and a TextPositionSelector (start and end offsets).
// Both refer to the submission's stored text: plain text extracted from the
// student's file, NFC-normalised, with paragraphs separated by "\n\n".
//
// Offsets count Unicode code points, as the W3C model says; not bytes and
// not UTF-16 units (the browser converts). Doc converts between code points
// and Go's byte offsets in constant time.
//
// Doc.Resolve checks what the browser sent and, when it is slightly off,
// repairs it: the quote is searched for again with whitespace runs, quote
// marks and dashes treated as equal, and the prefix and suffix pick among
// repeats. Whatever it returns is taken from the stored text, so a saved
// quote always holds the student's real characters.
package anchor

import (
	"bytes"
	"encoding/json"

	"github.com/marginschool/margin/pkg/errs"
)

// The W3C type names of the two selectors.
const (
	quoteType    = "TextQuoteSelector"
	positionType = "TextPositionSelector"
)

// TextQuoteSelector names a passage by its words (W3C Web Annotation
// §4.2.4). Exact is the passage; Prefix and Suffix are the text just before
// and after it, used to tell repeats apart.
type TextQuoteSelector struct {
	Type   string `json:"type"` // "TextQuoteSelector"
	Exact  string `json:"exact"`
	Prefix string `json:"prefix,omitempty"`
	Suffix string `json:"suffix,omitempty"`
}

// TextPositionSelector names a passage by its offsets (W3C Web Annotation
// §4.2.5): the code points [Start, End) of the stored text.
type TextPositionSelector struct {
	Type  string `json:"type"` // "TextPositionSelector"
	Start int    `json:"start"`
	End   int    `json:"end"`
}

// Target is one quote of the student's text: both selectors for the same
// passage.
//
// Its JSON is the W3C shape, {"selector": [quote, position]}. Decoding also
// takes a single selector object instead of an array, in either order, and
// skips selector types it does not know (such as a RangeSelector a browser
// adds), so a missing selector decodes as its zero value and Resolve then
// reports what is wrong. Two selectors of the same type are an errs.Invalid.
type Target struct {
	Quote    TextQuoteSelector
	Position TextPositionSelector
}

// MarshalJSON writes the W3C shape, filling in the selectors' type names.
func (t Target) MarshalJSON() ([]byte, error) {
	q, p := t.Quote, t.Position
	q.Type, p.Type = quoteType, positionType
	return json.Marshal(struct {
		Selector [2]any `json:"selector"`
	}{[2]any{q, p}})
}

// UnmarshalJSON reads the W3C shape; see Target.
func (t *Target) UnmarshalJSON(b []byte) error {
	var w struct {
		Selector json.RawMessage `json:"selector"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	var raws []json.RawMessage
	switch s := bytes.TrimSpace(w.Selector); {
	case len(s) == 0 || string(s) == "null":
	case s[0] == '[':
		if err := json.Unmarshal(s, &raws); err != nil {
			return err
		}
	default:
		raws = []json.RawMessage{s}
	}
	var out Target
	var seenQ, seenP bool
	for _, r := range raws {
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(r, &head); err != nil {
			return err
		}
		var err error
		switch head.Type {
		case quoteType:
			if seenQ {
				return errs.E(errs.Invalid, "The quote has two TextQuoteSelectors.")
			}
			seenQ, err = true, json.Unmarshal(r, &out.Quote)
		case positionType:
			if seenP {
				return errs.E(errs.Invalid, "The quote has two TextPositionSelectors.")
			}
			seenP, err = true, json.Unmarshal(r, &out.Position)
		}
		if err != nil {
			return err
		}
	}
	*t = out
	return nil
}

// Outcome says how Resolve anchored a quote.
type Outcome uint8

// The outcomes of a successful Resolve.
const (
	// Exact: the offsets held the exact text (up to Unicode canonical
	// equivalence) and the prefix and suffix agreed, or no other occurrence
	// fit them better.
	Exact Outcome = iota + 1
	// Repaired: the quote was found elsewhere or written differently
	// (whitespace, quote marks, dashes), and the returned target is corrected.
	Repaired
)

// String returns "exact" or "repaired".
func (o Outcome) String() string {
	switch o {
	case Exact:
		return "exact"
	case Repaired:
		return "repaired"
	}
	return "unknown"
}
