package intake

import (
	"context"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// AssignmentInput is what a teacher gives to create or edit an assignment.
// Subject and grade level default to the class's.
type AssignmentInput struct {
	ClassID           string    `json:"class_id"`
	Title             string    `json:"title"`
	Prompt            string    `json:"prompt"`
	Subject           string    `json:"subject"`
	GradeLevel        *int      `json:"grade_level"`
	Rubric            *Rubric   `json:"rubric"`
	RubricID          string    `json:"rubric_id"` // reuse a rubric from the school's library instead
	FocusPoints       []string  `json:"focus_points"`
	DueAt             time.Time `json:"due_at"`
	PriceCents        *int64    `json:"price_cents"`
	Currency          string    `json:"currency"`
	AllowResubmission bool      `json:"allow_resubmission"`
	SecondReadShare   *float64  `json:"second_read_share"`
}

// DueOn is the due time of feedback due on a day given as a date
// (YYYY-MM-DD, as a form's date field sends it): the end of that day,
// 23:59 UTC, so that work due "on the 1st" may arrive all that day.
// Returns invalid (field "due") for anything that is not such a date.
func DueOn(date string) (time.Time, error) {
	day, err := time.Parse(time.DateOnly, strings.TrimSpace(date))
	if err != nil {
		return time.Time{}, errs.F(errs.Invalid, "due", "Give the feedback due date.")
	}
	return day.Add(23*time.Hour + 59*time.Minute), nil
}

// Maximum price per submission: a sanity bound against typos in cents.
const maxPriceCents = 100_00 * 100

// CreateAssignment creates a draft assignment in one of the caller's
// classes. Every problem is reported at once, each with its field path.
func (s *Service) CreateAssignment(ctx context.Context, caller account.User, in AssignmentInput) (Assignment, error) {
	if strings.TrimSpace(in.ClassID) == "" {
		return Assignment{}, errs.F(errs.Invalid, "class_id", "Say which class the assignment is for (class_id).")
	}
	c, err := s.AuthorizeClass(ctx, caller, in.ClassID)
	if err != nil {
		return Assignment{}, errs.F(errs.Invalid, "class_id", "You have no class with ID %q.", in.ClassID)
	}
	a := Assignment{
		ID: account.NewID("asg"), ClassID: c.ID, SchoolID: c.SchoolID, TeacherID: c.TeacherID,
		Subject: c.Subject, GradeLevel: c.GradeLevel, Currency: "usd", SecondReadShare: 0.1,
		State: Draft, CreatedAt: s.stamp(),
	}
	if err := s.apply(ctx, caller, &a, in); err != nil {
		return Assignment{}, err
	}
	err = s.changeAssignment(ctx, a.ID, func() error {
		_, err := s.c(colAssignments).InsertOne(ctx, a)
		return errs.Wrap(err, "insert assignment")
	})
	if err != nil {
		return Assignment{}, err
	}
	return a, nil
}

// UpdateAssignment replaces an assignment's settings. Once grading has
// started the rubric (and focus points) cannot change: that is a conflict.
func (s *Service) UpdateAssignment(ctx context.Context, caller account.User, id string, in AssignmentInput) (Assignment, error) {
	a, err := s.AuthorizeAssignment(ctx, caller, id)
	if err != nil {
		return Assignment{}, err
	}
	prev := a.State
	if a.RubricFrozen() {
		return Assignment{}, errs.E(errs.Conflict, "Grading has started, so the rubric and focus points can no longer change.")
	}
	in.ClassID = a.ClassID
	if err := s.apply(ctx, caller, &a, in); err != nil {
		return Assignment{}, err
	}
	err = s.changeAssignment(ctx, id, func() error {
		res, err := s.c(colAssignments).ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "state", Value: prev}}, a)
		if err != nil {
			return errs.Wrap(err, "save assignment")
		}
		if res.MatchedCount == 0 {
			return errs.E(errs.Conflict, "The assignment changed state while you were editing it; reload and try again.")
		}
		return nil
	})
	if err != nil {
		return Assignment{}, err
	}
	return a, nil
}

