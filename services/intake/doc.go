// Package intake is where a class's work enters Margin: classes and rosters,
// assignments with their rubrics, and students' submissions (stored in S3
// under content-addressed keys, with their extracted text and pseudonyms).
//
// It owns the collections classes, students, access_links, assignments,
// rubrics and submissions (with their lists, texts, sketches, pseudonyms and
// upload batches), intake_migrations, and the S3 prefix submissions/. Other
// services read assignments and submissions by ID; none writes them.
//
// A rostered student signs in with their class's access link as the account
// of that enrolment (account.EnrolmentUserID); IsStudentOf is the one test of
// "this is the student's own work" for every service.
package intake
