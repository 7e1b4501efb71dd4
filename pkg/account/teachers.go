package account

import (
	"context"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/errs"
)

// Teachers lists a school's teachers, oldest account first: the first is
// the teacher who founded the school (SignUp creates the school and its
// founder together). It scans the users collection on the embedded store:
// for rare reads (billing looks up a school's founder once), not a hot path.
func (s *Service) Teachers(ctx context.Context, schoolID string) ([]User, error) {
	cur, err := s.users.Find(ctx, bson.D{{Key: "school_id", Value: schoolID}, {Key: "role", Value: Teacher}},
		options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, errs.Wrap(err, "list teachers")
	}
	var docs []userDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, errs.Wrap(err, "list teachers")
	}
	out := make([]User, len(docs))
	for i, d := range docs {
		out[i] = d.user()
	}
	return out, nil
}
