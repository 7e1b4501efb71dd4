package matching

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// stats are the raw counters a Quality is computed from.
type stats struct {
	Submitted   int     `bson:"submitted"`
	Missed      int     `bson:"missed"` // taken back unfinished when the lease ran out
	OnTime      int     `bson:"on_time"`
	Approvals   int     `bson:"approvals"`
	Returns     int     `bson:"returns"`
	CalAttempts int     `bson:"cal_attempts"`
	CalPassed   int     `bson:"cal_passed"`
	CalExact    int     `bson:"cal_exact"`    // criteria scored exactly, over all attempts
	CalCriteria int     `bson:"cal_criteria"` // criteria scored, over all attempts
	Ratings     int     `bson:"ratings"`
	RatingSum   float64 `bson:"rating_sum"` // each rating scaled to 0–1
	SecondReads int     `bson:"second_reads"`
	Agreements  int     `bson:"agreements"`
}

// profileDoc is a grader_profiles document: the profile, the open tasks it
// holds (holds.<task key> = 1, kept in step with Held by single-document
// updates) and the quality counters.
type profileDoc struct {
	Profile `bson:",inline"`
	Holds   map[string]int `bson:"holds"`
	Stats   stats          `bson:"stats"`
}

func ratio(n, d int) *float64 {
	if d == 0 {
		return nil
	}
	r := float64(n) / float64(d)
	return &r
}

// quality computes the record from the counters.
func (st stats) quality() Quality {
	q := Quality{
		CalibrationAttempts: st.CalAttempts, CalibrationPassed: st.CalPassed,
		CalibrationAccuracy: ratio(st.CalExact, st.CalCriteria),
		Submitted:           st.Submitted, OnTime: st.OnTime, OnTimeRate: ratio(st.OnTime, st.Submitted+st.Missed),
		Approvals: st.Approvals, Returns: st.Returns, ApprovalRate: ratio(st.Approvals, st.Approvals+st.Returns),
		HelpfulRatings: st.Ratings, SecondReads: st.SecondReads, Agreement: ratio(st.Agreements, st.SecondReads),
	}
	if st.Ratings > 0 {
		h := st.RatingSum / float64(st.Ratings)
		q.Helpfulness = &h
	}
	return q
}

// ProfileInput is what a grader declares about themself.
type ProfileInput struct {
	Subjects     []string      `json:"subjects"`
	GradeBands   []GradeBand   `json:"grade_bands"`
	Affiliations []Affiliation `json:"affiliations"`
	Capacity     int           `json:"capacity"`
	Days         []string      `json:"available_days"` // "monday" … "sunday" (or "mon" …)
	Bio          string        `json:"bio"`
}

