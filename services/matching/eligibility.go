package matching

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// normSubject is a subject as matching compares it.
func normSubject(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// publicDomains are webmail domains that say nothing about where someone
// works, so sharing one is no conflict of interest.
var publicDomains = map[string]bool{
	"gmail.com": true, "googlemail.com": true, "outlook.com": true, "hotmail.com": true, "live.com": true,
	"yahoo.com": true, "icloud.com": true, "me.com": true, "aol.com": true, "proton.me": true,
	"protonmail.com": true, "gmx.com": true, "mail.com": true, "fastmail.com": true,
}

// reason is why a grader cannot take a batch; the order of the constants is
// the order the rules are checked in.
type reason int

const (
	eligible reason = iota
	notVetted
	wrongSubject
	wrongBand
	affiliated
	sameDomain
	blockedByTeacher
	excluded
	notCalibrated
	unavailable
	noCapacity
)

// reasonText describes n graders failing for r, e.g. "2 outside the grade
// band".
func reasonText(r reason, n int) string {
	return fmt.Sprintf("%d %s", n, reasonPhrases[r])
}

// reasonPhrases say why graders fail a rule, e.g. "outside the grade band".
var reasonPhrases = map[reason]string{
	notVetted:        "not vetted yet",
	wrongSubject:     "not grading this subject",
	wrongBand:        "outside the grade band",
	affiliated:       "with a declared tie to the school",
	sameDomain:       "sharing an email domain with the school's teacher",
	blockedByTeacher: "blocked by the teacher",
	excluded:         "already declined it or first-read it",
	notCalibrated:    "not calibrated on this assignment's anchor papers",
	unavailable:      "not available before the due date",
	noCapacity:       "without free capacity for it",
}

// school is what conflict checks need to know about a batch's school.
type school struct {
	ID            string
	Name          string
	TeacherDomain string // the email domain of the assignment's teacher
}

// candidate is a grader as a round sees them.
type candidate struct {
	profileDoc
	Free       int  // capacity minus held work and open offers
	Calibrated bool // passed calibration on the batch's assignment (set per batch)
}

// check returns the first rule (in reason order) that keeps g from b, or
// eligible. prefs are the teacher's; anchored says the assignment has anchor
// papers; now is the round's time.
func check(b Batch, g candidate, sch school, prefs Prefs, anchored bool, now time.Time) reason {
	switch {
	case g.Status != Approved:
		return notVetted
	case !slices.Contains(g.Subjects, b.Subject):
		return wrongSubject
	case !slices.ContainsFunc(g.GradeBands, func(band GradeBand) bool { return band.Contains(b.GradeLevel) }):
		return wrongBand
	case slices.ContainsFunc(g.Affiliations, func(a Affiliation) bool {
		return a.School == sch.ID || strings.EqualFold(a.School, sch.Name)
	}):
		return affiliated
	case g.EmailDomain != "" && g.EmailDomain == sch.TeacherDomain && !publicDomains[g.EmailDomain]:
		return sameDomain
	case prefs.blocks(g.GraderID):
		return blockedByTeacher
	case slices.Contains(b.Exclude, g.GraderID):
		return excluded
	case anchored && !g.Calibrated:
		return notCalibrated
	case !availableBefore(g.Days, now, b.DueAt):
		return unavailable
	case g.Free < b.Size():
		return noCapacity
	}
	return eligible
}

// availableBefore reports whether one of days falls between now and due
// (both dates included).
func availableBefore(days []time.Weekday, now, due time.Time) bool {
	if due.Before(now) {
		return false
	}
	start := truncDay(now)
	for d := start; !d.After(due) && d.Before(start.AddDate(0, 0, 7)); d = d.AddDate(0, 0, 1) {
		if slices.Contains(days, d.Weekday()) {
			return true
		}
	}
	return false
}

func truncDay(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// explainNone says why no grader could take b, from the count of graders
// failing each rule.
func explainNone(b Batch, failed map[reason]int) string {
	what := fmt.Sprintf("grade %d %s", b.GradeLevel, b.Subject)
	if b.GradeLevel == 0 {
		what = "kindergarten " + b.Subject
	}
	var parts []string
	for r := notVetted; r <= noCapacity; r++ {
		if n := failed[r]; n > 0 {
			parts = append(parts, reasonText(r, n))
		}
	}
	fit := 0 // vetted graders of this subject and grade
	for r, n := range failed {
		if r > wrongBand {
			fit += n
		}
	}
	head := "No eligible grader for " + what
	if fit == 0 {
		head = "No vetted grader for " + what
	}
	if len(parts) == 0 {
		return head + ": no graders have signed up yet."
	}
	return head + ": " + strings.Join(parts, ", ") + "."
}
