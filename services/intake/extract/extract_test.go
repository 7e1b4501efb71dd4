package extract

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixtures = "../../../testdata/class-a/submissions"

func TestExtractFixtures(t *testing.T) {
	tests := []struct {
		file   string
		format Format
		want   []string // passages that must appear verbatim
		paras  int      // at least this many paragraphs
	}{
		{"natarajanpriya_1004_5004_what-is-pl.pdf", PDF, []string{
			"What is Personalized Learning?\n\nAccording to",
			"the teacher guides each student on an individualized journey. The what, when",
			"How this model allocates for student assessment, review and mastery?\n\nUsing",
		}, 5},
		{"okaforjordan_1002_5002_genetic-testing-nutrition.pdf", PDF, []string{
			"the drive for personalized or more precise medicine and nutrition began (Plavlidis et al, 2015).",
		}, 5},
		{"riveraavery_1001_5001_personalized-learning-primary.docx", DOCX, []string{"Implementing Personalized Learning in Primary School"}, 5},
		{"alvarezmateo_1005_5005_what-is-pl.odt", ODT, []string{"How this model allocates for student assessment, review and mastery?\n\nUsing"}, 5},
		{"lindqvistsam_1003_5003_personalized-learning.txt", TXT, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(fixtures, tt.file))
			if err != nil {
				t.Skipf("fixtures not available: %v", err)
			}
			res, err := Extract(context.Background(), bytes.NewReader(b), int64(len(b)), tt.file)
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if res.Format != tt.format {
				t.Errorf("format = %q, want %q", res.Format, tt.format)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.Text, w) {
					t.Errorf("text lacks %q", w)
				}
			}
			if n := strings.Count(res.Text, "\n\n") + 1; n < tt.paras {
				t.Errorf("%d paragraphs, want at least %d", n, tt.paras)
			}
			if res.Text != normalize(res.Text) {
				t.Error("text is not normalised")
			}
			again, _ := Extract(context.Background(), bytes.NewReader(b), int64(len(b)), tt.file)
			if again.Text != res.Text {
				t.Error("extraction is not deterministic")
			}
		})
	}
}

func TestExtractRejects(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty.txt", nil, ErrEmpty},
		{"blank.txt", []byte(" \n\t\n"), ErrNoText},
		{"latin1.txt", []byte("caf\xe9 au lait"), ErrNotUTF8},
		{"image.png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), ErrUnsupported},
		{"broken.pdf", []byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\n"), ErrCorrupt},
		{"notzip.docx", []byte("PK\x03\x04garbage"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Extract(context.Background(), bytes.NewReader(tt.data), int64(len(tt.data)), tt.name)
			if err == nil {
				t.Fatal("Extract succeeded, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestJoinLines(t *testing.T) {
	l := func(y, right float64, s string) line { return line{y: y, left: 50, right: right, text: s} }
	tests := []struct {
		name  string
		lines []line
		want  string
	}{
		{"wrapped sentence joins", []line{l(700, 540, "The cat sat on"), l(688, 300, "the mat.")}, "The cat sat on the mat."},
		{"short line ends paragraph", []line{l(700, 540, "A long first line of text here"), l(688, 200, "Short end."), l(676, 540, "Next paragraph")}, "A long first line of text here Short end.\n\nNext paragraph"},
		{"big gap ends paragraph", []line{l(700, 540, "One"), l(688, 540, "two"), l(650, 540, "Three")}, "One two\n\nThree"},
		{"hyphen kept, no space", []line{l(700, 540, "students are re-"), l(688, 540, "assessed")}, "students are re-assessed"},
		{"list item starts paragraph", []line{l(700, 540, "Tips:"), l(688, 540, "- Learn from others")}, "Tips:\n\n- Learn from others"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := joinLines(tt.lines); got != tt.want {
				t.Errorf("joinLines = %q, want %q", got, tt.want)
			}
		})
	}
}
