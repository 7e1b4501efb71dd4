// Package feedback is the heart of Margin: rubric-anchored feedback whose
// comments quote the student's own words (W3C Web Annotation selectors),
// drafts and submission, the teacher's review and release, the student's
// view, ratings and revisions.
//
// It owns the collections feedback, comment_bank and payable_events (the
// approvals that payouts pays for).
package feedback
