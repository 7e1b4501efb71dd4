package intake

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/marginschool/margin/services/intake/extract"
)

func TestPseudonymize(t *testing.T) {
	const p = "Student K7QF"
	sam := Student{GivenName: "Sam", FamilyName: "Lindqvist", Email: "sam.lindqvist@students.example.org"}
	am := Student{GivenName: "Anne-Marie", FamilyName: "Ó Briain", Email: "amob@example.org"}
	jose := Student{GivenName: "José", FamilyName: "Núñez"}
	tests := []struct {
		name string
		st   Student
		in   string
		want string
	}{
		{"full name", sam, "Sam Lindqvist wrote this.", p + " wrote this."},
		{"family given", sam, "By Lindqvist Sam.", "By " + p + "."},
		{"family, given", sam, "Lindqvist, Sam — Period 3", p + " — Period 3"},
		{"name over a line break", sam, "Sam\nLindqvist", p},
		{"each name alone", sam, "Sam said Lindqvist was right.", p + " said " + p + " was right."},
		{"email as one", sam, "Mail sam.lindqvist@students.example.org today", "Mail " + p + " today"},
		{"case-insensitive", sam, "SAM LINDQVIST and sam and lindqvist", p + " and " + p + " and " + p},
		{"word boundaries", sam, "Samuel and same, Sam's samba; Lindqvists.", "Samuel and same, " + p + "'s samba; Lindqvists."},
		{"names side by side", sam, "Sam Sam Sam", p + " " + p + " " + p},
		{"at the edges", sam, "Sam", p},
		{"digits and underscores are word characters", sam, "Sam2 sam_x", "Sam2 sam_x"},
		{"hyphenated given name whole", am, "Anne-Marie Ó Briain", p},
		{"hyphenated parts alone", am, "Anne liked Marie's idea", p + " liked " + p + "'s idea"},
		{"accented family name, any case", am, "by Ó BRIAIN and ó briain", "by " + p + " and " + p},
		{"accents", jose, "José Núñez; JOSÉ; Joséphine; NÚÑEZ", p + "; " + p + "; Joséphine; " + p},
		{"no names left: nothing changes", Student{}, "Sam Lindqvist", "Sam Lindqvist"},
		{"one-letter names left alone", Student{GivenName: "J", FamilyName: "Wu"}, "J Wu, J. and a Wu", p + ", J. and a " + p},
		{"regex metacharacters in names", Student{GivenName: "A.J.", FamilyName: "(Lee)"}, "AxJx Lee A.J. (Lee)", "AxJx Lee " + p},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Pseudonymize(tt.in, tt.st, p); got != tt.want {
				t.Errorf("Pseudonymize(%q)\ngot  %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestPseudonymizeDollarInPseudonym(t *testing.T) {
	got := Pseudonymize("Sam wrote", Student{GivenName: "Sam"}, "Student $1")
	if got != "Student $1 wrote" {
		t.Errorf("got %q", got)
	}
}

var pseudonymShape = regexp.MustCompile(`^Student [ABCDEFGHJKLMNPQRSTUVWXYZ2-9]{4}$`)

func TestCandidatePseudonym(t *testing.T) {
	a := candidatePseudonym("asg_1", "1001", 0)
	if a != candidatePseudonym("asg_1", "1001", 0) {
		t.Fatal("not stable")
	}
	if !pseudonymShape.MatchString(a) {
		t.Errorf("%q has the wrong shape", a)
	}
	if a == candidatePseudonym("asg_1", "1001", 1) {
		t.Error("the next attempt gives the same candidate")
	}
	if a == candidatePseudonym("asg_2", "1001", 0) {
		t.Error("the same student has the same pseudonym on another assignment")
	}
	// The separator keeps ("asg_1", "1001") and ("asg_11", "001") apart.
	if a == candidatePseudonym("asg_11", "001", 0) {
		t.Error("ambiguous concatenation")
	}
	// Across a big class, first candidates rarely collide (32^4 ≈ 1M).
	seen := map[string]bool{}
	for i := range 1000 {
		p := candidatePseudonym("asg_1", itoa(1000+i), 0)
		if !pseudonymShape.MatchString(p) {
			t.Fatalf("%q has the wrong shape", p)
		}
		seen[p] = true
	}
	if len(seen) < 990 {
		t.Errorf("only %d distinct pseudonyms for 1000 students", len(seen))
	}
}

func TestSimilarity(t *testing.T) {
	const essay = "Personalized learning lets every student move at their own pace, with the teacher guiding each one through goals they chose together."
	tests := []struct {
		name     string
		a, b     string
		min, max float64
	}{
		{"identical", essay, essay, 1, 1},
		{"case and punctuation ignored", essay, "PERSONALIZED learning — lets every student move at their own pace; with the teacher guiding each one through goals they chose together!!", 1, 1},
		{"unrelated", essay, "Genetic testing promises nutrition advice tailored to each body, but the evidence behind most commercial kits remains thin.", 0, 0.1},
		{"empty", "", essay, 0, 0},
		{"both empty", "", "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := similarity(sketch(tt.a), sketch(tt.b))
			if got < tt.min || got > tt.max {
				t.Errorf("similarity = %.2f, want %.2f to %.2f", got, tt.min, tt.max)
			}
		})
	}
}

// TestSimilarityFixtures pins the duplicate flag on the fixtures: the PDF
// and the ODT of the same essay are near-identical after extraction, and
// the other essays are far apart.
func TestSimilarityFixtures(t *testing.T) {
	texts := map[string]string{}
	for _, f := range fixtureFiles {
		texts[f] = extractFixture(t, f)
	}
	const pdf, odt = "natarajanpriya_1004_5004_what-is-pl.pdf", "alvarezmateo_1005_5005_what-is-pl.odt"
	for i, a := range fixtureFiles {
		for _, b := range fixtureFiles[i+1:] {
			sim := similarity(sketch(texts[a]), sketch(texts[b]))
			t.Logf("%.2f %s %s", sim, a, b)
			same := a == pdf && b == odt || a == odt && b == pdf
			if same && sim < 0.8 {
				t.Errorf("%s and %s: similarity %.2f, want ≥ 0.8", a, b, sim)
			}
			if !same && sim >= 0.3 {
				t.Errorf("%s and %s: similarity %.2f, want < 0.3", a, b, sim)
			}
		}
	}
}

// fixtureFiles are the five submissions of testdata/class-a.
var fixtureFiles = []string{
	"riveraavery_1001_5001_personalized-learning-primary.docx",
	"okaforjordan_1002_5002_genetic-testing-nutrition.pdf",
	"lindqvistsam_1003_5003_personalized-learning.txt",
	"natarajanpriya_1004_5004_what-is-pl.pdf",
	"alvarezmateo_1005_5005_what-is-pl.odt",
}

func fixtureBytes(t testing.TB, rel string) []byte {
	t.Helper()
	dir := os.Getenv("MARGIN_FIXTURES")
	if dir == "" {
		dir = "../../testdata"
	}
	b, err := os.ReadFile(filepath.Join(dir, "class-a", rel))
	if err != nil {
		t.Fatalf("fixture %s: %v (set MARGIN_FIXTURES to the fixtures directory)", rel, err)
	}
	return b
}

func extractFixture(t testing.TB, name string) string {
	t.Helper()
	b := fixtureBytes(t, "submissions/"+name)
	res, err := extract.Extract(context.Background(), bytes.NewReader(b), int64(len(b)), name)
	if err != nil {
		t.Fatalf("extract %s: %v", name, err)
	}
	return res.Text
}
