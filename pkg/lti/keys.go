package lti

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/pkg/mongostore"
)

// Margin's signing keys live in one document, so that a rotation is one
// atomic, version-checked write. At any time the set holds the key that
// signs (the latest whose Active has come), the next key (published a
// whole rotation period before it signs, so platforms that cache Margin's
// JWKS already know it), and retired keys until every token they signed
// has expired.

const keysetID = "keyset"

type keyDoc struct {
	KID    string    `bson:"kid"`
	PKCS8  []byte    `bson:"pkcs8"`
	Active time.Time `bson:"active"` // when it starts signing
}

type keysetDoc struct {
	ID      string   `bson:"_id"`
	Version int64    `bson:"version"`
	Keys    []keyDoc `bson:"keys"` // ordered by Active
}

type signingKey struct {
	kid    string
	priv   *rsa.PrivateKey
	active time.Time
}

type keyset struct {
	version int64
	keys    []signingKey // ordered by active
}

// current is the key that signs at now.
func (ks *keyset) current(now time.Time) (signingKey, bool) {
	for i := len(ks.keys) - 1; i >= 0; i-- {
		if !ks.keys[i].active.After(now) {
			return ks.keys[i], true
		}
	}
	return signingKey{}, false
}

// retention is how long a key stays published after the next one took
// over: the lifetime of what it signed, plus how stale a process's view
// of the set may be.
func (t *Tool) retention() time.Duration { return t.cfg.TokenLifetime + keysetCacheTTL }

// published are the keys a verifier may meet at now: every key not yet
// past its retirement plus retention.
func (t *Tool) published(ks *keyset, now time.Time) []signingKey {
	var out []signingKey
	for i, k := range ks.keys {
		if i+1 < len(ks.keys) && !ks.keys[i+1].active.Add(t.retention()).After(now) {
			continue
		}
		out = append(out, k)
	}
	return out
}

// needsRotation reports whether the set lacks a signing key or a next key.
func needsRotation(ks *keyset, now time.Time) bool {
	n := len(ks.keys)
	return n == 0 || !ks.keys[n-1].active.After(now)
}

// keyset returns the signing keys, rotating them when the next key has
// become current. A process rereads the set at most every keysetCacheTTL.
func (t *Tool) keyset(ctx context.Context) (*keyset, error) {
	now := t.now()
	t.mu.Lock()
	if t.keys != nil && now.Sub(t.keysAt) < keysetCacheTTL && !needsRotation(t.keys, now) {
		ks := t.keys
		t.mu.Unlock()
		return ks, nil
	}
	t.mu.Unlock()
	ks, err := t.loadKeys(ctx)
	if err != nil {
		return nil, err
	}
	if needsRotation(ks, now) {
		if ks, err = t.rotate(ctx, ks, false); err != nil {
			return nil, err
		}
	}
	t.mu.Lock()
	t.keys, t.keysAt = ks, now
	t.mu.Unlock()
	return ks, nil
}

