package web

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/marginschool/margin/services/intake"
)

// tone is how a status looks: a colour class and a symbol, so that no
// status is told apart by colour alone (the word is always there too).
type tone struct{ class, symbol string }

var (
	toneDone    = tone{"s-done", "✓"}
	toneWait    = tone{"s-wait", "◔"}
	toneAct     = tone{"s-act", "●"}
	toneProblem = tone{"s-problem", "!"}
	toneIdle    = tone{"s-idle", "○"}
)

// statusWords are the words a person reads for Margin's raw states, by
// kind ("assignment", "feedback", ...) and then for any kind.
var statusWords = map[string]statusLook{
	"assignment:draft":     {"Draft: not published", toneIdle},
	"assignment:published": {"Published: finding graders", toneWait},
	"assignment:released":  {"Released to students", toneDone},
	"feedback:draft":       {"Being written", toneWait},
	"feedback:submitted":   {"Ready for your review", toneAct},
	"task:submitted":       {"Sent to the teacher", toneWait},
	"task:":                {"Not started", toneIdle},
	"vetting:pending":      {"Waiting for vetting", toneWait},
	"vetting:approved":     {"Vetted: can be offered work", toneDone},
	"in_grading":           {"Being graded", toneWait},
	"graded":               {"Graded: ready to release", toneAct},
	"draft":                {"Draft", toneIdle},
	"published":            {"Published", toneWait},
	"submitted":            {"Submitted", toneAct},
	"returned":             {"Returned for changes", toneProblem},
	"approved":             {"Approved", toneDone},
	"released":             {"Released", toneDone},
	"assigned":             {"In progress", toneWait},
	"withdrawn":            {"Withdrawn", toneIdle},
	"pending":              {"Pending", toneWait},
	"rejected":             {"Rejected", toneProblem},
	"open":                 {"Open", toneAct},
	"offered":              {"Offered to a grader", toneWait},
	"accepted":             {"Accepted", toneDone},
	"declined":             {"Declined", toneIdle},
	"expired":              {"Expired", toneIdle},
	"done":                 {"Done", toneDone},
	"sending":              {"Sending", toneWait},
	"sent":                 {"Sent", toneDone},
	"failed":               {"Failed", toneProblem},
	"not_sent":             {"Not sent", toneProblem},
	"not_started":          {"Not started", toneIdle},
	"in_progress":          {"In progress", toneWait},
	"complete":             {"Complete", toneDone},
	"running":              {"Running", toneWait},
	"finished":             {"Finished", toneDone},
	"stopped":              {"Stopped early", toneProblem},
	"interrupted":          {"Interrupted", toneProblem},
	"strength":             {"Strength", toneDone},
	"growth":               {"Area for growth", toneAct},
	"question":             {"Question", toneAct},
	"reflection":           {"Reflection", toneIdle},
}

// StatusWord is the human word for a raw state, read as kind when kind is
// given ("feedback", "assignment", "task", "vetting"); an unknown state is
// shown with its underscores as spaces.
func StatusWord(state string, kind ...string) string {
	return lookupStatus(state, kind).word
}

// statusLook is how a state reads and looks.
type statusLook struct {
	word string
	tone tone
}

func lookupStatus(state string, kind []string) statusLook {
	for _, k := range kind {
		if w, ok := statusWords[k+":"+state]; ok {
			return w
		}
	}
	if w, ok := statusWords[state]; ok {
		return w
	}
	w := strings.ReplaceAll(state, "_", " ")
	if w != "" {
		w = strings.ToUpper(w[:1]) + w[1:]
	}
	return statusLook{w, toneIdle}
}

// StatusBadge is a state as a badge: its colour, a symbol (hidden from
// screen readers, which read the word) and the human word.
func StatusBadge(state any, kind ...string) template.HTML {
	w := lookupStatus(fmt.Sprint(state), kind)
	return template.HTML(`<span class="badge ` + w.tone.class + `"><span aria-hidden="true">` + w.tone.symbol +
		`</span> ` + template.HTMLEscapeString(w.word) + `</span>`)
}

// roleNames are the roles as the header shows them.
var roleNames = map[string]string{"teacher": "Teacher", "grader": "Grader", "student": "Student", "admin": "Admin"}

func init() {
	funcs["status"] = StatusBadge
	funcs["statusWord"] = func(state any, kind ...string) string { return StatusWord(fmt.Sprint(state), kind...) }
	funcs["roleName"] = func(r any) string {
		if n, ok := roleNames[fmt.Sprint(r)]; ok {
			return n
		}
		return fmt.Sprint(r)
	}
	funcs["hasPrefix"] = strings.HasPrefix
	funcs["standard"] = Standard
	funcs["levelName"] = levelLabel
}

// Standard is a standard as a student or family reads it: its short
// description with the code after it, small
// ("Use correct capitalization, punctuation and spelling (L.9-10.2)"), or
// the code alone when Margin has no description of it.
func Standard(code string) template.HTML {
	short := template.HTMLEscapeString(intake.ShortCode(code))
	name := intake.StandardName(code)
	if name == "" {
		return template.HTML(`<span class="standard"><abbr title="` + template.HTMLEscapeString(code) + `">` + short + `</abbr></span>`)
	}
	return template.HTML(`<span class="standard">` + template.HTMLEscapeString(name) + ` <span class="hint">(<abbr title="` +
		template.HTMLEscapeString(code) + `">` + short + `</abbr>)</span></span>`)
}
