package account

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/errs"
)

// SessionTTL is how long a sign-in lasts.
const SessionTTL = 30 * 24 * time.Hour

// CacheTTL is how long a process trusts a session it has checked before it
// reads the session and its user again. Within one process, signing out and
// EndSessions take effect at once; in another process, within CacheTTL.
const CacheTTL = 5 * time.Second

// cacheSize bounds the sessions a process remembers (the least recently
// used go first).
const cacheSize = 10_000

type sessionDoc struct {
	ID        string    `bson:"_id"` // sha256(token), hex
	UserID    string    `bson:"user_id"`
	CreatedAt time.Time `bson:"created_at"`
	ExpiresAt time.Time `bson:"expires_at"`
	// Epoch is the user's session epoch when the session started; the
	// session ends when the user's epoch moves past it.
	Epoch int `bson:"epoch,omitempty"`
}

// cachedSession is a session checked a moment ago, with its user.
type cachedSession struct {
	user      User
	expiresAt time.Time
}

// sessionCache remembers checked sessions for CacheTTL, keyed by the token's
// hash, so that a signed-in request costs no store read most of the time.
type sessionCache struct {
	lru *expirable.LRU[string, cachedSession]
	// gen moves on whenever sessions are forgotten, so that a check that
	// read the store before then does not cache what it read.
	gen atomic.Uint64
}

func newSessionCache() *sessionCache {
	return &sessionCache{lru: expirable.NewLRU[string, cachedSession](cacheSize, nil, CacheTTL)}
}

// add caches a checked session unless sessions were forgotten since gen.
func (c *sessionCache) add(gen uint64, key string, v cachedSession) {
	if c.gen.Load() == gen {
		c.lru.Add(key, v)
	}
}

// forget drops one cached session.
func (c *sessionCache) forget(key string) {
	c.gen.Add(1)
	c.lru.Remove(key)
}

// forgetUser drops every cached session of a user.
func (c *sessionCache) forgetUser(userID string) {
	c.gen.Add(1)
	for _, k := range c.lru.Keys() {
		if v, ok := c.lru.Peek(k); ok && v.user.ID == userID {
			c.lru.Remove(k)
		}
	}
}

// StartSession issues a new bearer token for a user who has proven who they
// are (by password, or by a student's access link). Returns NotFound for an
// unknown user.
func (s *Service) StartSession(ctx context.Context, userID string) (string, error) {
	d, err := s.userDoc(ctx, userID)
	if err != nil {
		return "", err
	}
	return s.startSession(ctx, d)
}

// startSession starts a session at the user's current epoch. A concurrent
// EndSessions that moves the epoch after d was read ends it too.
func (s *Service) startSession(ctx context.Context, d userDoc) (string, error) {
	tok := NewToken()
	now := s.now()
	_, err := s.sessions.InsertOne(ctx, sessionDoc{ID: HashToken(tok), UserID: d.ID, CreatedAt: now, ExpiresAt: now.Add(SessionTTL), Epoch: d.Epoch})
	if err != nil {
		return "", errs.Wrap(err, "insert session")
	}
	return tok, nil
}

// Authenticate returns the user a bearer token belongs to. Returns
// Unauthenticated if the token is unknown, expired or signed out, if the
// user's sessions were ended (EndSessions), or if it is a student account
// that belongs to no class (the school-wide student accounts of earlier
// versions, which no longer sign in).
func (s *Service) Authenticate(ctx context.Context, token string) (User, error) {
	ended := errs.E(errs.Unauthenticated, "Your session has ended; sign in again.")
	if token == "" || len(token) > 128 {
		return User{}, errs.E(errs.Unauthenticated, "Sign in first.")
	}
	key := HashToken(token)
	if c, ok := s.cache.lru.Get(key); ok {
		if !s.now().Before(c.expiresAt) {
			return User{}, ended
		}
		return c.user, nil
	}
	gen := s.cache.gen.Load()
	var sd sessionDoc
	err := s.sessions.FindOne(ctx, bson.M{"_id": key}).Decode(&sd)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && !s.now().Before(sd.ExpiresAt)) {
		return User{}, ended
	} else if err != nil {
		return User{}, errs.Wrap(err, "find session")
	}
	d, err := s.userDoc(ctx, sd.UserID)
	if errs.Is(err, errs.NotFound) {
		return User{}, ended
	} else if err != nil {
		return User{}, err
	}
	if sd.Epoch < d.Epoch || d.Role == Student && d.ClassID == "" {
		return User{}, ended
	}
	u := d.user()
	s.cache.add(gen, key, cachedSession{user: u, expiresAt: sd.ExpiresAt})
	return u, nil
}

// Logout ends the session of token. Ending an unknown session is not an
// error.
func (s *Service) Logout(ctx context.Context, token string) error {
	key := HashToken(token)
	if _, err := s.sessions.DeleteOne(ctx, bson.M{"_id": key}); err != nil {
		return errs.Wrap(err, "delete session")
	}
	s.cache.forget(key)
	return nil
}

// EndSessions ends every session of a user at once ("sign out
// everywhere"): it moves the user's session epoch on, so no session
// started before is accepted again, without reading the sessions. Ending
// the sessions of an unknown user is not an error.
func (s *Service) EndSessions(ctx context.Context, userID string) error {
	if _, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: userID}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "session_epoch", Value: 1}}}}); err != nil {
		return errs.Wrap(err, "end sessions")
	}
	s.cache.forgetUser(userID)
	return nil
}

func (s *Service) userDoc(ctx context.Context, id string) (userDoc, error) {
	var d userDoc
	err := s.users.FindOne(ctx, bson.M{"_id": id}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return userDoc{}, errs.E(errs.NotFound, "No such user.")
	} else if err != nil {
		return userDoc{}, errs.Wrap(err, "find user")
	}
	return d, nil
}
