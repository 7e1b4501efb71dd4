// Package analytics turns released feedback into what a teacher acts on:
// the class summary (per-criterion statistics, strengths and areas for
// growth with quoted evidence, students who need support), learner progress,
// the data wall, grader agreement, CSV exports and SVG charts.
//
// It owns the collections summaries (a cache of released assignments'
// summaries, keyed by a fingerprint of what they were computed from) and
// share_links (family links; only a hash of each token is stored). It reads
// feedback and intake through their read functions and writes neither.
//
// The computation is pure and lives at the root: Summarize (one
// assignment's class summary from a ClassInput), LearnerProgress and
// DataWall (from Graded versions), the CSV exports, the SVG charts (drawn
// with gonum/plot) and the printable report. The statistics themselves
// (distributions, medians, kappa, alpha) are in the stats package. The
// Service methods gather the inputs, check who is asking, and cache.
package analytics
