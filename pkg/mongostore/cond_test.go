package mongostore

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
)

func TestMatches(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	doc, err := bson.Marshal(bson.D{
		{Key: "_id", Value: "t1"}, {Key: "state", Value: "open"}, {Key: "held", Value: int32(3)},
		{Key: "capacity", Value: int64(5)}, {Key: "until", Value: now},
		{Key: "holds", Value: bson.D{{Key: "a", Value: 1}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cond bson.D
		want bool
	}{
		{"equal string", bson.D{{Key: "state", Value: "open"}}, true},
		{"unequal string", bson.D{{Key: "state", Value: "taken"}}, false},
		{"int of another width", bson.D{{Key: "held", Value: 3}, {Key: "capacity", Value: 5}}, true},
		{"int unequal", bson.D{{Key: "held", Value: 4}}, false},
		{"missing field equals nothing", bson.D{{Key: "owner", Value: "x"}}, false},
		{"$in hit", bson.D{{Key: "state", Value: bson.D{{Key: "$in", Value: []string{"taken", "open"}}}}}, true},
		{"$in miss", bson.D{{Key: "state", Value: bson.D{{Key: "$in", Value: []string{"taken"}}}}}, false},
		{"$ne", bson.D{{Key: "state", Value: bson.D{{Key: "$ne", Value: "taken"}}}}, true},
		{"$ne on missing", bson.D{{Key: "owner", Value: bson.D{{Key: "$ne", Value: "x"}}}}, true},
		{"dotted $exists true", bson.D{{Key: "holds.a", Value: bson.D{{Key: "$exists", Value: true}}}}, true},
		{"dotted $exists false", bson.D{{Key: "holds.b", Value: bson.D{{Key: "$exists", Value: false}}}}, true},
		{"dotted $exists false on present", bson.D{{Key: "holds.a", Value: bson.D{{Key: "$exists", Value: false}}}}, false},
		{"$lt time", bson.D{{Key: "until", Value: bson.D{{Key: "$lt", Value: now.Add(time.Second)}}}}, true},
		{"$lt time equal", bson.D{{Key: "until", Value: bson.D{{Key: "$lt", Value: now}}}}, false},
		{"$lte and $gte", bson.D{{Key: "held", Value: bson.D{{Key: "$gte", Value: 3}, {Key: "$lte", Value: 3}}}}, true},
		{"$gt", bson.D{{Key: "capacity", Value: bson.D{{Key: "$gt", Value: 5}}}}, false},
		{"$lt on missing", bson.D{{Key: "owner", Value: bson.D{{Key: "$lt", Value: 1}}}}, false},
		{"mixed types never order", bson.D{{Key: "state", Value: bson.D{{Key: "$gt", Value: 1}}}}, false},
		{"all must hold", bson.D{{Key: "state", Value: "open"}, {Key: "held", Value: 9}}, false},
		{"no conditions", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkCond(tc.cond); err != nil {
				t.Fatal(err)
			}
			got, err := matches(doc, tc.cond)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("matches(%v) = %v, want %v", tc.cond, got, tc.want)
			}
		})
	}
}

func TestCheckCondRefusesUnknownOperators(t *testing.T) {
	for _, op := range []string{"$regex", "$elemMatch", "$expr", "$nin"} {
		if err := checkCond(bson.D{{Key: "state", Value: bson.D{{Key: op, Value: "x"}}}}); err == nil {
			t.Errorf("%s: no error", op)
		}
	}
}
