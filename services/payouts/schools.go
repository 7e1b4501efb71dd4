package payouts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
)

// schoolBook is a school's running account (school_books, _id = school
// ID), changed only by compare-and-set on Rev. Available and Held are the
// sums of the school's entries on SchoolAccount and SchoolHeldAccount
// (credits, so shown positive), less what in-flight refunds reserve.
type schoolBook struct {
	ID  string `bson:"_id"`
	Rev int64  `bson:"rev"`
	// Available is credit not held; Held is credit held for assignments,
	// by assignment in Holds (keys: mongostore.FieldKey of the ID).
	Available int64            `bson:"available"`
	Held      int64            `bson:"held"`
	Holds     map[string]int64 `bson:"holds"`
	// Refunding are refunds sent (or about to be sent) to Stripe and not
	// recorded in the ledger yet, by refund ID: their cents are taken from
	// Available when they start, so that nothing can spend them meanwhile.
	Refunding map[string]pendingRefund `bson:"refunding"`
	// Refunded is what has been (or is being) refunded of each purchase,
	// by purchase ID.
	Refunded map[string]int64 `bson:"refunded"`
	// Totals of the school's entries, for its billing page.
	PurchasedCents int64 `bson:"purchased_cents"`
	ChargedCents   int64 `bson:"charged_cents"`
	RefundedCents  int64 `bson:"refunded_cents"`
	Charges        int   `bson:"charges"`
	Entries        int   `bson:"entries"`
	// Pending are entries applied whose documents may not be written yet
	// (see changeSchool).
	Pending []Entry `bson:"pending"`
	// Managers are the teachers who manage the school's billing; empty,
	// the school's founder does.
	Managers []string `bson:"managers"`
	// CustomerID is the school's Stripe customer, for invoices.
	CustomerID string `bson:"customer_id,omitempty"`
}

// pendingRefund is a refund started and not recorded yet.
type pendingRefund struct {
	PurchaseID string    `bson:"purchase_id"`
	Cents      int64     `bson:"cents"`
	Reason     string    `bson:"reason"`
	By         string    `bson:"by"`
	At         time.Time `bson:"at"`
}

func (b *schoolBook) fill() {
	if b.Holds == nil {
		b.Holds = map[string]int64{}
	}
	if b.Refunding == nil {
		b.Refunding = map[string]pendingRefund{}
	}
	if b.Refunded == nil {
		b.Refunded = map[string]int64{}
	}
	if b.Pending == nil {
		b.Pending = []Entry{}
	}
}

// apply adds a school entry to the book's sums.
func (b *schoolBook) apply(e Entry) {
	b.fill()
	b.Entries++
	school, held := SchoolAccount(b.ID), SchoolHeldAccount(b.ID)
	for _, l := range e.Lines {
		switch l.Account {
		case school:
			b.Available -= l.Cents
		case held:
			b.Held -= l.Cents
			k := mongostore.FieldKey(e.AssignmentID)
			b.Holds[k] -= l.Cents
			if b.Holds[k] == 0 {
				delete(b.Holds, k)
			}
		}
	}
	switch e.Kind {
	case KindPurchase, KindCredit:
		b.PurchasedCents += e.PriceCents
	case KindCharge:
		b.ChargedCents += e.PriceCents
		b.Charges++
	case KindRefund:
		// Its cents left Available when the refund started.
		if r, ok := b.Refunding[e.RefundID]; ok {
			b.Available += r.Cents
			delete(b.Refunding, e.RefundID)
		}
		b.RefundedCents += e.PriceCents
	}
}

// refunding sums the in-flight refunds.
func (b schoolBook) refunding() int64 {
	var n int64
	for _, r := range b.Refunding {
		n += r.Cents
	}
	return n
}

func (s *Service) readSchool(ctx context.Context, schoolID string) (schoolBook, error) {
	b, err := mongostore.Get[schoolBook](ctx, s.schoolBooks, schoolID, "school book")
	if errs.Is(err, errs.NotFound) {
		b, err = schoolBook{ID: schoolID}, nil
	}
	b.fill()
	return b, err
}

// changeSchool applies change to a school's book with compare-and-set,
// retrying when another writer got there first: it writes the book's
// pending entries first, and the entries change adds to Pending after, as
// changeBook does for a grader's. change returns errSkip to leave the book
// as it is. It returns the book as stored.
func (s *Service) changeSchool(ctx context.Context, schoolID string, change func(*schoolBook) error) (schoolBook, error) {
	if schoolID == "" {
		return schoolBook{}, errs.E(errs.Invalid, "This has no school to bill.")
	}
	for {
		b, err := s.readSchool(ctx, schoolID)
		if err != nil {
			return schoolBook{}, err
		}
		if err := s.writeEntries(ctx, b.Pending); err != nil {
			return schoolBook{}, err
		}
		rev := b.Rev
		b.Pending = []Entry{}
		if err := change(&b); errors.Is(err, errSkip) {
			return b, nil
		} else if err != nil {
			return schoolBook{}, err
		}
		b.Rev++
		if rev == 0 {
			_, err = s.schoolBooks.InsertOne(ctx, b)
			if mongostore.IsDuplicateKey(err) {
				continue
			}
		} else {
			err = mongostore.Swap(ctx, s.schoolBooks, schoolID, "rev", rev, b)
		}
		if errors.Is(err, mongostore.ErrStale) {
			continue
		}
		if err != nil {
			return schoolBook{}, fmt.Errorf("school book %s: %w", schoolID, err)
		}
		return b, s.writeEntries(ctx, b.Pending)
	}
}

