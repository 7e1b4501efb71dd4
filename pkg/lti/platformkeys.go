package lti

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/go-jose/go-jose/v4"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/errs"
)

// A platform's JWKS is cached in the store, shared by every process: read
// from there, refetched when it is older than jwksMaxAge, and refetched
// when a token names a key it does not have, but at most once per
// jwksMinRefetch, so that tokens with made-up key IDs cannot make Margin
// hammer the platform.

type platformKeysDoc struct {
	ID        string    `bson:"_id"`
	URL       string    `bson:"url"`
	JWKS      string    `bson:"jwks"`
	FetchedAt time.Time `bson:"fetched_at"`
}

// errUnknownKey is returned by platformKey when the platform's JWKS has
// no key with the token's kid, even after a refetch.
var errUnknownKey = errors.New("no such key in the platform's JWKS")

// platformKey returns the public key with kid from the JWKS at jwksURL.
// It returns errUnknownKey when there is none, errs.Unavailable when the
// JWKS cannot be fetched, or an internal error.
func (t *Tool) platformKey(ctx context.Context, jwksURL, kid string) (*jose.JSONWebKey, error) {
	id := hashID("jwks", jwksURL)
	var d platformKeysDoc
	err := t.col(colPlatformKeys).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return nil, errs.Wrap(err, "lti: read platform keys")
	}
	now := t.now()
	fresh := err == nil && now.Sub(d.FetchedAt) < jwksMaxAge
	if fresh {
		if k, ok := findKey(d.JWKS, kid); ok {
			return k, nil
		}
		if now.Sub(d.FetchedAt) < jwksMinRefetch {
			return nil, errUnknownKey
		}
	}
	var set jose.JSONWebKeySet
	if err := t.getJSON(ctx, jwksURL, "", "application/json", &set); err != nil {
		// A platform briefly down should not stop launches signed by a
		// key Margin already has.
		if k, ok := findKey(d.JWKS, kid); ok {
			return k, nil
		}
		return nil, err
	}
	raw, err := json.Marshal(set)
	if err != nil {
		return nil, errs.Wrap(err, "lti: encode platform keys")
	}
	_, err = t.col(colPlatformKeys).ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}},
		platformKeysDoc{ID: id, URL: jwksURL, JWKS: string(raw), FetchedAt: now.UTC()}, replaceUpsert())
	if err != nil {
		return nil, errs.Wrap(err, "lti: save platform keys")
	}
	if k, ok := findKey(string(raw), kid); ok {
		return k, nil
	}
	return nil, errUnknownKey
}

// findKey returns the public signing key with kid in a stored JWKS.
func findKey(raw, kid string) (*jose.JSONWebKey, bool) {
	var set jose.JSONWebKeySet
	if json.Unmarshal([]byte(raw), &set) != nil {
		return nil, false
	}
	for _, k := range set.Key(kid) {
		if k.IsPublic() && (k.Use == "" || k.Use == "sig") {
			return &k, true
		}
	}
	return nil, false
}
