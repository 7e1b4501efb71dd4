package intake

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"testing"
	"unicode"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// TestListPaging pages through a list of 250 rows (three pages in the
// store) with several page sizes, one with a hole left where a row went,
// and checks every row comes once, in slot order, with the right total.
func TestListPaging(t *testing.T) {
	w := newWorld(t)
	seedList(t, w, 250)
	// A row gone from a middle page (its student's only version moved).
	if _, err := w.s.c(colBuckets).UpdateOne(w.ctx, bson.D{{Key: "_id", Value: pageID(w.asg.ID, pageOf(151))}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "rows.000150", Value: ""}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.c(colBuckets).UpdateOne(w.ctx, bson.D{{Key: "_id", Value: w.asg.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "pages." + itoa(pageOf(151)), Value: pageSize - 1}}}}); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{7, 37, 100, 101, 500} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			var got []int
			after, pages := "", 0
			for {
				p, err := w.s.ListSubmissions(w.ctx, w.teacher, w.asg.ID, after, limit)
				if err != nil {
					t.Fatal(err)
				}
				if p.Total != 249 || len(p.Rows) > limit {
					t.Fatalf("page after %q: total %d, %d rows", after, p.Total, len(p.Rows))
				}
				for _, r := range p.Rows {
					got = append(got, r.Slot)
				}
				if pages++; p.Next == "" || pages > 300 {
					break
				}
				after = p.Next
			}
			var want []int
			for slot := 1; slot <= 250; slot++ {
				if slot != 151 {
					want = append(want, slot)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("paged slots %v…, want 1…250 without 151 (%d of %d)", got[:min(10, len(got))], len(got), len(want))
			}
			if wantPages := (249 + limit - 1) / limit; pages != wantPages {
				t.Errorf("%d pages, want %d", pages, wantPages)
			}
		})
	}
	for _, bad := range []string{"x", "0", "-3"} {
		if _, err := w.s.ListSubmissions(w.ctx, w.teacher, w.asg.ID, bad, 10); !errs.Is(err, errs.Invalid) {
			t.Errorf("after=%q: %v, want invalid", bad, err)
		}
	}
	rows, err := w.s.Rows(w.ctx, w.asg.ID)
	if err != nil || len(rows) != 249 || rows[0].StudentID != "000000" || rows[248].StudentID != "000249" {
		t.Fatalf("Rows: %d rows, %v", len(rows), err)
	}
}

// TestIngestFillsPages: a class of 120 (seats 6 to 125, after the five of
// the fixture roster) goes onto pages of the list and of the sketches by
// seat; the head counts them; every row is on the page of its student's
// seat; and no document holds more than a page.
func TestIngestFillsPages(t *testing.T) {
	const n = 120
	w := benchWorld(t, n)
	var files []namedFile
	for i := 1; i <= n; i++ {
		files = append(files, namedFile{name: canvasName(i, 1, "essay.txt"), data: fmt.Appendf(nil, "Essay %d: %s", i, bytes.Repeat(fmt.Appendf(nil, "word%d ", i), 40))})
	}
	out := w.upload(t, namedFile{name: "class.zip", data: zipOf(t, files...)})
	for _, o := range out {
		if o.Status != StatusCreated {
			t.Fatalf("%s: %+v", o.File, o)
		}
	}
	h, err := w.s.listHead(w.ctx, w.asg.ID, true)
	want := map[int]int{}
	for seat := 6; seat <= 125; seat++ {
		want[pageOf(seat)]++
	}
	if err != nil || h.total() != n || len(h.Pages) != len(want) || len(h.Rows) != 0 {
		t.Fatalf("head %+v, %v", h, err)
	}
	for p, size := range want {
		if h.Pages[itoa(p)] != size || size > pageSize {
			t.Errorf("head counts %d rows on page %d, want %d", h.Pages[itoa(p)], p, size)
		}
		pg, err := mongostore.Get[listPage](w.ctx, w.s.c(colBuckets), pageID(w.asg.ID, p), "page")
		if err != nil || len(pg.Rows) != size {
			t.Fatalf("page %d: %d rows, %v", p, len(pg.Rows), err)
		}
		for _, r := range pg.Rows {
			st, _ := w.s.Student(w.ctx, w.class.ID, r.StudentID)
			if pageOf(r.Slot) != p || r.Slot != st.Seat {
				t.Errorf("row of %s (slot %d, seat %d) on page %d", r.StudentID, r.Slot, st.Seat, p)
			}
		}
		sk, err := mongostore.Get[sketchPage](w.ctx, w.s.c(colSketches), pageID(w.asg.ID, p), "sketches")
		if err != nil || len(sk.Sketches) != size {
			t.Fatalf("sketch page %d: %d sketches, %v", p, len(sk.Sketches), err)
		}
	}
	p, err := w.s.ListSubmissions(w.ctx, w.teacher, w.asg.ID, "", 100)
	if err != nil || len(p.Rows) != 100 || p.Total != n || p.Next != "106" || p.Rows[0].StudentID != "1" {
		t.Fatalf("first page: %d rows, total %d, next %q, %v", len(p.Rows), p.Total, p.Next, err)
	}
}

