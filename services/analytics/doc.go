// Package analytics turns released feedback into what a teacher acts on:
// the class summary (per-criterion statistics, strengths and areas for
// growth with quoted evidence, students who need support), learner progress,
// the data wall, grader agreement, CSV exports and SVG charts.
//
// It owns the collections summaries (a cache) and share_links; it reads
// feedback and intake's documents and writes none of them.
package analytics
