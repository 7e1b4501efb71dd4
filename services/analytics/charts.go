package analytics

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/color"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"

	"github.com/marginschool/margin/pkg/errs"
)

// levelColors run from light to dark so that a stacked bar reads in order
// even on a black-and-white printout, and tell the levels apart for
// colour-blind readers too: the viridis palette (yellow, green, teal, blue,
// purple).
var levelColors = []color.RGBA{
	{0xfd, 0xe7, 0x25, 0xff}, {0x5e, 0xc9, 0x62, 0xff}, {0x21, 0x91, 0x8c, 0xff},
	{0x3b, 0x52, 0x8b, 0xff}, {0x44, 0x01, 0x54, 0xff},
}

// levelColor is the colour of level i (0 the lowest) of k: spread over the
// whole palette, so that four levels are as far apart as they can be.
func levelColor(i, k int) color.Color {
	switch {
	case k == 1:
		return levelColors[len(levelColors)/2]
	case k <= len(levelColors):
		return levelColors[(i*(len(levelColors)-1)+(k-1)/2)/(k-1)]
	}
	return plotutil.Color(i)
}

// sans sets every text of p in a sans-serif face, as the pages are.
func sans(p *plot.Plot) {
	for _, t := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle, &p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		t.Font.Variant = "Sans"
	}
}

// LevelsChart draws the summary's levels per criterion as an SVG stacked
// bar chart: one bar per criterion (by title), one segment per level with
// the number of students, lowest level at the bottom, and a legend. It is
// drawn with gonum/plot in black text on white, for print.
func LevelsChart(s Summary) ([]byte, error) {
	p := plot.New()
	sans(p)
	p.Title.Text = "Levels per criterion: " + s.Title
	p.Y.Label.Text = "Students"
	p.Legend.Top = true
	names := make([]string, len(s.Criteria))
	for i, c := range s.Criteria {
		names[i] = wrapLabel(c.Title)
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.6, float64(len(names))-0.4 // half a slot each side: the end labels stay inside
	var below *plotter.BarChart
	var stack []*plotter.BarChart
	width := vg.Points(40)
	for l := range s.Scale {
		vals := make(plotter.Values, len(s.Criteria))
		for i, c := range s.Criteria {
			vals[i] = float64(c.Dist.Levels[l].Count)
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, errs.Wrap(err, "levels chart")
		}
		bars.Color = levelColor(l, len(s.Scale))
		bars.LineStyle.Width = vg.Points(0.5)
		if below != nil {
			bars.StackOn(below)
		}
		p.Add(bars)
		stack = append(stack, bars)
		below = bars
	}
	// The legend lists the top level first, as the stack reads.
	for l := len(stack) - 1; l >= 0; l-- {
		p.Legend.Add(s.Scale[l].Label, stack[l])
	}
	most := 0
	for _, c := range s.Criteria {
		most = max(most, c.Dist.N)
	}
	// Head room above the tallest bar for the legend, which sits inside the
	// plot at the top right.
	p.Y.Min, p.Y.Max = 0, float64(most)*1.4+1
	p.Y.Tick.Marker = integerTicks{top: most}
	var desc []string
	for _, c := range s.Criteria {
		parts := make([]string, len(c.Dist.Levels))
		for i, l := range c.Dist.Levels {
			parts[i] = fmt.Sprintf("%s %d", l.Label, l.Count)
		}
		desc = append(desc, c.Title+": "+strings.Join(parts, ", "))
	}
	return svgOf(p, vg.Length(160+110*len(s.Criteria))*vg.Points(1), 360, p.Title.Text, strings.Join(desc, "; ")+".")
}

// ProgressChart draws a student's progress as an SVG line chart: one line
// per strand, x the marks in order (assignment title, "v2" for a revision),
// y the level as a share of the scale (0 lowest, 1 highest).
func ProgressChart(pr Progress) ([]byte, error) {
	p := plot.New()
	sans(p)
	p.Title.Text = "Progress: " + pr.Student
	p.Y.Label.Text = "Level"
	// Head room above 1 for the legend; ticks stay on 0..1.
	p.Y.Min, p.Y.Max = 0, 1.35
	p.Y.Tick.Marker = plot.ConstantTicks(levelTicks(pr))
	p.Legend.Top = true
	p.Legend.Left = true
	// One x position per distinct (assignment, version), in time order.
	type key struct {
		asg string
		v   int
	}
	pos := map[key]int{}
	var labels []string
	for _, st := range pr.Strands {
		for _, m := range st.Marks {
			k := key{m.AssignmentID, m.Version}
			if _, ok := pos[k]; !ok {
				pos[k] = -1
			}
		}
	}
	var order []Mark
	for _, st := range pr.Strands {
		order = append(order, st.Marks...)
	}
	sortMarks(order)
	for _, m := range order {
		k := key{m.AssignmentID, m.Version}
		if pos[k] == -1 {
			pos[k] = len(labels)
			l := m.Title
			if m.Revision {
				l += fmt.Sprintf(" (v%d)", m.Version)
			}
			labels = append(labels, wrapLabel(l))
		}
	}
	if len(labels) > 0 {
		p.NominalX(labels...)
		p.X.Min, p.X.Max = -0.5, float64(len(labels))-0.5 // keep end points off the edges
	}
	for i, st := range pr.Strands {
		pts := make(plotter.XYs, len(st.Marks))
		for j, m := range st.Marks {
			pts[j] = plotter.XY{X: float64(pos[key{m.AssignmentID, m.Version}]), Y: m.Fraction}
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, errs.Wrap(err, "progress chart")
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i) // tells lines apart in black and white
		line.Width = vg.Points(1.5)
		points.Shape = plotutil.Shape(i)
		points.Color = plotutil.Color(i)
		p.Add(line, points)
		p.Legend.Add(st.Title, line, points)
	}
	var desc []string
	for _, st := range pr.Strands {
		parts := make([]string, len(st.Marks))
		for i, m := range st.Marks {
			parts[i] = m.Label
		}
		desc = append(desc, st.Title+": "+strings.Join(parts, " → "))
	}
	return svgOf(p, vg.Length(200+110*max(len(labels), 2))*vg.Points(1), 360, p.Title.Text, strings.Join(desc, "; ")+".")
}

// levelTicks label the progress chart's axis with level names: the
// scale's labels when every mark is on one scale of the same size (one
// rubric's), else "lowest" and "highest" at the ends of the shared axis.
func levelTicks(pr Progress) []plot.Tick {
	var labels []string
	same := true
	for _, st := range pr.Strands {
		for _, m := range st.Marks {
			if labels == nil {
				labels = make([]string, m.Levels)
			}
			switch {
			case m.Levels != len(labels) || m.Index < 0 || m.Index >= len(labels):
				same = false
			case labels[m.Index] == "":
				labels[m.Index] = m.Label
			case labels[m.Index] != m.Label:
				same = false
			}
		}
	}
	if !same || len(labels) < 2 {
		return []plot.Tick{{Value: 0, Label: "lowest level"}, {Value: 0.5, Label: ""}, {Value: 1, Label: "highest level"}}
	}
	out := make([]plot.Tick, len(labels))
	for i, l := range labels {
		out[i] = plot.Tick{Value: float64(i) / float64(len(labels)-1), Label: l}
	}
	return out
}

// labelChars is how many characters a line of an axis label holds in its
// slot (110 points at 10 points a character's height) before it wraps.
const labelChars = 18

// wrapLabel breaks a label into lines of at most labelChars characters at
// spaces, so that neighbouring labels never run into each other; a word
// longer than a line is cut with an ellipsis. At most three lines.
func wrapLabel(s string) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if r := []rune(w); len(r) > labelChars {
			w = string(r[:labelChars-1]) + "…"
		}
		switch {
		case line == "":
			line = w
		case len([]rune(line))+1+len([]rune(w)) <= labelChars:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	if len(lines) > 3 {
		lines = lines[:3]
		r := []rune(lines[2])
		lines[2] = string(r[:min(len(r), labelChars-1)]) + "…"
	}
	return strings.Join(lines, "\n")
}

// pageFonts is the pages' font stack (margin.css), which a chart's text
// takes in place of gonum/plot's font; Liberation Sans, whose metrics laid
// the chart out, stays in the stack.
const pageFonts = `font-family:system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', 'Liberation Sans', sans-serif`

// fontScale shrinks the chart's text from the size it was laid out at:
// the page's fonts may be wider than Liberation Sans (DejaVu Sans is about
// a tenth wider), and text a little smaller than its room never runs into
// its neighbour or off the edge.
const fontScale = 0.9

var fontSize = regexp.MustCompile(`font-size:([0-9.]+)px`)

func sortMarks(ms []Mark) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && later(ms[j-1], ms[j]); j-- {
			ms[j-1], ms[j] = ms[j], ms[j-1]
		}
	}
}

