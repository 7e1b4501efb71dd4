package lti

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/marginschool/margin/pkg/errs"
)

// What LTI needs from the rest of Margin. The wiring implements these
// over accounts and intake; this package calls them and keeps its own
// record of which LMS person is which Margin student (lti_contexts).

// Course is an LMS course as Margin's class. Key is stable for the
// (issuer, deployment, context) and is what EnsureClass must be
// idempotent on.
type Course struct {
	Key          string
	Issuer       string
	DeploymentID string
	ContextID    string
	Title        string
	Label        string
}

// Person is an LMS user. Issuer and Subject identify a teacher's account;
// StudentID is a student's ID in the class (their SIS ID when the
// platform shares it, else the platform's user ID), fixed the first time
// Margin sees them in the course. Names and email are empty unless the
// platform shares them.
type Person struct {
	Issuer     string
	Subject    string
	StudentID  string
	Name       string
	GivenName  string
	FamilyName string
	Email      string
}

// Roster is what roster sync needs: enrolment by (class, student ID) and
// teachers by (issuer, subject). Each method is idempotent.
type Roster interface {
	// EnsureTeacher returns the teacher account for (p.Issuer,
	// p.Subject), creating it or updating its name and email, and makes
	// it a teacher of classID.
	EnsureTeacher(ctx context.Context, classID string, p Person) (userID string, err error)
	// EnsureStudent enrols p in classID under p.StudentID, creating the
	// enrolment or updating its name and email, and clearing "left" if it
	// was set. It returns the student's user ID.
	EnsureStudent(ctx context.Context, classID string, p Person) (userID string, err error)
	// MarkStudentLeft marks the enrolment as left the course. The
	// student's work and feedback stay.
	MarkStudentLeft(ctx context.Context, classID, studentID string) error
}

// Directory is what a launch needs: the Roster, the class of a course,
// and the class of an assignment a link names.
type Directory interface {
	Roster
	// EnsureClass returns the class for c, creating it the first time
	// (idempotent on c.Key) and updating its title.
	EnsureClass(ctx context.Context, c Course) (classID string, err error)
	// AssignmentClass returns the class and title of an assignment, or
	// errs.NotFound.
	AssignmentClass(ctx context.Context, assignmentID string) (classID, title string, err error)
}

// contextDoc is one LMS course: its class, its service endpoints and the
// members Margin has seen, keyed by hashID of their platform user ID.
type contextDoc struct {
	ID             string               `bson:"_id"` // ContextKey
	RegistrationID string               `bson:"registration_id"`
	Issuer         string               `bson:"iss"`
	DeploymentID   string               `bson:"deployment_id"`
	ContextID      string               `bson:"context_id"`
	Title          string               `bson:"title"`
	ClassID        string               `bson:"class_id"`
	MembershipsURL string               `bson:"memberships_url,omitempty"`
	LineItemsURL   string               `bson:"lineitems_url,omitempty"`
	SyncedAt       time.Time            `bson:"synced_at,omitempty"`
	Members        map[string]memberDoc `bson:"members"`
}

type memberDoc struct {
	UserID    string `bson:"user_id"`
	StudentID string `bson:"student_id,omitempty"` // students only
	Role      Role   `bson:"role"`
	Left      bool   `bson:"left,omitempty"`
}

func memberKey(userID string) string { return hashID("member", userID) }

// Entry is where a launch takes a person in Margin.
type Entry struct {
	ClassID string
	UserID  string
	Role    Role
	// AssignmentID is the assignment the link names, when it is one of
	// this class's; empty otherwise.
	AssignmentID string
	// SyncDue says the course's roster was not synced in the last hour
	// and the platform offers it: run SyncRoster (in the background).
	SyncDue bool
}

// rosterSyncEvery is how stale a roster may be before a teacher's launch
// asks for a sync.
const rosterSyncEvery = time.Hour

