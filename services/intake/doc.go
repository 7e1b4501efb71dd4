// Package intake is where a class's work enters Margin: classes and rosters,
// assignments with their rubrics, and students' submissions (stored in S3
// under content-addressed keys, with their extracted text and pseudonyms).
//
// It owns the collections classes, students, assignments, rubrics and
// submissions, and the S3 prefix submissions/. Other services read
// assignments and submissions by ID; none writes them.
package intake
