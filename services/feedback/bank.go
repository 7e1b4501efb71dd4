package feedback

import (
	"context"
	"errors"
	"sort"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// MaxBankEntries caps a grader's comment bank.
const MaxBankEntries = 200

// bankDoc is a grader's whole comment bank: one document, _id the grader's
// user ID, entries keyed by entry ID (so one is added or removed with a
// dotted $set or $unset).
type bankDoc struct {
	ID      string               `bson:"_id"`
	Entries map[string]BankEntry `bson:"entries"`
}

// Bank returns caller's saved comments, oldest first.
func (s *Service) Bank(ctx context.Context, caller account.User) ([]BankEntry, error) {
	var d bankDoc
	err := s.c(colBank).FindOne(ctx, bson.D{{Key: "_id", Value: caller.ID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return []BankEntry{}, nil
	}
	if err != nil {
		return nil, errs.Wrap(err, "read comment bank")
	}
	out := make([]BankEntry, 0, len(d.Entries))
	for _, e := range d.Entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreatedAt.Before(out[j].CreatedAt) || out[i].CreatedAt.Equal(out[j].CreatedAt) && out[i].ID < out[j].ID
	})
	return out, nil
}

// SaveToBank adds a comment, with its criterion key and kind (both
// optional), to caller's bank. A comment from the bank is only text: using
// it in feedback still needs a quote like any other. Returns invalid for an
// empty or overlong text or an unknown kind, and conflict when the bank is
// full.
func (s *Service) SaveToBank(ctx context.Context, caller account.User, e BankEntry) (BankEntry, error) {
	var l errs.List
	switch n := utf8.RuneCountInString(e.Text); {
	case strings.TrimSpace(e.Text) == "":
		l = append(l, errs.F(errs.Invalid, "text", "The comment is empty."))
	case n > MaxCommentChars:
		l = append(l, errs.F(errs.Invalid, "text", "The comment is longer than %d characters.", MaxCommentChars))
	}
	if e.Kind != "" && e.Kind != Strength && e.Kind != Growth {
		l = append(l, errs.F(errs.Invalid, "kind", "The kind must be \"strength\" or \"growth\"."))
	}
	if len(e.Criterion) > 64 {
		l = append(l, errs.F(errs.Invalid, "criterion", "The criterion key is longer than 64 characters."))
	}
	if err := l.Err(); err != nil {
		return BankEntry{}, err
	}
	have, err := s.Bank(ctx, caller)
	if err != nil {
		return BankEntry{}, err
	}
	if len(have) >= MaxBankEntries {
		return BankEntry{}, errs.E(errs.Conflict, "Your comment bank is full (%d comments); delete some first.", MaxBankEntries)
	}
	e.ID, e.CreatedAt = account.NewID("cb"), s.stamp()
	_, err = s.c(colBank).UpdateOne(ctx, bson.D{{Key: "_id", Value: caller.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "entries." + e.ID, Value: e}}}}, upsert)
	if err != nil {
		return BankEntry{}, errs.Wrap(err, "save to comment bank")
	}
	return e, nil
}

// DeleteFromBank removes a comment from caller's bank. Returns not_found
// when the bank has no such comment.
func (s *Service) DeleteFromBank(ctx context.Context, caller account.User, id string) error {
	res, err := s.c(colBank).UpdateOne(ctx, bson.D{{Key: "_id", Value: caller.ID}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "entries." + mongostore.FieldKey(id), Value: ""}}}})
	if err != nil {
		return errs.Wrap(err, "delete from comment bank")
	}
	if res.ModifiedCount == 0 {
		return errs.E(errs.NotFound, "No comment %q in your bank.", id)
	}
	return nil
}
