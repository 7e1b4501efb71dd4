package lti

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/marginschool/margin/pkg/errs"
)

// Grade passback. A linked assignment has one gradebook document: its
// line item and, per student, the version of their score Margin wants on
// the platform and the version the platform has. Release queues scores
// (one read, two writes: it never waits for the platform), and
// DeliverScores posts them from a small outbox of gradebooks with work,
// claimed with a lease. A score is posted once per (line item, user,
// version); a delivery that dies midway is taken up again when its lease
// runs out, and posting the same version twice changes nothing on the
// platform (the score's timestamp is the version's).

type gradebookDoc struct {
	ID             string              `bson:"_id"` // hashID("gradebook", assignment ID)
	AssignmentID   string              `bson:"assignment_id"`
	ContextKey     string              `bson:"context_key"`
	RegistrationID string              `bson:"registration_id"`
	ResourceLinkID string              `bson:"resource_link_id"`
	Label          string              `bson:"label"`
	LineItemsURL   string              `bson:"lineitems_url,omitempty"`
	LineItemURL    string              `bson:"lineitem_url,omitempty"`
	Scores         map[string]scoreDoc `bson:"scores"` // by memberKey of the platform user ID
}

type scoreDoc struct {
	UserID        string    `bson:"user_id"`
	StudentID     string    `bson:"student_id"`
	Version       string    `bson:"version"` // wanted on the platform
	Given         float64   `bson:"given"`
	Maximum       float64   `bson:"maximum"`
	Comment       string    `bson:"comment"`
	GradedAt      time.Time `bson:"graded_at"`
	PostedVersion string    `bson:"posted_version,omitempty"` // on the platform
	PostedAt      time.Time `bson:"posted_at,omitempty"`
	FailedVersion string    `bson:"failed_version,omitempty"` // given up on
	Attempts      int       `bson:"attempts"`                 // deliveries of Version that failed
	Error         string    `bson:"error,omitempty"`          // the platform's last answer
	NextAt        time.Time `bson:"next_at,omitempty"`        // retry not before
}

func (s scoreDoc) settled() bool { return s.PostedVersion == s.Version || s.FailedVersion == s.Version }

type outboxDoc struct {
	ID         string    `bson:"_id"` // gradebook _id
	Gen        int64     `bson:"gen"` // bumped by every QueueScores
	LeaseUntil time.Time `bson:"lease_until"`
}

func gradebookID(assignmentID string) string { return hashID("gradebook", assignmentID) }

