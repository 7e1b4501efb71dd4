// Package intake is where a class's work enters Margin: classes and rosters,
// assignments with their rubrics, and students' submissions (stored in S3
// under content-addressed keys, with their extracted text and pseudonyms).
//
// It owns the collections classes, students, access_links, assignments,
// rubrics and submissions (with their lists, texts, sketches, pseudonyms,
// submission IDs, remembered roster names and upload batches),
// intake_migrations, and the S3 prefix submissions/. Other services read
// assignments and submissions by ID; none writes them.
//
// What graders see of a submission is made here: an opaque submission ID
// (SubmissionOf finds a student's), and the grader text, in which every
// rostered student's names and email become their pseudonym and the
// teacher's "the teacher" (Redactor, Text).
//
// A rostered student signs in with their class's access link as the account
// of that enrolment (account.EnrolmentUserID); IsStudentOf is the one test of
// "this is the student's own work" for every service.
package intake
