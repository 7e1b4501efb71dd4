package mongostore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// UpdateIf is col.UpdateOne(ctx, filter, update) for a filter that names
// one document by _id (its first element) and adds conditions on its other
// fields, such as {_id: X, state: {$in: [...]}}: a conditional update of
// one document, whose MatchedCount says whether the condition held.
//
// On MongoDB it is exactly that UpdateOne. The embedded store pushes only
// an exact {_id: X} filter down to its index and scans the whole
// collection for any other, so there UpdateIf reads the document by _id,
// checks the conditions in Go and updates it by _id, under the same
// in-process lock as Swap: atomic against every other UpdateIf and Swap on
// that document (the embedded store serves one process). The conditions
// it can check there are equality (of scalars and whole values), $in, $ne,
// $exists, $lt, $lte, $gt and $gte on fields and dotted paths; any other
// operator is an error, on both stores, so that a test on the embedded
// store finds it.
func UpdateIf(ctx context.Context, col *mongo.Collection, filter bson.D, update any) (*mongo.UpdateResult, error) {
	if len(filter) == 0 || filter[0].Key != "_id" {
		return nil, errors.New("mongostore: UpdateIf: the filter must start with _id")
	}
	cond := filter[1:]
	if err := checkCond(cond); err != nil {
		return nil, err
	}
	if !isEmbedded(col) || len(cond) == 0 {
		return col.UpdateOne(ctx, filter, update)
	}
	byID := bson.D{filter[0]}
	unlock := lockDoc(col, fmt.Sprint(filter[0].Value))
	defer unlock()
	proj := bson.D{}
	for _, c := range cond {
		proj = append(proj, bson.E{Key: c.Key, Value: 1})
	}
	doc, err := col.FindOne(ctx, byID, options.FindOne().SetProjection(proj)).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return &mongo.UpdateResult{}, nil
	}
	if err != nil {
		return nil, err
	}
	ok, err := matches(doc, cond)
	if err != nil || !ok {
		return &mongo.UpdateResult{}, err
	}
	return col.UpdateOne(ctx, byID, update)
}

// checkCond returns an error for an operator matches does not know.
func checkCond(cond bson.D) error {
	for _, c := range cond {
		ops, ok := operators(c.Value)
		if !ok {
			continue
		}
		for _, op := range ops {
			switch op.Key {
			case "$in", "$ne", "$exists", "$lt", "$lte", "$gt", "$gte":
			default:
				return fmt.Errorf("mongostore: UpdateIf: operator %s on %s is not supported", op.Key, c.Key)
			}
		}
	}
	return nil
}

// operators returns v as a document of query operators, if it is one.
func operators(v any) (bson.D, bool) {
	d, ok := v.(bson.D)
	if !ok || len(d) == 0 || !strings.HasPrefix(d[0].Key, "$") {
		return nil, false
	}
	return d, true
}

// matches reports whether doc satisfies every condition of cond (checked
// by checkCond).
func matches(doc bson.Raw, cond bson.D) (bool, error) {
	for _, c := range cond {
		got, err := doc.LookupErr(strings.Split(c.Key, ".")...)
		found := err == nil
		ops, isOps := operators(c.Value)
		if !isOps {
			ops = bson.D{{Key: "$eq", Value: c.Value}}
		}
		for _, op := range ops {
			ok, err := holds(op.Key, found, got, op.Value)
			if err != nil || !ok {
				return false, err
			}
		}
	}
	return true, nil
}

// holds checks one operator against a field's value (found false when the
// field is absent).
func holds(op string, found bool, got bson.RawValue, want any) (bool, error) {
	switch op {
	case "$exists":
		b, ok := want.(bool)
		if !ok {
			return false, fmt.Errorf("mongostore: UpdateIf: $exists takes a bool, not %T", want)
		}
		return found == b, nil
	case "$eq":
		eq, err := equal(got, want)
		return found && eq, err
	case "$ne":
		eq, err := equal(got, want)
		return !found || !eq, err
	case "$in":
		arr, err := toRaw(want)
		if err != nil {
			return false, err
		}
		vals, err := arr.Array().Values()
		if err != nil || !found {
			return false, err
		}
		for _, v := range vals {
			if sameValue(got, v) {
				return true, nil
			}
		}
		return false, nil
	}
	if !found {
		return false, nil
	}
	w, err := toRaw(want)
	if err != nil {
		return false, err
	}
	c, ok := compare(got, w)
	if !ok {
		return false, nil
	}
	switch op {
	case "$lt":
		return c < 0, nil
	case "$lte":
		return c <= 0, nil
	case "$gt":
		return c > 0, nil
	}
	return c >= 0, nil // $gte
}

func equal(got bson.RawValue, want any) (bool, error) {
	w, err := toRaw(want)
	if err != nil {
		return false, err
	}
	return sameValue(got, w), nil
}

// toRaw marshals a Go value as a BSON value.
func toRaw(v any) (bson.RawValue, error) {
	t, data, err := bson.MarshalValue(v)
	if err != nil {
		return bson.RawValue{}, fmt.Errorf("mongostore: UpdateIf: %w", err)
	}
	return bson.RawValue{Type: t, Value: data}, nil
}

// sameValue is MongoDB's equality: numbers by value whatever their type,
// everything else by type and bytes.
func sameValue(a, b bson.RawValue) bool {
	if c, ok := compare(a, b); ok && isNumber(a.Type) {
		return c == 0
	}
	return a.Type == b.Type && bytes.Equal(a.Value, b.Value)
}

func isNumber(t bsontype.Type) bool {
	return t == bson.TypeInt32 || t == bson.TypeInt64 || t == bson.TypeDouble
}

// compare orders two values of comparable types (numbers, strings,
// datetimes); ok is false for others or mixed types.
func compare(a, b bson.RawValue) (int, bool) {
	switch {
	case isNumber(a.Type) && isNumber(b.Type):
		return cmp.Compare(number(a), number(b)), true
	case a.Type == bson.TypeString && b.Type == bson.TypeString:
		return strings.Compare(a.StringValue(), b.StringValue()), true
	case a.Type == bson.TypeDateTime && b.Type == bson.TypeDateTime:
		return cmp.Compare(a.DateTime(), b.DateTime()), true
	}
	return 0, false
}

// number is a numeric value as a float64 (exact for the integers Margin
// stores: counts and revisions).
func number(v bson.RawValue) float64 {
	switch v.Type {
	case bson.TypeInt32:
		return float64(v.Int32())
	case bson.TypeInt64:
		return float64(v.Int64())
	}
	return v.Double()
}
