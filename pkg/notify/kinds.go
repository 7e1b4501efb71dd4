package notify

import (
	"slices"

	"github.com/marginschool/margin/pkg/account"
)

// Kind is what happened: one kind of event, which decides who may receive
// it, how a link to it reads, and whether its recipient may turn it off.
type Kind string

// The kinds of event, by the role that receives them. docs/NOTIFY.md says
// which service raises each, with which Key and which Link.
const (
	// Graders.
	OfferMade         Kind = "offer_made"         // a batch is offered to the grader
	OfferExpiring     Kind = "offer_expiring"     // an open offer expires soon
	TaskDueSoon       Kind = "task_due_soon"      // an accepted task is due soon
	FeedbackReturned  Kind = "feedback_returned"  // the teacher returned feedback, with a note
	VettingDecided    Kind = "vetting_decided"    // the grader was vetted or refused; always sent
	CalibrationResult Kind = "calibration_result" // a calibration attempt was scored
	PayoutSent        Kind = "payout_sent"        // a payout left for the grader's account
	PayoutFailed      Kind = "payout_failed"      // a payout failed; always sent

	// Teachers.
	ReviewWaiting    Kind = "review_waiting"    // feedback waits for the teacher's review
	AssignmentGraded Kind = "assignment_graded" // every submission of an assignment is graded
	ReadsDisagree    Kind = "reads_disagree"    // two reads of one submission disagree
	UploadFinished   Kind = "upload_finished"   // an upload was ingested, with its rejected files
	StudentMessage   Kind = "student_message"   // a student asked a question or reflected

	// Students.
	FeedbackReleased Kind = "feedback_released" // the student's feedback is released
	RevisionGraded   Kind = "revision_graded"   // the student's revision is graded

	// Billing managers (teachers or admins who manage a school's billing),
	// once billing exists.
	LowBalance Kind = "low_balance" // the school's prepaid balance is low
	InvoiceDue Kind = "invoice_due" // an invoice falls due

	// Anyone with a password.
	PasswordReset Kind = "password_reset" // a link to choose a new password; email only, always sent
)

// kindInfo is what Margin knows about a kind.
type kindInfo struct {
	roles  []account.Role // who may receive it
	label  string         // names the kind on the settings page and in unsubscribe pages
	action string         // the text of the link to the page it is about
	always bool           // a vetting decision or a failed payout: never off, never in a digest
	// private kinds go by email only: never into the inbox (where a
	// session, not the mailbox, would reach the link), and their link is
	// blanked once the email has its outcome.
	private bool
}

var (
	graderOnly  = []account.Role{account.Grader}
	teacherOnly = []account.Role{account.Teacher, account.Admin}
	studentOnly = []account.Role{account.Student}
	billing     = []account.Role{account.Teacher, account.Admin}
	passwords   = []account.Role{account.Teacher, account.Grader, account.Admin}
)

// kindOrder is the order kinds are listed in (settings pages, Kinds).
var kindOrder = []Kind{
	OfferMade, OfferExpiring, TaskDueSoon, FeedbackReturned, VettingDecided, CalibrationResult, PayoutSent, PayoutFailed,
	ReviewWaiting, AssignmentGraded, ReadsDisagree, UploadFinished, StudentMessage,
	FeedbackReleased, RevisionGraded,
	LowBalance, InvoiceDue,
	PasswordReset,
}

var kinds = map[Kind]kindInfo{
	OfferMade:         {graderOnly, "New offers of work", "Open the offer", false, false},
	OfferExpiring:     {graderOnly, "Offers about to expire", "Open the offer", false, false},
	TaskDueSoon:       {graderOnly, "Tasks due soon", "Open the task", false, false},
	FeedbackReturned:  {graderOnly, "Feedback returned by a teacher", "Open the returned feedback", false, false},
	VettingDecided:    {graderOnly, "Vetting decisions", "Open your profile", true, false},
	CalibrationResult: {graderOnly, "Calibration results", "Open the result", false, false},
	PayoutSent:        {graderOnly, "Payouts sent", "Open your earnings", false, false},
	PayoutFailed:      {graderOnly, "Payouts that failed", "Open your earnings", true, false},

	ReviewWaiting:    {teacherOnly, "Feedback waiting for your review", "Open the review", false, false},
	AssignmentGraded: {teacherOnly, "Assignments fully graded", "Open the assignment", false, false},
	ReadsDisagree:    {teacherOnly, "Two reads that disagree", "Open the submission", false, false},
	UploadFinished:   {teacherOnly, "Uploads finished", "Open the assignment", false, false},
	StudentMessage:   {teacherOnly, "Students' questions and reflections", "Open the feedback", false, false},

	FeedbackReleased: {studentOnly, "Feedback released to you", "Open your feedback", false, false},
	RevisionGraded:   {studentOnly, "Your revisions graded", "Open your feedback", false, false},

	LowBalance: {billing, "Low balance", "Open billing", false, false},
	InvoiceDue: {billing, "Invoices due", "Open billing", false, false},

	PasswordReset: {passwords, "Password reset links", "Choose a new password", true, true},
}

// Valid reports whether k is one of the kinds above.
func (k Kind) Valid() bool { _, ok := kinds[k]; return ok }

// Label names the kind for people ("New offers of work").
func (k Kind) Label() string { return kinds[k].label }

// Always reports whether the kind always goes out at once, whatever its
// recipient's preferences: a vetting decision and a failed payout.
func (k Kind) Always() bool { return kinds[k].always }

// Private reports whether the kind goes by email only (a password reset
// link): it never reaches the inbox, and its link is not kept once sent.
func (k Kind) Private() bool { return kinds[k].private }

// For reports whether role may receive kind k.
func (k Kind) For(role account.Role) bool { return slices.Contains(kinds[k].roles, role) }

// Kinds lists the kinds a role may receive, in a stable order: the rows of
// that role's notification settings. Private kinds (a password reset) are
// no setting, and not listed.
func Kinds(role account.Role) []Kind {
	var out []Kind
	for _, k := range kindOrder {
		if k.For(role) && !k.Private() {
			out = append(out, k)
		}
	}
	return out
}

// Delivery is how a person wants email of one kind: at once, in a daily
// digest, or not at all. The inbox gets every event whatever it says.
type Delivery string

// The deliveries.
const (
	Immediate Delivery = "immediate"
	Daily     Delivery = "daily"
	Off       Delivery = "off"
)

// Valid reports whether d is one of the three deliveries.
func (d Delivery) Valid() bool { return d == Immediate || d == Daily || d == Off }