// svgOf renders p as SVG and adds an accessible title and a description
// of the data (the numbers in words, for screen readers and for checking).
func svgOf(p *plot.Plot, w, h vg.Length, title, desc string) ([]byte, error) {
	wt, err := p.WriterTo(w, h, "svg")
	if err != nil {
		return nil, errs.Wrap(err, "chart")
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, errs.Wrap(err, "chart")
	}
	out := bytes.ReplaceAll(buf.Bytes(), []byte("font-family:Liberation Sans"), []byte(pageFonts))
	out = fontSize.ReplaceAllFunc(out, func(m []byte) []byte {
		px, _ := strconv.ParseFloat(string(fontSize.FindSubmatch(m)[1]), 64)
		return fmt.Appendf(nil, "font-size:%.3gpx", px*fontScale)
	})
	i := bytes.Index(out, []byte("<svg "))
	j := bytes.IndexByte(out[max(i, 0):], '>')
	if i < 0 || j < 0 {
		return out, nil
	}
	at := i + j + 1
	var meta bytes.Buffer
	meta.WriteString("\n<title>")
	_ = xml.EscapeText(&meta, []byte(title))
	meta.WriteString("</title>\n<desc>")
	_ = xml.EscapeText(&meta, []byte(desc))
	meta.WriteString("</desc>")
	return slices.Concat(out[:at], meta.Bytes(), out[at:]), nil
}

// integerTicks puts ticks on whole numbers only (students are counted), up
// to top.
type integerTicks struct{ top int }

func (it integerTicks) Ticks(min, max float64) []plot.Tick {
	step := 1.0
	for float64(it.top)/step > 10 {
		step *= 2
	}
	var out []plot.Tick
	for v := 0.0; v <= float64(it.top)+1e-9; v += step {
		if v >= min {
			out = append(out, plot.Tick{Value: v, Label: fmt.Sprintf("%.0f", v)})
		}
	}
	return out
}
