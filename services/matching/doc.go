// Package matching decides who grades what: grader profiles and vetting,
// calibration on anchor papers, batches, matching rounds (an exact,
// capacity-constrained assignment, see solve/), offers, leases and second
// reads.
//
// It owns the collections grader_profiles (profile, held work, quality
// counters), teacher_prefs, anchors, calibrations, batches, offers,
// grading_tasks (_id "<version id>:<reader>"), matching_status (per
// assignment: batched versions and why any batch found no grader),
// matching_rounds, matching_history and matching_leases. The feedback
// service reads tasks through Task, TasksForGrader and TasksForVersion and
// reports progress through TaskSubmitted, TaskReturned and TaskApproved.
//
// Every change that must happen once is a single-document conditional
// update or a unique-key insert; background work (rounds, expiries, lease
// reclaims) runs under a lease document, so any number of processes may run
// the service against one store.
package matching