// applied reports which of the entry IDs the ledger holds. Called inside a
// change, after the book's pending entries were written, it is exact.
func (s *Service) applied(ctx context.Context, ids ...string) (map[string]Entry, error) {
	return s.getEntries(ctx, ids)
}

// addSchoolEntry applies one entry to its school's book unless the ledger
// holds it already; check, if given, may refuse it (after the book is
// read, so that the refusal is consistent with the balance it saw).
func (s *Service) addSchoolEntry(ctx context.Context, e Entry, check func(*schoolBook) error) (schoolBook, bool, error) {
	if !e.Balanced() {
		return schoolBook{}, false, fmt.Errorf("ledger entry %s does not balance", e.ID)
	}
	added := false
	b, err := s.changeSchool(ctx, e.SchoolID, func(b *schoolBook) error {
		have, err := s.applied(ctx, e.ID)
		if err != nil {
			return err
		}
		if _, ok := have[e.ID]; ok {
			return errSkip
		}
		if check != nil {
			if err := check(b); err != nil {
				return err
			}
		}
		b.apply(e)
		b.Pending = append(b.Pending, e)
		added = true
		return nil
	})
	return b, added, err
}

// lines drops the zero lines of an entry.
func lines(ls ...Line) []Line {
	return slices.DeleteFunc(ls, func(l Line) bool { return l.Cents == 0 })
}

// Hold sets aside credit for grading an assignment's submissions (see
// intake.Funds): once per h.Key; errs.InsufficientCredit when the school's
// available credit is short. With billing off it holds nothing.
func (s *Service) Hold(ctx context.Context, h intake.Hold) error {
	if !s.billingOn() || h.Cents <= 0 {
		return nil
	}
	if err := s.sameCurrency(h.Currency); err != nil {
		return err
	}
	e := Entry{ID: "hold:" + h.AssignmentID + ":" + h.Key, Kind: KindHold, Currency: s.cfg.Currency, At: s.now(),
		SchoolID: h.SchoolID, AssignmentID: h.AssignmentID, PriceCents: h.Cents, Reason: h.Title,
		Lines: lines(Line{SchoolAccount(h.SchoolID), h.Cents}, Line{SchoolHeldAccount(h.SchoolID), -h.Cents})}
	b, _, err := s.addSchoolEntry(ctx, e, func(b *schoolBook) error {
		if b.Available < h.Cents {
			return insufficient(h.Cents, b.Available, s.cfg.Currency, fmt.Sprintf("grading %d submission(s) of %q", h.Submissions, h.Title))
		}
		return nil
	})
	if err == nil {
		s.warnLowBalance(ctx, b)
	}
	return err
}

// Release gives back what is still held for an assignment (see
// intake.Funds). Releasing again changes nothing.
func (s *Service) Release(ctx context.Context, schoolID, assignmentID string) error {
	b, err := s.readSchool(ctx, schoolID)
	if err != nil || b.Holds[mongostore.FieldKey(assignmentID)] == 0 {
		return err
	}
	_, err = s.changeSchool(ctx, schoolID, func(b *schoolBook) error {
		id := "release:" + assignmentID
		have, err := s.applied(ctx, id)
		if err != nil {
			return err
		}
		held := b.Holds[mongostore.FieldKey(assignmentID)]
		if _, ok := have[id]; ok || held <= 0 {
			return errSkip
		}
		e := Entry{ID: id, Kind: KindRelease, Currency: s.cfg.Currency, At: s.now(), SchoolID: schoolID, AssignmentID: assignmentID,
			PriceCents: held, Lines: lines(Line{SchoolHeldAccount(schoolID), held}, Line{SchoolAccount(schoolID), -held})}
		b.apply(e)
		b.Pending = append(b.Pending, e)
		return nil
	})
	return err
}

func (s *Service) sameCurrency(c string) error {
	if c != "" && !strings.EqualFold(c, s.cfg.Currency) {
		return errs.E(errs.Invalid, "Schools are billed in %s; this assignment is priced in %s.", strings.ToUpper(s.cfg.Currency), strings.ToUpper(c))
	}
	return nil
}

// Pseudonyms names a submission's student for a statement: intake
// implements it.
type Pseudonyms interface {
	Pseudonym(ctx context.Context, submissionID string) (string, error)
}