// Enter makes a validated resource link launch count in Margin: the
// course's class exists, the person is its teacher or an enrolled student
// (a learner needs no access link), and a link that names one of the
// class's assignments is tied to the launch's gradebook column.
//
// It returns errs.Unprocessable when the launch has no course, errs.Forbidden
// when the person's role has no place in Margin (or a learner sent a deep
// linking request), what the Directory returns, or an internal error.
func (t *Tool) Enter(ctx context.Context, l *Launch, dir Directory) (Entry, error) {
	if l.Context.ID == "" {
		return Entry{}, errs.E(errs.Unprocessable, "Open Margin from a course: this launch came from outside one.")
	}
	if l.Role == RoleNone {
		return Entry{}, errs.E(errs.Forbidden, "Margin is for a course's teachers and students; your role in this course is neither.")
	}
	if l.MessageType == MessageDeepLinking && l.Role != RoleTeacher {
		return Entry{}, errs.E(errs.Forbidden, "Only a course's teachers can add Margin assignments to it.")
	}
	key := l.ContextKey()
	set := bson.D{
		{Key: "registration_id", Value: l.RegistrationID}, {Key: "iss", Value: l.Issuer},
		{Key: "deployment_id", Value: l.DeploymentID}, {Key: "context_id", Value: l.Context.ID}, {Key: "title", Value: l.Context.Title},
	}
	if l.NRPS != nil && l.NRPS.MembershipsURL != "" {
		set = append(set, bson.E{Key: "memberships_url", Value: l.NRPS.MembershipsURL})
	}
	if l.AGS != nil && l.AGS.LineItems != "" {
		set = append(set, bson.E{Key: "lineitems_url", Value: l.AGS.LineItems})
	}
	if _, err := t.col(colContexts).UpdateOne(ctx, bson.D{{Key: "_id", Value: key}}, bson.D{{Key: "$set", Value: set}}, upsert()); err != nil {
		return Entry{}, errs.Wrap(err, "lti: save course")
	}
	c, err := t.context(ctx, key)
	if err != nil {
		return Entry{}, err
	}
	if c.ClassID == "" {
		c.ClassID, err = dir.EnsureClass(ctx, Course{Key: key, Issuer: l.Issuer, DeploymentID: l.DeploymentID, ContextID: l.Context.ID, Title: l.Context.Title, Label: l.Context.Label})
		if err != nil {
			return Entry{}, err
		}
		if _, err := t.col(colContexts).UpdateOne(ctx, bson.D{{Key: "_id", Value: key}}, bson.D{{Key: "$set", Value: bson.D{{Key: "class_id", Value: c.ClassID}}}}); err != nil {
			return Entry{}, errs.Wrap(err, "lti: save class")
		}
	}
	p := Person{Issuer: l.Issuer, Subject: l.Subject, Name: l.Name, GivenName: l.GivenName, FamilyName: l.FamilyName, Email: l.Email}
	e := Entry{ClassID: c.ClassID, Role: l.Role}
	m, err := t.enrol(ctx, dir, c, p, l.SourcedID, l.Role, &e.UserID)
	if err != nil {
		return Entry{}, err
	}
	if err := t.saveMembers(ctx, key, map[string]memberDoc{memberKey(l.Subject): m}, false); err != nil {
		return Entry{}, err
	}
	if id := l.Custom[CustomAssignmentID]; id != "" && l.MessageType == MessageResourceLink {
		classID, title, err := dir.AssignmentClass(ctx, id)
		switch {
		case err == nil && classID == c.ClassID:
			e.AssignmentID = id
			if err := t.linkAssignment(ctx, l, id, title); err != nil {
				return Entry{}, err
			}
		case err == nil || errs.Is(err, errs.NotFound):
			t.log.Warn("lti: link names an assignment of another class", "assignment", id, "course", key)
		default:
			return Entry{}, err
		}
	}
	e.SyncDue = l.Role == RoleTeacher && c.MembershipsURL != "" && t.now().Sub(c.SyncedAt) > rosterSyncEvery
	return e, nil
}

// enrol makes p the class's teacher or student and returns the member
// record to keep; a student's ID is fixed the first time they are seen.
func (t *Tool) enrol(ctx context.Context, r Roster, c contextDoc, p Person, sourcedID string, role Role, userID *string) (memberDoc, error) {
	m := memberDoc{UserID: p.Subject, Role: role}
	var err error
	if role == RoleTeacher {
		*userID, err = r.EnsureTeacher(ctx, c.ClassID, p)
		return m, err
	}
	m.StudentID = c.Members[memberKey(p.Subject)].StudentID
	if m.StudentID == "" {
		m.StudentID = sourcedID
	}
	if m.StudentID == "" {
		m.StudentID = p.Subject
	}
	p.StudentID = m.StudentID
	*userID, err = r.EnsureStudent(ctx, c.ClassID, p)
	return m, err
}