// linkAssignment ties an assignment to the gradebook column of the launch
// that named it (or to the course's line items, to find or create one).
func (t *Tool) linkAssignment(ctx context.Context, l *Launch, assignmentID, title string) error {
	if l.AGS == nil || (l.AGS.LineItem == "" && l.AGS.LineItems == "") {
		return nil
	}
	set := bson.D{
		{Key: "assignment_id", Value: assignmentID}, {Key: "context_key", Value: l.ContextKey()},
		{Key: "registration_id", Value: l.RegistrationID}, {Key: "resource_link_id", Value: l.ResourceLink.ID},
		{Key: "label", Value: firstNonEmpty(title, l.ResourceLink.Title, "Margin assignment")},
		{Key: "lineitems_url", Value: l.AGS.LineItems},
	}
	if l.AGS.LineItem != "" {
		set = append(set, bson.E{Key: "lineitem_url", Value: l.AGS.LineItem})
	}
	_, err := t.col(colGradebooks).UpdateOne(ctx, bson.D{{Key: "_id", Value: gradebookID(assignmentID)}},
		bson.D{{Key: "$set", Value: set}, {Key: "$setOnInsert", Value: bson.D{{Key: "scores", Value: bson.D{}}}}}, upsert())
	return errs.Wrap(err, "lti: link assignment")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// StudentScore is a student's released score for an assignment.
type StudentScore struct {
	StudentID string    // the student's ID in the class
	Version   string    // the graded version; a new one replaces the score
	Given     float64   // weighted rubric points
	Maximum   float64   // out of
	Comment   string    // e.g. a link to the feedback in Margin
	GradedAt  time.Time // when this version was graded: the score's timestamp
}

// QueueScores queues scores for posting to the gradebook column of a
// linked assignment, and returns how many it queued. Scores of students
// Margin has not seen through the LMS, of a version already queued or
// posted, or older than the one queued are skipped. It does not call the
// platform; DeliverScores does. It returns errs.NotFound when the
// assignment is not linked to an LMS gradebook, or an internal error.
func (t *Tool) QueueScores(ctx context.Context, assignmentID string, scores []StudentScore) (int, error) {
	gb, err := t.gradebook(ctx, assignmentID)
	if err != nil {
		return 0, err
	}
	c, err := t.context(ctx, gb.ContextKey)
	if err != nil {
		return 0, err
	}
	byStudent := map[string]string{}
	for k, m := range c.Members {
		if m.Role == RoleStudent {
			byStudent[m.StudentID] = k
		}
	}
	set := bson.D{}
	for _, s := range scores {
		k, ok := byStudent[s.StudentID]
		if !ok {
			continue
		}
		prev, had := gb.Scores[k]
		if had && (prev.Version == s.Version || prev.GradedAt.After(s.GradedAt)) {
			continue
		}
		prev.UserID, prev.StudentID, prev.Version = c.Members[k].UserID, s.StudentID, s.Version
		prev.Given, prev.Maximum, prev.Comment, prev.GradedAt = s.Given, s.Maximum, s.Comment, s.GradedAt.UTC()
		prev.Attempts, prev.Error, prev.NextAt = 0, "", time.Time{}
		set = append(set, bson.E{Key: "scores." + k, Value: prev})
	}
	if len(set) == 0 {
		return 0, nil
	}
	if _, err := t.col(colGradebooks).UpdateOne(ctx, bson.D{{Key: "_id", Value: gb.ID}}, bson.D{{Key: "$set", Value: set}}); err != nil {
		return 0, errs.Wrap(err, "lti: queue scores")
	}
	return len(set), t.wake(ctx, gb.ID)
}

// wake puts a gradebook in the outbox.
func (t *Tool) wake(ctx context.Context, id string) error {
	_, err := t.col(colOutbox).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{
		{Key: "$inc", Value: bson.D{{Key: "gen", Value: 1}}},
		{Key: "$setOnInsert", Value: bson.D{{Key: "lease_until", Value: time.Time{}}}},
	}, upsert())
	return errs.Wrap(err, "lti: queue delivery")
}

func (t *Tool) gradebook(ctx context.Context, assignmentID string) (gradebookDoc, error) {
	var gb gradebookDoc
	err := t.col(colGradebooks).FindOne(ctx, bson.D{{Key: "_id", Value: gradebookID(assignmentID)}}).Decode(&gb)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return gb, errs.E(errs.NotFound, "The assignment %q is not linked to an LMS gradebook.", assignmentID)
	}
	return gb, errs.Wrap(err, "lti: read gradebook")
}

// RetryScores queues again every score of the assignment the platform
// refused or Margin gave up on, for a teacher's "try again". It returns
// how many, errs.NotFound when the assignment is not linked, or an
// internal error.
func (t *Tool) RetryScores(ctx context.Context, assignmentID string) (int, error) {
	gb, err := t.gradebook(ctx, assignmentID)
	if err != nil {
		return 0, err
	}
	set := bson.D{}
	for k, s := range gb.Scores {
		if s.FailedVersion == s.Version && s.PostedVersion != s.Version {
			set = append(set, bson.E{Key: "scores." + k + ".failed_version", Value: ""}, bson.E{Key: "scores." + k + ".attempts", Value: 0},
				bson.E{Key: "scores." + k + ".next_at", Value: time.Time{}})
		}
	}
	if len(set) == 0 {
		return 0, nil
	}
	if _, err := t.col(colGradebooks).UpdateOne(ctx, bson.D{{Key: "_id", Value: gb.ID}}, bson.D{{Key: "$set", Value: set}}); err != nil {
		return 0, errs.Wrap(err, "lti: retry scores")
	}
	return len(set) / 3, t.wake(ctx, gb.ID)
}