func TestDupIndex(t *testing.T) {
	a := sketch("the cat sat on the mat and looked out of the window at the rain")
	b := sketch("the cat sat on the mat and looked out of the window at the snow")
	c := sketch("an entirely different essay about personalized learning in schools today")
	d := dupIndex{threshold: 0.5, sketches: map[string][]uint32{}, pages: map[string]int{}}
	if got := d.set("a", 0, a); len(got) != 0 {
		t.Errorf("first sketch affects %v", got)
	}
	if got := d.set("c", 0, c); len(got) != 0 {
		t.Errorf("a dissimilar sketch affects %v", got)
	}
	if got := d.set("b", 1, b); !slices.Equal(got, []string{"a"}) {
		t.Errorf("a similar sketch affects %v, want [a]", got)
	}
	if of := d.of("a"); len(of) != 1 || of[0].StudentID != "b" || of[0].Similarity < 0.5 {
		t.Errorf("a's duplicates %+v", of)
	}
	if got := d.set("b", 1, b); len(got) != 0 {
		t.Errorf("the same sketch again affects %v", got)
	}
	if got := d.set("b", 1, c); !slices.Contains(got, "a") || !slices.Contains(got, "c") {
		t.Errorf("b changing to c's text affects %v, want a (lost) and c (gained)", got)
	}
	if got := d.remove("b"); !slices.Equal(got, []string{"c"}) {
		t.Errorf("removing b affects %v, want [c]", got)
	}
	if of := d.of("c"); len(of) != 0 {
		t.Errorf("c's duplicates after b left: %+v", of)
	}

	// Eight copies of one text: each row lists five; a ninth copy changes
	// only the rows whose five it enters.
	d = dupIndex{threshold: 0.8, sketches: map[string][]uint32{}, pages: map[string]int{}}
	for _, st := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		d.set(st, 0, a)
	}
	if of := d.of("b"); len(of) != maxDuplicates || of[0].StudentID != "c" || of[4].StudentID != "g" {
		t.Errorf("b's duplicates among eight copies: %+v", of)
	}
	if got := d.set("z", 0, a); len(got) != 0 {
		t.Errorf("a ninth copy that enters no row's five affects %v", got)
	}
	if got := d.set("a", 0, a); len(got) != 9 {
		t.Errorf("a copy that enters every row's five affects %v", got)
	}
}

// sketchByWords is the duplicate check's sketch as it was first written
// (every word in memory at once); sketch must give the same values, since
// sketches stored by earlier versions are compared with new ones.
func sketchByWords(text string) []uint32 {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
	if len(words) == 0 {
		return nil
	}
	out := make([]uint32, sketchSize)
	for i := range out {
		out[i] = ^uint32(0)
	}
	for i := range max(1, len(words)-shingleLen+1) {
		h := fnv.New64a()
		for _, w := range words[i:min(len(words), i+shingleLen)] {
			h.Write([]byte(w))
			h.Write([]byte{0})
		}
		x := h.Sum64()
		for k := range out {
			if v := uint32(mix(x + uint64(k)*0x9E3779B97F4A7C15)); v < out[k] {
				out[k] = v
			}
		}
	}
	return out
}

func TestSketchStreams(t *testing.T) {
	for _, text := range []string{
		"", "   ", "one", "Two words", "one two three four", "one two three four five", "one two three four five six",
		"Ünïcödé İstanbul ΣΊΣΥΦΟΣ straße — 42 apples, 7 pears; ½ of them?!",
		strings.Repeat("The cat sat on the mat, and then THE CAT sat again. ", 50),
		string(fixtureBytes(t, "submissions/lindqvistsam_1003_5003_personalized-learning.txt")),
	} {
		if got, want := sketch(text), sketchByWords(text); !slices.Equal(got, want) {
			t.Errorf("sketch(%.40q) differs from the word-by-word sketch", text)
		}
	}
}
