package matching

import (
	"context"
	"slices"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
)

// Preference is what a teacher thinks of a grader.
type Preference string

// A teacher may block a grader (who then never gets their work), prefer one
// (who is favoured in matching), or neither.
const (
	Blocked   Preference = "blocked"
	Preferred Preference = "preferred"
	NoPref    Preference = "none"
)

// Prefs are a teacher's blocked and preferred graders, by grader ID.
type Prefs struct {
	TeacherID string   `json:"teacher_id" bson:"_id"`
	Blocked   []string `json:"blocked" bson:"blocked"`
	Preferred []string `json:"preferred" bson:"preferred"`
}

// Preferences returns the calling teacher's blocked and preferred graders.
// Returns forbidden for anyone but a teacher.
func (s *Service) Preferences(ctx context.Context, caller account.User) (Prefs, error) {
	if caller.Role != account.Teacher {
		return Prefs{}, errs.E(errs.Forbidden, "Only teachers block or prefer graders.")
	}
	return s.prefs(ctx, caller.ID)
}

func (s *Service) prefs(ctx context.Context, teacherID string) (Prefs, error) {
	var p Prefs
	err := s.findByID(ctx, colPrefs, teacherID, "preferences", &p)
	if errs.Is(err, errs.NotFound) {
		return Prefs{TeacherID: teacherID, Blocked: []string{}, Preferred: []string{}}, nil
	}
	p.Blocked, p.Preferred = nonNil(p.Blocked), nonNil(p.Preferred)
	return p, err
}

// SetPreference blocks, prefers or clears a grader for the calling teacher.
// Returns forbidden for anyone but a teacher, invalid for an unknown
// preference and not_found when the grader has no profile.
func (s *Service) SetPreference(ctx context.Context, caller account.User, graderID string, p Preference) (Prefs, error) {
	if caller.Role != account.Teacher {
		return Prefs{}, errs.E(errs.Forbidden, "Only teachers block or prefer graders.")
	}
	if p != Blocked && p != Preferred && p != NoPref {
		return Prefs{}, errs.F(errs.Invalid, "preference", "A preference is blocked, preferred or none.")
	}
	if _, err := s.Profile(ctx, graderID); err != nil {
		return Prefs{}, errs.E(errs.NotFound, "No grader with ID %q.", graderID)
	}
	update := bson.D{{Key: "$pull", Value: bson.D{{Key: "blocked", Value: graderID}, {Key: "preferred", Value: graderID}}}}
	if _, err := s.c(colPrefs).UpdateOne(ctx, bson.D{{Key: "_id", Value: caller.ID}}, update); err != nil {
		return Prefs{}, errs.Wrap(err, "clear preference")
	}
	if p != NoPref {
		_, err := s.c(colPrefs).UpdateOne(ctx, bson.D{{Key: "_id", Value: caller.ID}},
			bson.D{{Key: "$addToSet", Value: bson.D{{Key: string(p), Value: graderID}}}}, options.Update().SetUpsert(true))
		if err != nil {
			return Prefs{}, errs.Wrap(err, "set preference")
		}
	}
	return s.prefs(ctx, caller.ID)
}

func (p Prefs) blocks(graderID string) bool  { return slices.Contains(p.Blocked, graderID) }
func (p Prefs) prefers(graderID string) bool { return slices.Contains(p.Preferred, graderID) }