// ScoreStatus is where one student's score stands.
type ScoreStatus struct {
	StudentID string    `json:"student_id"`
	Version   string    `json:"version"`
	Given     float64   `json:"given"`
	Maximum   float64   `json:"maximum"`
	Status    string    `json:"status"` // queued, retrying, posted or failed
	Attempts  int       `json:"attempts"`
	Error     string    `json:"error,omitempty"` // the platform's last answer, for the teacher
	PostedAt  time.Time `json:"posted_at,omitzero"`
}

// Score statuses.
const (
	ScoreQueued   = "queued"
	ScoreRetrying = "retrying"
	ScorePosted   = "posted"
	ScoreFailed   = "failed"
)

// Gradebook returns where every queued score of an assignment stands,
// by student ID, for the teacher. It returns errs.NotFound when the
// assignment is not linked, or an internal error.
func (t *Tool) Gradebook(ctx context.Context, assignmentID string) ([]ScoreStatus, error) {
	gb, err := t.gradebook(ctx, assignmentID)
	if err != nil {
		return nil, err
	}
	out := make([]ScoreStatus, 0, len(gb.Scores))
	for _, s := range gb.Scores {
		st := ScoreStatus{StudentID: s.StudentID, Version: s.Version, Given: s.Given, Maximum: s.Maximum, Attempts: s.Attempts, Error: s.Error}
		switch {
		case s.PostedVersion == s.Version:
			st.Status, st.PostedAt = ScorePosted, s.PostedAt
		case s.FailedVersion == s.Version:
			st.Status = ScoreFailed
		case s.Attempts > 0:
			st.Status = ScoreRetrying
		default:
			st.Status = ScoreQueued
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b ScoreStatus) int { return strings.Compare(a.StudentID, b.StudentID) })
	return out, nil
}

// Delivery timing: a delivery holds its lease this long; a score that
// failed for a reason that may pass is tried again after these delays,
// then given up (the teacher sees why and can retry).
const deliveryLease = 10 * time.Minute

var redeliveries = []time.Duration{time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour}

// DeliverScores claims one gradebook with queued scores, posts them (each
// with PostScore's retries), records every outcome, and reports how many
// scores it posted; 0 with a nil error means nothing was due. The line
// item is found or created first when the link did not come with one.
// It returns an internal error if the store fails; a platform's refusal
// is recorded against the score, not returned.
func (t *Tool) DeliverScores(ctx context.Context) (int, error) {
	now := t.now().UTC()
	var ob outboxDoc
	err := t.col(colOutbox).FindOneAndUpdate(ctx,
		bson.D{{Key: "lease_until", Value: bson.D{{Key: "$lte", Value: now}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "lease_until", Value: now.Add(deliveryLease)}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&ob)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, errs.Wrap(err, "lti: claim delivery")
	}
	var gb gradebookDoc
	if err := t.col(colGradebooks).FindOne(ctx, bson.D{{Key: "_id", Value: ob.ID}}).Decode(&gb); err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			_, err = t.col(colOutbox).DeleteOne(ctx, bson.D{{Key: "_id", Value: ob.ID}})
		}
		return 0, errs.Wrap(err, "lti: read gradebook")
	}
	reg, err := t.Registration(ctx, gb.RegistrationID)
	if err != nil {
		return 0, err
	}

	due := map[string]scoreDoc{}
	for k, s := range gb.Scores {
		if !s.settled() && !s.NextAt.After(now) {
			due[k] = s
		}
	}
	var lineErr error
	if len(due) > 0 && gb.LineItemURL == "" {
		lineErr = t.ensureLineItem(ctx, reg, &gb, due)
	}
	posted := 0
	set := bson.D{}
	field := func(k, f string, v any) { set = append(set, bson.E{Key: "scores." + k + "." + f, Value: v}) }
	for k, s := range due {
		err := lineErr
		if err == nil {
			err = t.PostScore(ctx, reg, gb.LineItemURL, GradedScore(s.UserID, s.Given, s.Maximum, s.Comment, s.GradedAt))
		}
		if err == nil {
			posted++
			field(k, "posted_version", s.Version)
			field(k, "posted_at", t.now().UTC())
			field(k, "error", "")
			continue
		}
		s.Attempts++
		field(k, "attempts", s.Attempts)
		field(k, "error", errorText(err))
		if retryable(err) && s.Attempts <= len(redeliveries) {
			field(k, "next_at", t.now().Add(redeliveries[s.Attempts-1]).UTC())
		} else {
			field(k, "failed_version", s.Version)
		}
		t.log.Warn("lti: score not posted", "assignment", gb.AssignmentID, "student", s.StudentID, "attempt", s.Attempts, "err", err)
	}
	if len(set) > 0 {
		if _, err := t.col(colGradebooks).UpdateOne(ctx, bson.D{{Key: "_id", Value: gb.ID}}, bson.D{{Key: "$set", Value: set}}); err != nil {
			return posted, errs.Wrap(err, "lti: record deliveries")
		}
	}
	return posted, t.release(ctx, ob)
}

