package extract

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgreesWithPdftotext compares our PDF text with poppler's pdftotext
// on the fixture PDFs, word by word: the share of words that appear in the
// same order in both (the longest common subsequence over the longer of the
// two). It is skipped where pdftotext is not installed (Debian:
// poppler-utils). The numbers are in docs/EXTRACTION.md.
func TestAgreesWithPdftotext(t *testing.T) {
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext not installed (apt-get install poppler-utils)")
	}
	for _, name := range []string{"natarajanpriya_1004_5004_what-is-pl.pdf", "okaforjordan_1002_5002_genetic-testing-nutrition.pdf"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(fixtures, name)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Skipf("fixtures not available: %v", err)
			}
			res, err := Extract(context.Background(), bytes.NewReader(b), int64(len(b)), name)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "-enc", "UTF-8", path, "-").Output()
			if err != nil {
				t.Fatalf("pdftotext: %v", err)
			}
			theirs := normalize(strings.ReplaceAll(string(out), "\f", "\n\n"))

			ours, ref := strings.Fields(res.Text), strings.Fields(theirs)
			lcs := lcsWords(ours, ref)
			agree := float64(lcs) / float64(max(len(ours), len(ref)))
			// Rejoining words pdftotext leaves split at a line-end hyphen
			// ("re-" + "assessed") accounts for most of the rest.
			joined := strings.Fields(strings.ReplaceAll(theirs, "-\n", "-"))
			agreeJoined := float64(lcsWords(ours, joined)) / float64(max(len(ours), len(joined)))
			t.Logf("words: ours %d, pdftotext %d, in the same order %d: agreement %.4f (%.4f with line-end hyphens rejoined)",
				len(ours), len(ref), lcs, agree, agreeJoined)
			t.Logf("paragraphs: ours %d, pdftotext %d (blank-line separated); lines: ours %d, pdftotext %d",
				countParagraphs(res.Text), countParagraphs(theirs), strings.Count(res.Text, "\n")+1, strings.Count(theirs, "\n")+1)
			if odt, ok := sameEssay[name]; ok {
				// The same essay as a word-processor file: its paragraphs are
				// the author's, so they show how well we rebuilt them.
				ob, _ := os.ReadFile(filepath.Join(fixtures, odt))
				o, err := Extract(context.Background(), bytes.NewReader(ob), int64(len(ob)), odt)
				if err != nil {
					t.Fatal(err)
				}
				ow := strings.Fields(o.Text)
				t.Logf("against the ODT of the same essay: paragraphs %d; words in the same order: ours %.4f, pdftotext %.4f",
					countParagraphs(o.Text), float64(lcsWords(ours, ow))/float64(max(len(ours), len(ow))), float64(lcsWords(ref, ow))/float64(max(len(ref), len(ow))))
			}
			for _, d := range wordDiff(ours, ref, 8) {
				t.Logf("differs: %s", d)
			}
			if agree < 0.98 {
				t.Errorf("word agreement %.4f, want ≥ 0.98", agree)
			}
		})
	}
}

// sameEssay maps a fixture PDF to a fixture ODT of the same essay.
var sameEssay = map[string]string{"natarajanpriya_1004_5004_what-is-pl.pdf": "alvarezmateo_1005_5005_what-is-pl.odt"}

func countParagraphs(s string) int { return strings.Count(strings.TrimSpace(s), "\n\n") + 1 }

// lcsWords is the length of the longest common subsequence of a and b.
func lcsWords(a, b []string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for i := range a {
		for j := range b {
			switch {
			case a[i] == b[j]:
				cur[j+1] = prev[j] + 1
			case prev[j+1] >= cur[j]:
				cur[j+1] = prev[j+1]
			default:
				cur[j+1] = cur[j]
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// wordDiff lists up to n places where a and b differ, as "ours ≠ theirs",
// by a plain LCS backtrack.
func wordDiff(a, b []string, n int) []string {
	m := make([][]int32, len(a)+1)
	for i := range m {
		m[i] = make([]int32, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				m[i][j] = m[i+1][j+1] + 1
			} else {
				m[i][j] = max(m[i+1][j], m[i][j+1])
			}
		}
	}
	var out []string
	var da, db []string
	flush := func() {
		if (len(da) > 0 || len(db) > 0) && len(out) < n {
			out = append(out, strings.Join(da, " ")+" ≠ "+strings.Join(db, " "))
		}
		da, db = nil, nil
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			flush()
			i, j = i+1, j+1
		case j == len(b) || i < len(a) && m[i+1][j] >= m[i][j+1]:
			da = append(da, a[i])
			i++
		default:
			db = append(db, b[j])
			j++
		}
	}
	flush()
	return out
}
