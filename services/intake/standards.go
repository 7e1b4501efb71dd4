package intake

import "strings"

// standardNames are short descriptions of the standards Margin's rubrics
// cite, for students and families who do not read codes: the Common Core
// writing and language standards for grades 9–10, in plain words.
var standardNames = map[string]string{
	"CCSS.ELA-LITERACY.W.9-10.1":   "Write arguments that support claims with reasoning and evidence",
	"CCSS.ELA-LITERACY.W.9-10.1.A": "State a precise claim and organize the reasons and evidence",
	"CCSS.ELA-LITERACY.W.9-10.1.B": "Develop claims and counterclaims fairly, with evidence",
	"CCSS.ELA-LITERACY.W.9-10.1.C": "Link the claims, reasons and evidence with clear transitions",
	"CCSS.ELA-LITERACY.W.9-10.1.D": "Keep a formal style and an objective tone",
	"CCSS.ELA-LITERACY.W.9-10.1.E": "End with a conclusion that follows from the argument",
	"CCSS.ELA-LITERACY.W.9-10.2":   "Write to explain ideas clearly and accurately",
	"CCSS.ELA-LITERACY.W.9-10.4":   "Write clearly, in a way that suits the task and the reader",
	"CCSS.ELA-LITERACY.W.9-10.8":   "Gather information from good sources and cite them",
	"CCSS.ELA-LITERACY.W.9-10.9":   "Draw evidence from texts to support analysis",
	"CCSS.ELA-LITERACY.L.9-10.1":   "Use correct grammar and usage",
	"CCSS.ELA-LITERACY.L.9-10.2":   "Use correct capitalization, punctuation and spelling",
	"CCSS.ELA-LITERACY.L.9-10.3":   "Make effective choices of language and style",
}

// StandardName is a short description of a standard's code, as a student
// or a family reads it ("Use correct capitalization, punctuation and
// spelling" for CCSS.ELA-LITERACY.L.9-10.2), or "" for a code Margin does
// not know. Case and surrounding space do not matter.
func StandardName(code string) string {
	return standardNames[strings.ToUpper(strings.TrimSpace(code))]
}

// ShortCode is a standard's code without the framework's prefix
// ("W.9-10.1.A"), as a page prints it after the description.
func ShortCode(code string) string {
	code = strings.TrimSpace(code)
	if i := strings.LastIndex(strings.ToUpper(code), "LITERACY."); i >= 0 {
		return code[i+len("LITERACY."):]
	}
	return code
}