// Limits on a profile.
const (
	maxSubjects     = 20
	maxBands        = 5
	maxAffiliations = 20
	maxCapacity     = 500
	maxBio          = 2000
)

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// normalize checks the input and returns it cleaned (subjects lower-case and
// unique, days as weekdays), or an errs.List of every problem.
func (in ProfileInput) normalize() (ProfileInput, []time.Weekday, error) {
	var l errs.List
	add := func(field, format string, args ...any) { l = append(l, errs.F(errs.Invalid, field, format, args...)) }
	var subjects []string
	for i, sub := range in.Subjects {
		sub = strings.ToLower(strings.TrimSpace(sub))
		switch {
		case sub == "" || utf8.RuneCountInString(sub) > 60:
			add(fieldf("subjects", i), "A subject is 1 to 60 characters.")
		case !slices.Contains(subjects, sub):
			subjects = append(subjects, sub)
		}
	}
	if len(subjects) == 0 {
		add("subjects", "Name at least one subject you grade.")
	} else if len(subjects) > maxSubjects {
		add("subjects", "Name at most %d subjects.", maxSubjects)
	}
	if len(in.GradeBands) == 0 || len(in.GradeBands) > maxBands {
		add("grade_bands", "Give 1 to %d grade bands.", maxBands)
	}
	for i, b := range in.GradeBands {
		if b.Min < 0 || b.Max > 12 || b.Min > b.Max {
			add(fieldf("grade_bands", i), "A grade band runs from min to max, between 0 (kindergarten) and 12.")
		}
	}
	if len(in.Affiliations) > maxAffiliations {
		add("affiliations", "Declare at most %d affiliations.", maxAffiliations)
	}
	for i, a := range in.Affiliations {
		in.Affiliations[i].School = strings.TrimSpace(a.School)
		if in.Affiliations[i].School == "" {
			add(fieldf("affiliations", i)+".school", "Name the school (its name or Margin ID).")
		}
		if a.Kind != Works && a.Kind != Studies && a.Kind != Child {
			add(fieldf("affiliations", i)+".kind", "An affiliation is works, studies or child.")
		}
	}
	if in.Capacity < 1 || in.Capacity > maxCapacity {
		add("capacity", "Capacity is how many submissions you will hold at once: 1 to %d.", maxCapacity)
	}
	var days []time.Weekday
	for i, d := range in.Days {
		wd, ok := weekdays[strings.ToLower(strings.TrimSpace(d))]
		if !ok {
			add(fieldf("available_days", i), "%q is not a day of the week.", d)
		} else if !slices.Contains(days, wd) {
			days = append(days, wd)
		}
	}
	if len(in.Days) == 0 {
		add("available_days", "Name at least one day you are available.")
	}
	slices.Sort(days)
	in.Bio = strings.TrimSpace(in.Bio)
	if utf8.RuneCountInString(in.Bio) > maxBio {
		add("bio", "A bio is at most %d characters.", maxBio)
	}
	in.Subjects = subjects
	return in, days, l.Err()
}

func fieldf(list string, i int) string { return list + "[" + itoa(i) + "]" }

// SaveProfile creates or replaces the calling grader's profile. A new
// profile starts pending; editing keeps the vetting status. Returns
// forbidden for anyone but a grader and an errs.List of invalid fields.
func (s *Service) SaveProfile(ctx context.Context, caller account.User, in ProfileInput) (Profile, error) {
	if caller.Role != account.Grader {
		return Profile{}, errs.E(errs.Forbidden, "Only graders have a grader profile.")
	}
	in, days, err := in.normalize()
	if err != nil {
		return Profile{}, err
	}
	now := s.stamp()
	set := bson.D{
		{Key: "name", Value: caller.Name}, {Key: "email_domain", Value: emailDomain(caller.Email)},
		{Key: "subjects", Value: in.Subjects}, {Key: "grade_bands", Value: in.GradeBands},
		{Key: "affiliations", Value: nonNil(in.Affiliations)}, {Key: "capacity", Value: in.Capacity},
		{Key: "available_days", Value: days}, {Key: "bio", Value: in.Bio}, {Key: "updated_at", Value: now},
	}
	res, err := s.c(colProfiles).UpdateOne(ctx, bson.D{{Key: "_id", Value: caller.ID}}, bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return Profile{}, errs.Wrap(err, "update profile")
	}
	if res.MatchedCount == 0 {
		d := profileDoc{Profile: Profile{
			GraderID: caller.ID, Name: caller.Name, EmailDomain: emailDomain(caller.Email),
			Subjects: in.Subjects, GradeBands: in.GradeBands, Affiliations: nonNil(in.Affiliations),
			Capacity: in.Capacity, Days: days, Bio: in.Bio, Status: Pending, CreatedAt: now, UpdatedAt: now,
		}, Holds: map[string]int{}}
		if _, err := s.c(colProfiles).InsertOne(ctx, d); err != nil {
			// A concurrent first save won; apply ours over it.
			if _, err2 := s.c(colProfiles).UpdateOne(ctx, bson.D{{Key: "_id", Value: caller.ID}}, bson.D{{Key: "$set", Value: set}}); err2 != nil {
				return Profile{}, errs.Wrap(err, "insert profile")
			}
		}
	}
	return s.Profile(ctx, caller.ID)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// emailDomain is the part after the last @, lower-case.
func emailDomain(email string) string {
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return strings.ToLower(email[i+1:])
	}
	return ""
}

// Profile returns a grader's profile. Returns not_found when the grader has
// none.
func (s *Service) Profile(ctx context.Context, graderID string) (Profile, error) {
	d, err := s.profileDoc(ctx, graderID)
	return d.Profile, err
}

