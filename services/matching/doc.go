// Package matching decides who grades what: grader profiles and vetting,
// calibration on anchor papers, batches, matching rounds (an exact,
// capacity-constrained assignment), offers, leases and second reads.
//
// It owns the collections grader_profiles, calibrations, batches, offers and
// matching_rounds. Feedback reads batches to know whom a submission is
// assigned to.
package matching