func (t *Tool) context(ctx context.Context, key string) (contextDoc, error) {
	var c contextDoc
	err := t.col(colContexts).FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&c)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return c, errs.E(errs.NotFound, "No LMS course with key %q.", key)
	}
	return c, errs.Wrap(err, "lti: read course")
}

// saveMembers records members by dotted paths, so that a launch and a
// sync at the same time each keep their own.
func (t *Tool) saveMembers(ctx context.Context, key string, ms map[string]memberDoc, synced bool) error {
	set := bson.D{}
	for k, m := range ms {
		set = append(set, bson.E{Key: "members." + k, Value: m})
	}
	if synced {
		set = append(set, bson.E{Key: "synced_at", Value: t.now().UTC()})
	}
	if len(set) == 0 {
		return nil
	}
	_, err := t.col(colContexts).UpdateOne(ctx, bson.D{{Key: "_id", Value: key}}, bson.D{{Key: "$set", Value: set}})
	return errs.Wrap(err, "lti: save members")
}

// SyncResult counts what a roster sync changed.
type SyncResult struct {
	Added   int `json:"added"`   // students enrolled (or back) since the last sync
	Updated int `json:"updated"` // students already enrolled, names and emails refreshed
	Left    int `json:"left"`    // students marked as having left
	Members int `json:"members"` // people in the platform's roster
}

// SyncRoster brings the class of the course with key (Launch.ContextKey)
// in line with the platform's roster (NRPS): active learners are enrolled
// or updated, active instructors made teachers, and students who are
// inactive, deleted or gone from the roster marked as left; nothing is
// deleted. It returns errs.NotFound for an unknown course,
// errs.Unprocessable when the platform does not share its roster,
// errs.Unavailable when it cannot be reached or refuses, what the Roster
// returns, or an internal error.
func (t *Tool) SyncRoster(ctx context.Context, key string, r Roster) (SyncResult, error) {
	c, err := t.context(ctx, key)
	if err != nil {
		return SyncResult{}, err
	}
	if c.MembershipsURL == "" || c.ClassID == "" {
		return SyncResult{}, errs.E(errs.Unprocessable, "The LMS does not share this course's roster with Margin.")
	}
	reg, err := t.Registration(ctx, c.RegistrationID)
	if err != nil {
		return SyncResult{}, err
	}
	members, err := t.Members(ctx, reg, c.MembershipsURL)
	if err != nil {
		return SyncResult{}, err
	}
	res := SyncResult{Members: len(members)}
	changed := map[string]memberDoc{}
	seen := map[string]bool{}
	for _, m := range members {
		k := memberKey(m.UserID)
		seen[k] = true
		prev, known := c.Members[k]
		role := MarginRole(m.Roles)
		switch {
		case role == RoleNone:
		case !m.Active():
			if known && prev.Role == RoleStudent && !prev.Left {
				if err := r.MarkStudentLeft(ctx, c.ClassID, prev.StudentID); err != nil {
					return res, err
				}
				prev.Left = true
				changed[k] = prev
				res.Left++
			}
		default:
			p := Person{Issuer: c.Issuer, Subject: m.UserID, Name: m.Name, GivenName: m.GivenName, FamilyName: m.FamilyName, Email: m.Email}
			if p.Name == "" {
				p.Name = trimJoin(m.GivenName, m.FamilyName)
			}
			var uid string
			md, err := t.enrol(ctx, r, c, p, m.SourcedID, role, &uid)
			if err != nil {
				return res, err
			}
			if role == RoleStudent {
				if known && prev.Role == RoleStudent && !prev.Left {
					res.Updated++
				} else {
					res.Added++
				}
			}
			changed[k] = md
		}
	}
	for k, prev := range c.Members {
		if !seen[k] && prev.Role == RoleStudent && !prev.Left {
			if err := r.MarkStudentLeft(ctx, c.ClassID, prev.StudentID); err != nil {
				return res, err
			}
			prev.Left = true
			changed[k] = prev
			res.Left++
		}
	}
	return res, t.saveMembers(ctx, key, changed, true)
}