func (s *Service) profileDoc(ctx context.Context, graderID string) (profileDoc, error) {
	return mongostore.Get[profileDoc](ctx, s.c(colProfiles), graderID, "grader profile")
}

// Quality returns a grader's quality record, computed from their
// calibration attempts, submitted, approved and returned work, ratings and
// second reads. Returns not_found when the grader has no profile.
func (s *Service) Quality(ctx context.Context, graderID string) (Quality, error) {
	d, err := s.profileDoc(ctx, graderID)
	return d.Stats.quality(), err
}

// GraderView is a profile with its quality record, as the grader themself
// and admins see it.
type GraderView struct {
	Profile
	Quality Quality `json:"quality"`
}

// Graders lists grader profiles for an admin, optionally only those with
// the given vetting status, oldest first. Returns forbidden for non-admins.
func (s *Service) Graders(ctx context.Context, caller account.User, status VettingStatus) ([]GraderView, error) {
	if caller.Role != account.Admin {
		return nil, errs.E(errs.Forbidden, "Only an admin lists graders.")
	}
	filter := bson.D{}
	if status != "" {
		filter = bson.D{{Key: "status", Value: status}}
	}
	var docs []profileDoc
	if err := s.findAll(ctx, colProfiles, filter, &docs); err != nil {
		return nil, err
	}
	slices.SortFunc(docs, func(a, b profileDoc) int { return a.CreatedAt.Compare(b.CreatedAt) })
	out := make([]GraderView, len(docs))
	for i, d := range docs {
		out[i] = GraderView{Profile: d.Profile, Quality: d.Stats.quality()}
	}
	return out, nil
}

// Vet sets a grader's vetting status (approved or rejected), by an admin.
// Returns forbidden for non-admins, invalid for another status and not_found
// for a grader without a profile.
func (s *Service) Vet(ctx context.Context, caller account.User, graderID string, status VettingStatus) (Profile, error) {
	if caller.Role != account.Admin {
		return Profile{}, errs.E(errs.Forbidden, "Only an admin vets graders.")
	}
	if status != Approved && status != Rejected && status != Pending {
		return Profile{}, errs.F(errs.Invalid, "status", "A vetting status is approved, rejected or pending.")
	}
	now := s.stamp()
	res, err := s.c(colProfiles).UpdateOne(ctx, bson.D{{Key: "_id", Value: graderID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: status}, {Key: "vetted_by", Value: caller.ID}, {Key: "vetted_at", Value: now}}}})
	if err != nil {
		return Profile{}, errs.Wrap(err, "vet")
	}
	if res.MatchedCount == 0 {
		return Profile{}, errs.E(errs.NotFound, "No grader profile with ID %q.", graderID)
	}
	p, err := s.Profile(ctx, graderID)
	if err == nil {
		s.notifyVetting(ctx, p)
	}
	return p, err
}

// ReportHelpfulness records a student's helpfulness rating (1–5) of a
// grader's feedback; the feedback service calls it once per rating.
func (s *Service) ReportHelpfulness(ctx context.Context, graderID string, rating int) error {
	if rating < 1 || rating > 5 {
		return errs.F(errs.Invalid, "rating", "A rating is 1 to 5.")
	}
	_, err := s.c(colProfiles).UpdateOne(ctx, bson.D{{Key: "_id", Value: graderID}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "stats.ratings", Value: 1}, {Key: "stats.rating_sum", Value: float64(rating-1) / 4}}}})
	return errs.Wrap(err, "record rating")
}

// ReportAgreement records whether a grader's first read agreed (within one
// level on every criterion) with a second reader's; the feedback service
// calls it once per double-read version, for both graders.
func (s *Service) ReportAgreement(ctx context.Context, graderID string, agreed bool) error {
	inc := bson.D{{Key: "stats.second_reads", Value: 1}}
	if agreed {
		inc = append(inc, bson.E{Key: "stats.agreements", Value: 1})
	}
	_, err := s.c(colProfiles).UpdateOne(ctx, bson.D{{Key: "_id", Value: graderID}}, bson.D{{Key: "$inc", Value: inc}})
	return errs.Wrap(err, "record agreement")
}
