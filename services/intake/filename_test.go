package intake_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/marginschool/margin/services/intake"
)

func TestParseSubmissionName(t *testing.T) {
	type sn = intake.SubmissionName
	tests := []struct {
		in   string
		want sn
		ok   bool
	}{
		{"riveraavery_1001_5001_personalized-learning-primary.docx",
			sn{"riveraavery", "1001", "5001", "personalized-learning-primary.docx", ".docx", false}, true},
		{"riveraavery_LATE_1001_5001_essay.docx", sn{"riveraavery", "1001", "5001", "essay.docx", ".docx", true}, true},
		{"riveraavery_1001_5001_my_essay_v2.final.pdf", sn{"riveraavery", "1001", "5001", "my_essay_v2.final.pdf", ".pdf", false}, true},
		{"riveraavery_1001_5001_LATE_essay.pdf", sn{"riveraavery", "1001", "5001", "LATE_essay.pdf", ".pdf", false}, true},
		{"riveraavery_1001_5001_1234_5678.txt", sn{"riveraavery", "1001", "5001", "1234_5678.txt", ".txt", false}, true},
		{"riveraavery_1001_5001.docx", sn{"riveraavery", "1001", "5001", "", ".docx", false}, true},
		{"riveraavery_LATE_1001_5001.ODT", sn{"riveraavery", "1001", "5001", "", ".ODT", true}, true},
		{"riveraavery_1001_5001", sn{"riveraavery", "1001", "5001", "", "", false}, true},
		{"riveraavery_1001_5001_README", sn{"riveraavery", "1001", "5001", "README", "", false}, true},
		{"riveraavery_1001_5001_.docx", sn{"riveraavery", "1001", "5001", ".docx", ".docx", false}, true},
		{"class-a/week 3/riveraavery_1001_5001_essay.docx", sn{"riveraavery", "1001", "5001", "essay.docx", ".docx", false}, true},
		{`class-a\riveraavery_1001_5001_essay.docx`, sn{"riveraavery", "1001", "5001", "essay.docx", ".docx", false}, true},
		{"o2brien3pat_1001_5001_essay.docx", sn{"o2brien3pat", "1001", "5001", "essay.docx", ".docx", false}, true},
		{"müllerzoé_1001_5001_résumé.docx", sn{"müllerzoé", "1001", "5001", "résumé.docx", ".docx", false}, true},
		{"mu\u0308llerzoe\u0301_1001_5001_re\u0301sume\u0301.docx", // NFD, as macOS writes it
			sn{"müllerzoé", "1001", "5001", "résumé.docx", ".docx", false}, true},
		{"nguyễnvăn_1001_5001_bài.docx", sn{"nguyễnvăn", "1001", "5001", "bài.docx", ".docx", false}, true},
		{"ivanovаnna_1001_5001_эссе.docx", sn{"ivanovаnna", "1001", "5001", "эссе.docx", ".docx", false}, true},
		{"riveraavery_1001_5001_essay (1).docx", sn{"riveraavery", "1001", "5001", "essay (1).docx", ".docx", false}, true},

		// Never a guess.
		{"", sn{}, false},
		{"essay.docx", sn{}, false},
		{"riveraavery.docx", sn{}, false},
		{"riveraavery_essay.docx", sn{}, false},
		{"riveraavery_1001.docx", sn{}, false},
		{"riveraavery_1001_essay.docx", sn{}, false},
		{"riveraavery_1001_5001essay.docx", sn{}, false},
		{"riveraavery_1001_5001.tar.gz", sn{}, false},
		{"riveraavery_1001_5001.", sn{}, false},
		{"riveraavery_1001_5001_", sn{}, false},
		{"riveraavery_1001_5001_..", sn{}, false},
		{"riveraavery_1001_5001__", sn{"riveraavery", "1001", "5001", "_", "", false}, true},
		{"RiveraAvery_1001_5001_essay.docx", sn{}, false},
		{"LATE_1001_5001_essay.docx", sn{}, false},
		{"late_1001_5001_essay.docx", sn{"late", "1001", "5001", "essay.docx", ".docx", false}, true},
		{"_1001_5001_essay.docx", sn{}, false},
		{"1234_1001_5001_essay.docx", sn{}, false},
		{"rivera-avery_1001_5001_essay.docx", sn{}, false},
		{"rivera avery_1001_5001_essay.docx", sn{}, false},
		{"riveraavery_LATE_LATE_1001_5001_essay.docx", sn{}, false},
		{"riveraavery_late_1001_5001_essay.docx", sn{}, false},
		{"riveraavery__1001_5001_essay.docx", sn{}, false},
		{"riveraavery_1001__5001_essay.docx", sn{}, false},
		{"riveraavery_-1001_5001_essay.docx", sn{}, false},
		{"riveraavery_１００１_5001_essay.docx", sn{}, false}, // fullwidth digits
		{"riveraavery_123456789012345678901_5001_essay.docx", sn{}, false},
		{"riveraavery_1001_5001_essay\n.docx", sn{}, false},
		{"riveraavery_1001_5001_essay\xff.docx", sn{}, false},
		{"riveraavery_1001_5001_essay.docx/", sn{}, false},
		{"riveraavery_1001_5001_" + strings.Repeat("a", 1024) + ".docx", sn{}, false},
	}
	for _, tt := range tests {
		got, ok := intake.ParseSubmissionName(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseSubmissionName(%q)\n = %+v, %v\nwant %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok {
			checkParsedName(t, tt.in, got)
		}
	}
}

func TestParseSubmissionNameFixtures(t *testing.T) {
	dir := os.Getenv("MARGIN_FIXTURES")
	if dir == "" {
		dir = "../../testdata" // a copy of ../shared/fixtures
	}
	names, err := filepath.Glob(filepath.Join(dir, "class-a", "submissions", "*"))
	if err != nil || len(names) != 5 {
		t.Fatalf("fixture submissions: %v, %d files", err, len(names))
	}
	for _, name := range names {
		n, ok := intake.ParseSubmissionName(name)
		if !ok || len(n.StudentID) != 4 || !strings.HasPrefix(n.StudentID, "100") || n.Original == "" || n.Late {
			t.Errorf("%s: %+v, %v", name, n, ok)
		}
	}
}

// checkParsedName checks that a parsed name is consistent with its input.
func checkParsedName(t *testing.T, in string, n intake.SubmissionName) {
	t.Helper()
	base := in[strings.LastIndexAny(in, `/\`)+1:]
	if got, want := n.String(), norm.NFC.String(base); got != want {
		t.Fatalf("ParseSubmissionName(%q).String() = %q, want %q", in, got, want)
	}
	if !strings.Contains(in, "_"+n.StudentID+"_") || n.StudentID == "" || strings.Trim(n.StudentID, "0123456789") != "" {
		t.Fatalf("ParseSubmissionName(%q): student ID %q", in, n.StudentID)
	}
	if n.Number == "" || strings.Trim(n.Number, "0123456789") != "" {
		t.Fatalf("ParseSubmissionName(%q): number %q", in, n.Number)
	}
	if n.Slug == "" || strings.ContainsAny(n.Slug, "_./\\") || n.Slug != strings.ToLower(n.Slug) {
		t.Fatalf("ParseSubmissionName(%q): slug %q", in, n.Slug)
	}
	if strings.ContainsAny(n.Original, `/\`) || !strings.HasSuffix(n.String(), n.Original) || !strings.HasSuffix(n.String(), n.Ext) {
		t.Fatalf("ParseSubmissionName(%q): original %q, ext %q", in, n.Original, n.Ext)
	}
	if n.Late != strings.HasPrefix(n.String(), n.Slug+"_LATE_") {
		t.Fatalf("ParseSubmissionName(%q): late %v", in, n.Late)
	}
	again, ok := intake.ParseSubmissionName(n.String())
	if !ok || again != n {
		t.Fatalf("ParseSubmissionName(%q) = %+v, but its String %q parses to %+v, %v", in, n, n.String(), again, ok)
	}
}

func FuzzParseSubmissionName(f *testing.F) {
	for _, s := range []string{
		"riveraavery_1001_5001_personalized-learning-primary.docx",
		"riveraavery_LATE_1001_5001_essay_v2.docx",
		"riveraavery_1001_5001.docx",
		"riveraavery_1001_5001",
		"dir/sub\\müllerzoé_1_2_x",
		"mu\u0308llerzoe\u0301_1001_5001_re\u0301sume\u0301.docx",
		"a_1_2_\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, ok := intake.ParseSubmissionName(in)
		if !ok {
			if n != (intake.SubmissionName{}) {
				t.Fatalf("ParseSubmissionName(%q) = %+v with false", in, n)
			}
			return
		}
		if base := in[strings.LastIndexAny(in, `/\`)+1:]; !utf8.ValidString(base) {
			t.Fatalf("ParseSubmissionName(%q) accepted invalid UTF-8", in)
		}
		checkParsedName(t, in, n)
	})
}