// SetPseudonyms makes charges record the pseudonym of the student whose
// submission they are for.
func (s *Service) SetPseudonyms(p Pseudonyms) { s.pseudonyms = p }

// chargeSchools charges each school for the submission versions of these
// payable events, once per version (a second reader is Margin's cost).
// Called by Ingest on each page before it moves past it, so a page read
// again after a crash charges nothing twice.
func (s *Service) chargeSchools(ctx context.Context, evs []feedback.PayableEvent) error {
	if !s.billingOn() {
		return nil
	}
	for _, ev := range evs {
		if ev.SchoolID == "" || ev.PriceCents <= 0 || ev.Reader != "first" && ev.Reader != "" {
			continue
		}
		if err := s.charge(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

// charge charges one approved version to its school: the price leaves what
// is held for the assignment, else the available credit; what neither
// covers is Margin's (expense:uncovered). The grader's earning and the fee
// are paid from it.
func (s *Service) charge(ctx context.Context, ev feedback.PayableEvent) error {
	id := "charge:" + ev.VersionID
	if have, err := s.applied(ctx, id); err != nil || len(have) > 0 {
		return err
	}
	pseudonym := ""
	if s.pseudonyms != nil {
		pseudonym, _ = s.pseudonyms.Pseudonym(ctx, ev.SubmissionID) // a statement line without it is still right
	}
	fee := Fee(ev.PriceCents, s.cfg.FeeBasisPoints)
	fee = min(fee, ev.PriceCents)
	b, err := s.changeSchool(ctx, ev.SchoolID, func(b *schoolBook) error {
		have, err := s.applied(ctx, id)
		if err != nil {
			return err
		}
		if len(have) > 0 {
			return errSkip
		}
		price := ev.PriceCents
		fromHeld := min(price, max(b.Holds[mongostore.FieldKey(ev.AssignmentID)], 0))
		fromAvail := min(price-fromHeld, max(b.Available, 0))
		uncovered := price - fromHeld - fromAvail
		e := Entry{ID: id, Kind: KindCharge, Currency: s.cfg.Currency, At: ev.ApprovedAt.UTC(), SchoolID: ev.SchoolID,
			AssignmentID: ev.AssignmentID, SubmissionID: ev.SubmissionID, VersionID: ev.VersionID,
			Pseudonym: pseudonym, PriceCents: price, FeeCents: fee,
			Lines: lines(Line{SchoolHeldAccount(ev.SchoolID), fromHeld}, Line{SchoolAccount(ev.SchoolID), fromAvail},
				Line{AccountUncovered, uncovered}, Line{AccountGradingExpense, -(price - fee)}, Line{AccountFees, -fee})}
		b.apply(e)
		b.Pending = append(b.Pending, e)
		return nil
	})
	if err == nil {
		s.warnLowBalance(ctx, b)
	}
	return err
}

// isManager reports whether u manages the school's billing: an admin, a
// teacher the school's book names, or (when it names none) the school's
// founding teacher.
func (s *Service) isManager(ctx context.Context, u account.User, b schoolBook) (bool, error) {
	if u.Role == account.Admin {
		return true, nil
	}
	if u.Role != account.Teacher || u.SchoolID != b.ID {
		return false, nil
	}
	ids, err := s.managers(ctx, b)
	return slices.Contains(ids, u.ID), err
}

// managers are the user IDs of the teachers who manage the school's
// billing: those its book names, or else its founding teacher (none for a
// school without teachers).
func (s *Service) managers(ctx context.Context, b schoolBook) ([]string, error) {
	if len(b.Managers) > 0 {
		return b.Managers, nil
	}
	ts, err := s.accounts.Teachers(ctx, b.ID)
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	return []string{ts[0].ID}, nil
}

// AddManager makes a teacher of the caller's school a billing manager. The
// caller must manage the school's billing (errs.Forbidden otherwise);
// NotFound for a teacher not of the school.
func (s *Service) AddManager(ctx context.Context, caller account.User, teacherID string) ([]string, error) {
	b, err := s.readSchool(ctx, caller.SchoolID)
	if err != nil {
		return nil, err
	}
	if ok, err := s.isManager(ctx, caller, b); err != nil || !ok {
		return nil, firstErr(err, errs.E(errs.Forbidden, "Only a billing manager of the school can name another."))
	}
	t, err := s.accounts.User(ctx, teacherID)
	if err != nil || t.Role != account.Teacher || t.SchoolID != caller.SchoolID {
		return nil, errs.F(errs.NotFound, "teacher_id", "There is no teacher with this ID in your school.")
	}
	b, err = s.changeSchool(ctx, caller.SchoolID, func(b *schoolBook) error {
		if len(b.Managers) == 0 && caller.Role == account.Teacher {
			b.Managers = []string{caller.ID} // the founder stays one
		}
		if slices.Contains(b.Managers, teacherID) {
			return errSkip
		}
		b.Managers = append(b.Managers, teacherID)
		return nil
	})
	return b.Managers, err
}

func firstErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}
