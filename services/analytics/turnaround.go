package analytics

import (
	"time"

	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
)

// TurnaroundOf is an assignment's turnaround from its matching batches
// (matching.ForAssignment) and its feedback list rows (feedback.List),
// without computing the class summary: a batch's submissions are its
// feedback tasks (each item read by the batch's reader), approved those
// whose row has an approval time (or, for rows older than that field, is
// approved or released: its last change stands in).
func TurnaroundOf(a intake.Assignment, batches []matching.BatchView, rows []feedback.Row) Turnaround {
	approved := make(map[string]*time.Time, len(rows))
	for _, r := range rows {
		approved[r.TaskID] = r.ApprovedAt
		if r.ApprovedAt == nil && r.State.Final() { // a row written before rows kept the approval time
			at := r.UpdatedAt
			approved[r.TaskID] = &at
		}
	}
	var work []StudentWork
	for _, b := range batches {
		for _, it := range b.Items {
			work = append(work, StudentWork{BatchID: b.ID, ApprovedAt: approved[feedback.TaskID(it.VersionID, string(b.Reader))]})
		}
	}
	return turnaround(ClassInput{PublishedAt: a.PublishedAt, ReleasedAt: a.ReleasedAt}, work)
}