// apply validates in and copies it onto a.
func (s *Service) apply(ctx context.Context, caller account.User, a *Assignment, in AssignmentInput) error {
	var l errs.List
	requireText(&l, "title", "An assignment", in.Title, 200)
	if strings.TrimSpace(in.Prompt) == "" {
		l = append(l, errs.F(errs.Invalid, "prompt", "An assignment needs a prompt: what the students were asked to do."))
	} else if len(in.Prompt) > 20000 {
		l = append(l, errs.F(errs.Invalid, "prompt", "The prompt is longer than 20,000 characters."))
	}
	if in.Subject != "" {
		a.Subject = strings.TrimSpace(in.Subject)
	}
	if in.GradeLevel != nil {
		checkGrade(&l, "grade_level", in.GradeLevel)
		a.GradeLevel = *in.GradeLevel
	}
	var rubric Rubric
	switch {
	case in.Rubric != nil && in.RubricID != "":
		l = append(l, errs.F(errs.Invalid, "rubric_id", "Give either a rubric or a rubric_id from the library, not both."))
	case in.Rubric != nil:
		rubric = *in.Rubric
		if err := rubric.Validate(); err != nil {
			for _, e := range asList(err) {
				e.Field = "rubric." + e.Field
				l = append(l, e)
			}
		}
	case in.RubricID != "":
		saved, err := s.libraryRubric(ctx, caller, in.RubricID)
		if err != nil {
			l = append(l, errs.F(errs.Invalid, "rubric_id", "Your school's library has no rubric with ID %q.", in.RubricID))
		}
		rubric = saved.Rubric
	default:
		l = append(l, errs.F(errs.Invalid, "rubric", "An assignment needs a rubric (or a rubric_id from the library)."))
	}
	focus := in.FocusPoints
	if focus == nil {
		focus = rubric.FocusPoints
	}
	for i, f := range focus {
		if strings.TrimSpace(f) == "" || len(f) > 500 {
			l = append(l, errs.F(errs.Invalid, "focus_points["+itoa(i)+"]", "Each focus point needs 1 to 500 characters."))
		}
	}
	if in.DueAt.IsZero() {
		l = append(l, errs.F(errs.Invalid, "due_at", "Give the date feedback is due (due_at, e.g. 2026-12-01T17:00:00Z)."))
	} else if in.DueAt.Before(s.now()) && a.State == Draft {
		l = append(l, errs.F(errs.Invalid, "due_at", "The feedback due date is in the past."))
	}
	switch {
	case in.PriceCents == nil:
		l = append(l, errs.F(errs.Invalid, "price_cents", "Give the price per submission in cents (price_cents), e.g. 800 for $8.00."))
	case *in.PriceCents <= 0 || *in.PriceCents > maxPriceCents:
		l = append(l, errs.F(errs.Invalid, "price_cents", "The price per submission must be between 1 cent and $10,000, in whole cents."))
	}
	if in.Currency != "" {
		if c := strings.ToLower(in.Currency); len(c) == 3 {
			a.Currency = c
		} else {
			l = append(l, errs.F(errs.Invalid, "currency", "The currency must be a three-letter ISO code such as \"usd\"."))
		}
	}
	if in.SecondReadShare != nil {
		if v := *in.SecondReadShare; v < 0 || v > 1 {
			l = append(l, errs.F(errs.Invalid, "second_read_share", "The second-read share must be between 0 and 1 (0.1 is 10%%)."))
		} else {
			a.SecondReadShare = v
		}
	}
	if err := l.Err(); err != nil {
		return err
	}
	a.Title, a.Prompt, a.Rubric = strings.TrimSpace(in.Title), in.Prompt, rubric
	a.FocusPoints, a.DueAt, a.PriceCents = focus, in.DueAt.UTC(), *in.PriceCents
	a.AllowResubmission = in.AllowResubmission
	if a.FocusPoints == nil {
		a.FocusPoints = []string{}
	}
	return nil
}

// asList flattens a Validate error into its elements.
func asList(err error) errs.List {
	if l, ok := err.(errs.List); ok {
		return l
	}
	if e, ok := err.(*errs.Error); ok {
		return errs.List{e}
	}
	return errs.List{{Code: errs.Internal, Message: "Something went wrong on our side.", Err: err}}
}

// Assignments lists a class's assignments, newest first.
func (s *Service) Assignments(ctx context.Context, caller account.User, classID string) ([]Assignment, error) {
	if _, err := s.AuthorizeClass(ctx, caller, classID); err != nil {
		return nil, err
	}
	return mongostore.FindAll[Assignment](ctx, s.c(colAssignments), bson.D{{Key: "class_id", Value: classID}}, options.Find().SetSort(bson.D{{Key: "created_at", Value: -1}}))
}