// ensureLineItem finds or creates the gradebook column of a link that
// came without one, and remembers it.
func (t *Tool) ensureLineItem(ctx context.Context, reg Registration, gb *gradebookDoc, due map[string]scoreDoc) error {
	if gb.LineItemsURL == "" {
		return errs.E(errs.Unprocessable, "The LMS gave Margin no gradebook column for this assignment.")
	}
	maximum := 0.0
	for _, s := range due {
		maximum = max(maximum, s.Maximum)
	}
	li, err := t.FindOrCreateLineItem(ctx, reg, gb.LineItemsURL, LineItem{
		Label: gb.Label, ScoreMaximum: maximum, ResourceLinkID: gb.ResourceLinkID, ResourceID: gb.AssignmentID,
	})
	if err != nil {
		return err
	}
	gb.LineItemURL = li.ID
	_, err = t.col(colGradebooks).UpdateOne(ctx, bson.D{{Key: "_id", Value: gb.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "lineitem_url", Value: li.ID}}}})
	return errs.Wrap(err, "lti: save line item")
}

// release ends a delivery: the gradebook leaves the outbox when all its
// scores are settled and nothing was queued meanwhile; otherwise its
// lease is shortened to its next retry.
func (t *Tool) release(ctx context.Context, ob outboxDoc) error {
	var gb gradebookDoc
	if err := t.col(colGradebooks).FindOne(ctx, bson.D{{Key: "_id", Value: ob.ID}}).Decode(&gb); err != nil {
		return errs.Wrap(err, "lti: reread gradebook")
	}
	pending, next := false, time.Time{}
	for _, s := range gb.Scores {
		if !s.settled() && (!pending || s.NextAt.Before(next)) {
			pending, next = true, s.NextAt
		}
	}
	if !pending {
		res, err := t.col(colOutbox).DeleteOne(ctx, bson.D{{Key: "_id", Value: ob.ID}, {Key: "gen", Value: ob.Gen}})
		if err != nil || res.DeletedCount == 1 {
			return errs.Wrap(err, "lti: finish delivery")
		}
	}
	_, err := t.col(colOutbox).UpdateOne(ctx, bson.D{{Key: "_id", Value: ob.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "lease_until", Value: next.UTC()}}}})
	return errs.Wrap(err, "lti: release delivery")
}

// errorText is the message a teacher sees for a failed post.
func errorText(err error) string {
	var e *errs.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// Run delivers queued scores and sweeps expired logins until ctx ends:
// the background loop of a process that serves LTI. It polls every
// interval when there is nothing to do.
func (t *Tool) Run(ctx context.Context, interval time.Duration) {
	lastSweep := time.Time{}
	for ctx.Err() == nil {
		if t.now().Sub(lastSweep) > 5*time.Minute {
			if err := t.Sweep(ctx); err != nil && ctx.Err() == nil {
				t.log.Error("lti: sweep", "err", err)
			}
			lastSweep = t.now()
		}
		n, err := t.DeliverScores(ctx)
		if err != nil && ctx.Err() == nil {
			t.log.Error("lti: deliver scores", "err", err)
		}
		if n == 0 || err != nil {
			_ = t.sleep(ctx, interval)
		}
	}
}