func (t *Tool) loadKeys(ctx context.Context) (*keyset, error) {
	var d keysetDoc
	err := t.col(colKeys).FindOne(ctx, bson.D{{Key: "_id", Value: keysetID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return &keyset{}, nil
	}
	if err != nil {
		return nil, errs.Wrap(err, "lti: read keys")
	}
	ks := &keyset{version: d.Version}
	for _, k := range d.Keys {
		p, err := x509.ParsePKCS8PrivateKey(k.PKCS8)
		if err != nil {
			return nil, errs.Wrap(err, "lti: parse key %s", k.KID)
		}
		rk, ok := p.(*rsa.PrivateKey)
		if !ok {
			return nil, errs.Wrap(errors.New("not an RSA key"), "lti: key %s", k.KID)
		}
		ks.keys = append(ks.keys, signingKey{kid: k.KID, priv: rk, active: k.Active.UTC()})
	}
	return ks, nil
}

// RotateKeys makes the next key sign from now on and publishes a new next
// key. The key that signed until now stays in the JWKS until every token
// it signed has expired. It returns an internal error if the store fails.
func (t *Tool) RotateKeys(ctx context.Context) error {
	ks, err := t.loadKeys(ctx)
	if err != nil {
		return err
	}
	ks, err = t.rotate(ctx, ks, true)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.keys, t.keysAt = ks, t.now()
	t.mu.Unlock()
	return nil
}

// rotate brings the set up to date at now (now: promote the next key even
// if it is not due) and writes it if no other process changed it first;
// if one did, it returns that process's set.
func (t *Tool) rotate(ctx context.Context, ks *keyset, now bool) (*keyset, error) {
	at := t.now()
	keys := append([]signingKey(nil), ks.keys...)
	if now && len(keys) > 0 && keys[len(keys)-1].active.After(at) {
		keys[len(keys)-1].active = at
	}
	if len(keys) == 0 {
		k, err := newKey(at)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if last := keys[len(keys)-1]; !last.active.After(at) {
		k, err := newKey(at.Add(t.cfg.KeyRotation))
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	next := &keyset{version: ks.version + 1, keys: keys}
	next.keys = t.published(next, at)

	docs := make([]keyDoc, len(next.keys))
	for i, k := range next.keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.priv)
		if err != nil {
			return nil, errs.Wrap(err, "lti: encode key")
		}
		docs[i] = keyDoc{KID: k.kid, PKCS8: der, Active: k.active}
	}
	col := t.col(colKeys)
	var err error
	if ks.version == 0 {
		_, err = col.InsertOne(ctx, keysetDoc{ID: keysetID, Version: 1, Keys: docs})
		next.version = 1
	} else {
		var res *mongo.UpdateResult
		res, err = col.UpdateOne(ctx, bson.D{{Key: "_id", Value: keysetID}, {Key: "version", Value: ks.version}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "keys", Value: docs}, {Key: "version", Value: next.version}}}})
		if err == nil && res.MatchedCount == 0 {
			return t.loadKeys(ctx) // another process rotated first
		}
	}
	if err != nil {
		if ks.version == 0 && mongostore.IsDuplicateKey(err) {
			return t.loadKeys(ctx)
		}
		return nil, errs.Wrap(err, "lti: write keys")
	}
	t.log.Info("lti: signing keys rotated", "signing", kidAt(next, at), "published", len(next.keys))
	return next, nil
}

func kidAt(ks *keyset, at time.Time) string {
	k, _ := ks.current(at)
	return k.kid
}

func newKey(active time.Time) (signingKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return signingKey{}, errs.Wrap(err, "lti: generate key")
	}
	tp, err := (&jose.JSONWebKey{Key: &priv.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		return signingKey{}, errs.Wrap(err, "lti: key thumbprint")
	}
	return signingKey{kid: base64.RawURLEncoding.EncodeToString(tp), priv: priv, active: active.UTC()}, nil
}

// JWKS returns Margin's public keys as a JSON Web Key Set, for JWKSPath:
// the key that signs, the next one, and retired ones until every token
// they signed has expired. It returns an internal error if the store fails.
func (t *Tool) JWKS(ctx context.Context) ([]byte, error) {
	ks, err := t.keyset(ctx)
	if err != nil {
		return nil, err
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range t.published(ks, t.now()) {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Algorithm: string(jose.RS256), Use: "sig"})
	}
	b, err := json.Marshal(set)
	return b, errs.Wrap(err, "lti: encode JWKS")
}

// sign returns claims as a compact JWS signed by the current key.
func (t *Tool) sign(ctx context.Context, claims any) (string, error) {
	ks, err := t.keyset(ctx)
	if err != nil {
		return "", err
	}
	k, ok := ks.current(t.now())
	if !ok {
		return "", errs.Wrap(errors.New("no signing key is active"), "lti: sign")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", errs.Wrap(err, "lti: signer")
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	return s, errs.Wrap(err, "lti: sign")
}
