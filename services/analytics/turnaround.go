package analytics

import (
	"time"

	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
)

// TurnaroundOf is an assignment's turnaround from its matching batches
// (batch ID → the feedback task IDs in it) and its feedback list rows,
// without computing the class summary: a batch's submissions are its
// tasks, approved those whose row has an approval time (or, for rows older
// than that field, is approved or released: its last change stands in).
func TurnaroundOf(a intake.Assignment, batches map[string][]string, rows []feedback.Row) Turnaround {
	approved := make(map[string]*time.Time, len(rows))
	for _, r := range rows {
		approved[r.TaskID] = r.ApprovedAt
		if r.ApprovedAt == nil && r.State.Final() { // a row written before rows kept the approval time
			at := r.UpdatedAt
			approved[r.TaskID] = &at
		}
	}
	var work []StudentWork
	for id, tasks := range batches {
		for _, t := range tasks {
			work = append(work, StudentWork{BatchID: id, ApprovedAt: approved[t]})
		}
	}
	return turnaround(ClassInput{PublishedAt: a.PublishedAt, ReleasedAt: a.ReleasedAt}, work)
}