// Publish moves a draft assignment with at least one submission to
// published, which hands it to matching, once billing (Funds) has held the
// price of every submission: errs.InsufficientCredit when the school's
// credit is short. Publishing again is a no-op; a closed draft is a
// conflict.
func (s *Service) Publish(ctx context.Context, caller account.User, id string) (Assignment, error) {
	a, err := s.AuthorizeAssignment(ctx, caller, id)
	if err != nil {
		return Assignment{}, err
	}
	if a.State != Draft {
		return a, nil
	}
	if closed(a) {
		return Assignment{}, errClosed()
	}
	h, err := s.listHead(ctx, id, true)
	if err != nil {
		return Assignment{}, err
	}
	if h.total() == 0 {
		return Assignment{}, errs.E(errs.Conflict, "Upload the students' submissions before publishing; this assignment has none.")
	}
	// The key names the count, so a retry holds once, and a publish retried
	// after more uploads holds for those too.
	if err := s.hold(ctx, a, "publish:"+itoa(h.total()), h.total()); err != nil {
		return Assignment{}, err
	}
	now := s.stamp()
	err = s.changeAssignment(ctx, id, func() error {
		_, err := mongostore.UpdateIf(ctx, s.c(colAssignments), bson.D{{Key: "_id", Value: id}, {Key: "state", Value: Draft}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: Published}, {Key: "published_at", Value: now}}}})
		return errs.Wrap(err, "publish")
	})
	if err != nil {
		return Assignment{}, err
	}
	return s.Assignment(ctx, id)
}

// LibraryRubric is a rubric saved to a school's library for reuse.
type LibraryRubric struct {
	ID        string    `json:"id" bson:"_id"`
	SchoolID  string    `json:"school_id" bson:"school_id"`
	Name      string    `json:"name" bson:"name"`
	Rubric    Rubric    `json:"rubric" bson:"rubric"`
	SavedBy   string    `json:"saved_by" bson:"saved_by"`
	CreatedAt time.Time `json:"created_at" bson:"created_at"`
	// Starter marks one of the rubrics every library starts with (Margin's,
	// not the school's; SchoolID, SavedBy and CreatedAt are empty).
	Starter bool `json:"starter,omitempty" bson:"-"`
}

// SaveRubric validates a rubric and saves it to the caller's school library.
func (s *Service) SaveRubric(ctx context.Context, caller account.User, name string, r Rubric) (LibraryRubric, error) {
	if caller.Role != account.Teacher || caller.SchoolID == "" {
		return LibraryRubric{}, errs.E(errs.Forbidden, "Only a school's teachers save rubrics to its library.")
	}
	if strings.TrimSpace(name) == "" {
		name = r.Title
	}
	var l errs.List
	requireText(&l, "name", "A saved rubric", name, 200)
	if err := r.Validate(); err != nil {
		for _, e := range asList(err) {
			e.Field = "rubric." + e.Field
			l = append(l, e)
		}
	}
	if err := l.Err(); err != nil {
		return LibraryRubric{}, err
	}
	lr := LibraryRubric{ID: account.NewID("rub"), SchoolID: caller.SchoolID, Name: strings.TrimSpace(name), Rubric: r, SavedBy: caller.ID, CreatedAt: s.stamp()}
	if _, err := s.c(colRubrics).InsertOne(ctx, lr); err != nil {
		return LibraryRubric{}, errs.Wrap(err, "save rubric")
	}
	return lr, nil
}

// Library lists the caller's school's saved rubrics, then Margin's starter
// rubrics (Starter), which every school's library holds.
func (s *Service) Library(ctx context.Context, caller account.User) ([]LibraryRubric, error) {
	saved, err := mongostore.FindAll[LibraryRubric](ctx, s.c(colRubrics), bson.D{{Key: "school_id", Value: caller.SchoolID}})
	if err != nil {
		return nil, err
	}
	return append(saved, starters()...), nil
}

func (s *Service) libraryRubric(ctx context.Context, caller account.User, id string) (LibraryRubric, error) {
	if lr, ok := starter(id); ok {
		return lr, nil
	}
	var lr LibraryRubric
	if err := s.findByID(ctx, colRubrics, id, "rubric", &lr); err != nil {
		return LibraryRubric{}, err
	}
	if lr.SchoolID != caller.SchoolID && caller.Role != account.Admin {
		return LibraryRubric{}, errs.E(errs.NotFound, "No rubric with ID %q.", id)
	}
	return lr, nil
}
