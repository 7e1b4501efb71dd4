package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"
	"golang.org/x/sync/errgroup"

	"github.com/marginschool/margin/pkg/account"
	"github.com/marginschool/margin/services/analytics"
	"github.com/marginschool/margin/services/feedback"
	"github.com/marginschool/margin/services/intake"
	"github.com/marginschool/margin/services/matching"
	"github.com/marginschool/margin/services/payouts/stripeclient/stripemock"
)

// The shape of the bench's school.
const (
	benchClassSize         = 25 // students per class
	benchClassesPerTeacher = 5
	benchStudentsPerGrader = 13
	benchSecondReadShare   = 0.1
	benchPriceCents        = int64(800)
	benchWebhookSecret     = "whsec_bench"
	benchIngestClass       = "Ingest bench" // the class the ingest job creates
	benchLoadClass         = "Load upload"  // the classes bench load's uploaders create
)

// benchSchool is the school the bench built, for the measurements.
type benchSchool struct {
	admin    account.User
	teachers []account.User
	classes  []*benchClass
	graders  map[string]account.User // by user ID
	// open are tasks accepted but not yet graded (one more assignment in
	// the first class), for the grader workspace measure.
	open []benchTask
}

// benchClass is one class and the IDs of its assignments, oldest first.
type benchClass struct {
	intake.Class
	teacher     account.User
	students    []intake.Student
	assignments []string
	// subs are the submission IDs by assignment and student ID, read from
	// intake once the school is built (they are random, not derived).
	subs map[string]map[string]string
}

// submissionIDs fills every class's subs from intake.
func (sc *benchSchool) submissionIDs(ctx context.Context, in *intake.Service) error {
	for _, c := range sc.classes {
		c.subs = make(map[string]map[string]string, len(c.assignments))
		for _, a := range c.assignments {
			c.subs[a] = make(map[string]string, len(c.students))
			for _, st := range c.students {
				sub, err := in.SubmissionOf(ctx, a, st.StudentID)
				if err != nil {
					return fmt.Errorf("submission of %s on %s: %w", st.StudentID, a, err)
				}
				c.subs[a][st.StudentID] = sub.ID
			}
		}
	}
	return nil
}

// benchTask is a grading task and the grader who holds it.
type benchTask struct {
	grader account.User
	id     string
}

// seeder builds the school through the services' own write paths, the
// way teachers, graders and the admin would over a school year.
type seeder struct {
	d    *deps
	o    benchOptions
	sc   *benchSchool
	rec  *storeRecorder // for the weekly log of store time by phase
	logf func(format string, args ...any)
}

// seedSchool builds a school of o.Students students: classes of 25 with a
// teacher per five classes, o.Assignments assignments per class (one per
// "week", every class at once) each graded, approved, released and looked
// at by its teacher, a tenth of the submissions read twice, and one grader
// per 13 students, onboarded to Stripe when it is configured, with their
// earnings ingested into the ledger.
//
// The seeding lifts the store client's 30 s per-operation timeout (which a
// deadline on the context replaces), so that a year can be built even where
// single operations have grown that slow; the phase profile reports the
// slowest operation of each kind, and anything over 30 s would have failed
// a user's request.
func seedSchool(ctx context.Context, d *deps, o benchOptions, rec *storeRecorder, logf func(string, ...any)) (*benchSchool, error) {
	ctx, cancel := context.WithTimeout(ctx, 7*24*time.Hour)
	defer cancel()
	s := &seeder{d: d, o: o, sc: &benchSchool{graders: map[string]account.User{}}, rec: rec, logf: logf}
	if err := s.people(withPhase(ctx, "people")); err != nil {
		return nil, err
	}
	start := time.Now()
	for week := 1; week <= o.Assignments; week++ {
		before, began, cpu := rec.phaseMS(), time.Now(), cpuTime()
		if err := s.week(ctx, week); err != nil {
			return nil, fmt.Errorf("bench: week %d: %w", week, err)
		}
		var phases []string
		for phase, ms := range rec.phaseMS() {
			if d := ms - before[phase]; d >= 100 {
				phases = append(phases, fmt.Sprintf("%s %.1f s", phase, d/1000))
			}
		}
		slices.Sort(phases)
		s.logf("seeded week %d of %d (%d classes) in %s (%s of CPU), %s in all; store time: %s", week, o.Assignments, len(s.sc.classes),
			time.Since(began).Round(time.Second), (cpuTime() - cpu).Round(time.Second), time.Since(start).Round(time.Second), strings.Join(phases, ", "))
	}
	if err := s.openWork(ctx); err != nil {
		return nil, err
	}
	return s.sc, nil
}

// people creates the admin, the teachers and their classes with rosters,
// and the vetted graders.
func (s *seeder) people(ctx context.Context) error {
	const pw = "bench-password-2026"
	var err error
	if s.sc.admin, err = s.d.accounts.Create(ctx, "admin@margin.example.com", pw, "Bench Admin", account.Admin, ""); err != nil {
		return fmt.Errorf("bench admin: %w", err)
	}
	nClasses := max(1, (s.o.Students+benchClassSize-1)/benchClassSize)
	for t := range (nClasses + benchClassesPerTeacher - 1) / benchClassesPerTeacher {
		email, name := fmt.Sprintf("teacher%03d@bench-high.example.org", t), fmt.Sprintf("Teacher %d", t)
		var u account.User
		if t == 0 {
			u, err = s.d.accounts.SignUp(ctx, account.SignUp{Email: email, Password: pw, Name: name, Role: account.Teacher, School: "Bench High"})
		} else {
			u, err = s.d.accounts.Create(ctx, email, pw, name, account.Teacher, s.sc.teachers[0].SchoolID)
		}
		if err != nil {
			return fmt.Errorf("bench teacher: %w", err)
		}
		s.sc.teachers = append(s.sc.teachers, u)
	}
	s.sc.classes = make([]*benchClass, nClasses)
	if err := s.each(ctx, nClasses, func(i int) error { return s.class(ctx, i, nClasses) }); err != nil {
		return err
	}
	nGraders := max(2, s.o.Students/benchStudentsPerGrader)
	graders := make([]account.User, nGraders)
	if err := s.each(ctx, nGraders, func(i int) (err error) { graders[i], err = s.grader(ctx, i, pw); return err }); err != nil {
		return err
	}
	for _, g := range graders {
		s.sc.graders[g.ID] = g
	}
	return nil
}

// class creates class i of n with its share of the students.
func (s *seeder) class(ctx context.Context, i, n int) error {
	teacher := s.sc.teachers[i/benchClassesPerTeacher]
	subject := []string{"english", "history"}[i%2]
	grade := 6 + i%7
	cl, err := s.d.intake.CreateClass(ctx, teacher, intake.ClassInput{Name: fmt.Sprintf("%s %d, section %d", subject, grade, i+1), Subject: subject, GradeLevel: &grade})
	if err != nil {
		return fmt.Errorf("bench class: %w", err)
	}
	from, to := i*s.o.Students/n, (i+1)*s.o.Students/n
	res, err := s.d.intake.ImportRoster(ctx, teacher, cl.ID, strings.NewReader(benchRoster(from, to)))
	if err != nil {
		return fmt.Errorf("bench roster: %w", err)
	}
	if len(res.Errors) > 0 || len(res.Students) != to-from {
		return fmt.Errorf("bench roster: %d students imported of %d, errors %v", len(res.Students), to-from, res.Errors)
	}
	s.sc.classes[i] = &benchClass{Class: cl, teacher: teacher, students: res.Students}
	return nil
}

// benchRoster is the roster CSV of the school's students from to to-1
// (student IDs 100001 on).
func benchRoster(from, to int) string {
	var csv strings.Builder
	csv.WriteString("student_id,given_name,family_name,email\n")
	for st := from; st < to; st++ {
		given, family := benchName(st)
		fmt.Fprintf(&csv, "%d,%s,%s,%s.%s%d@students.bench-high.example.org\n", 100001+st, given, family, strings.ToLower(given), strings.ToLower(family), st)
	}
	return csv.String()
}

// benchName is student i's name, from short lists so that names repeat
// across the school as they do in one.
func benchName(i int) (given, family string) {
	givens := []string{"Avery", "Jordan", "Sam", "Priya", "Mateo", "Lena", "Omar", "Grace", "Kenji", "Zoe", "Ravi", "Ines", "Tomas", "Amara", "Felix", "Nadia", "Hugo", "Leila", "Caleb", "Mina"}
	families := []string{"Rivera", "Okafor", "Lindqvist", "Natarajan", "Alvarez", "Novak", "Haddad", "Kim", "Tanaka", "Moreau", "Singh", "Costa", "Berg", "Mensah", "Weber", "Rahman", "Dubois", "Farah", "Lopez", "Ito", "Kowalski", "Osei", "Popescu"}
	return givens[i%len(givens)], families[(i/len(givens)+i)%len(families)]
}

// grader signs up grader i, saves a profile that fits every class, has the
// admin vet it and, with Stripe configured, onboards it: the Express
// account is created, then Stripe's account.updated webhook (signed, as
// Stripe would send it) says it can receive payouts.
func (s *seeder) grader(ctx context.Context, i int, pw string) (account.User, error) {
	u, err := s.d.accounts.SignUp(ctx, account.SignUp{Email: fmt.Sprintf("grader%03d@graders.example.net", i), Password: pw, Name: fmt.Sprintf("Grader %d", i), Role: account.Grader})
	if err != nil {
		return u, fmt.Errorf("bench grader: %w", err)
	}
	_, err = s.d.matching.SaveProfile(ctx, u, matching.ProfileInput{
		Subjects: []string{"english", "history"}, GradeBands: []matching.GradeBand{{Min: 6, Max: 12}}, Capacity: 80,
		Days: []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"},
		Bio:  "Bench grader.",
	})
	if err != nil {
		return u, fmt.Errorf("bench grader profile: %w", err)
	}
	if _, err := s.d.matching.Vet(ctx, s.sc.admin, u.ID, matching.Approved); err != nil {
		return u, fmt.Errorf("bench vetting: %w", err)
	}
	if !s.d.payouts.StripeConfigured() {
		return u, nil
	}
	_, ob, err := s.d.payouts.StartOnboarding(ctx, u)
	if err != nil {
		return u, fmt.Errorf("bench onboarding: %w", err)
	}
	payload := stripemock.Event("evt_bench_"+u.ID, "account.updated", "", map[string]any{"id": ob.AccountID, "object": "account",
		"payouts_enabled": true, "charges_enabled": true, "details_submitted": true, "requirements": map[string]any{"currently_due": []string{}}})
	sig := stripemock.Sign(payload, benchWebhookSecret, time.Now())
	if _, err := s.d.payouts.HandleWebhook(ctx, payload, sig); err != nil {
		return u, fmt.Errorf("bench onboarding webhook: %w", err)
	}
	return u, nil
}

// week runs one assignment through every class: published with every
// student's file, matched (first reads, then the blind second reads),
// graded, approved, released, and its class summary opened by the teacher;
// then the graders' earnings are ingested.
func (s *seeder) week(ctx context.Context, week int) error {
	classes := s.sc.classes
	if err := s.each(ctx, len(classes), func(i int) error { return s.publish(withPhase(ctx, "publish"), classes[i], week) }); err != nil {
		return err
	}
	tasks := make([][]benchTask, len(classes))
	for _, reader := range []matching.Reader{matching.First, matching.Second} {
		ctx := withPhase(ctx, "match")
		if _, err := s.d.matching.RunRound(ctx); err != nil {
			return fmt.Errorf("matching round: %w", err)
		}
		err := s.each(ctx, len(classes), func(i int) error {
			c := classes[i]
			ts, err := s.accept(ctx, c.teacher, c.assignments[len(c.assignments)-1], reader)
			tasks[i] = append(tasks[i], ts...)
			return err
		})
		if err != nil {
			return err
		}
	}
	err := s.each(ctx, len(classes), func(i int) error {
		c := classes[i]
		aID := c.assignments[len(c.assignments)-1]
		for _, t := range tasks[i] {
			if _, err := demoGrade(withPhase(ctx, "grade"), s.d, t.grader, t.id, s.levels(t.id)); err != nil {
				return err
			}
		}
		for _, t := range tasks[i] {
			if _, err := s.d.feedback.Approve(withPhase(ctx, "approve"), c.teacher, t.id); err != nil {
				return fmt.Errorf("approve %s: %w", t.id, err)
			}
		}
		if _, err := s.d.feedback.Release(withPhase(ctx, "release"), c.teacher, aID, ""); err != nil {
			return fmt.Errorf("release: %w", err)
		}
		_, err := s.d.analytics.ClassSummary(withPhase(ctx, "summary"), c.teacher, aID, analytics.Options{})
		return err
	})
	if err != nil {
		return err
	}
	_, err = s.d.payouts.Ingest(withPhase(ctx, "earnings"))
	return err
}

// publish creates the class's assignment of the week, uploads every
// student's essay as one Canvas-style ZIP through an upload batch, and
// publishes it.
func (s *seeder) publish(ctx context.Context, c *benchClass, week int) error {
	aID, err := s.createAssignment(ctx, c, week, benchSecondReadShare)
	if err != nil {
		return err
	}
	entries, err := s.essays(c.students, week)
	if err != nil {
		return err
	}
	zip, err := zipOf(entries)
	if err != nil {
		return err
	}
	b, err := s.d.intake.StartUpload(ctx, c.teacher, aID, "")
	if err != nil {
		return err
	}
	if err := b.Add(ctx, fmt.Sprintf("week-%d.zip", week), "", bytes.NewReader(zip), int64(len(zip))); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	up, err := b.Finish(ctx, "")
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if up.Counts.Created != len(c.students) {
		return fmt.Errorf("upload: %d submissions created of %d: %+v", up.Counts.Created, len(c.students), up.Counts)
	}
	if _, err := s.d.intake.Publish(ctx, c.teacher, aID); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// essays are the students' files for an assignment, named as in a Canvas
// bulk download: an essay of 5 to 20 KB of text each, in a mix of formats.
func (s *seeder) essays(students []intake.Student, week int) ([][2]string, error) {
	var entries [][2]string
	for _, st := range students {
		r := s.rand("essay", st.StudentID, week)
		ext := essayExts[r.IntN(len(essayExts))]
		body, err := essayFile(ext, essay(r, st.Name(), 5000+r.IntN(15001)))
		if err != nil {
			return nil, err
		}
		slug := strings.ToLower(st.FamilyName + st.GivenName)
		entries = append(entries, [2]string{fmt.Sprintf("%s_%s_%d_essay-week-%d%s", slug, st.StudentID, 9000+week, week, ext), string(body)})
	}
	return entries, nil
}

// createAssignment creates the class's next assignment with the demo
// rubric and records its ID.
func (s *seeder) createAssignment(ctx context.Context, c *benchClass, week int, share float64) (string, error) {
	var rubric intake.Rubric
	raw, _ := demodata.ReadFile("demodata/rubric.json")
	if err := json.Unmarshal(raw, &rubric); err != nil {
		return "", err
	}
	price := benchPriceCents
	a, err := s.d.intake.CreateAssignment(ctx, c.teacher, intake.AssignmentInput{
		ClassID: c.ID, Title: fmt.Sprintf("Essay %d", week), Prompt: "Write a research essay on a question of your choice.",
		Rubric: &rubric, FocusPoints: []string{"Does the conclusion answer the question?"},
		DueAt: time.Now().Add(14 * 24 * time.Hour).UTC(), PriceCents: &price, AllowResubmission: true, SecondReadShare: &share,
	})
	if err != nil {
		return "", fmt.Errorf("assignment: %w", err)
	}
	c.assignments = append(c.assignments, a.ID)
	return a.ID, nil
}

// accept has each grader offered a batch of the assignment for reader
// accept it, and returns the tasks they now hold. A batch nobody was
// offered is an error saying why.
func (s *seeder) accept(ctx context.Context, teacher account.User, assignmentID string, reader matching.Reader) ([]benchTask, error) {
	m, err := s.d.matching.ForAssignment(ctx, teacher, assignmentID)
	if err != nil {
		return nil, err
	}
	var out []benchTask
	for _, b := range m.Batches {
		if b.Reader != reader || b.State == matching.BatchDone {
			continue
		}
		if b.State != matching.BatchOffered || b.Offer == nil || b.Offer.State != matching.OfferOpen {
			var why []string
			for _, u := range m.Unmatched {
				why = append(why, u.Reason)
			}
			return nil, fmt.Errorf("batch %s (%s read) is %s, not offered: %s", b.ID, reader, b.State, strings.Join(why, "; "))
		}
		g, ok := s.sc.graders[b.Offer.GraderID]
		if !ok {
			return nil, fmt.Errorf("batch %s offered to an unknown grader %s", b.ID, b.Offer.GraderID)
		}
		if _, err := s.d.matching.Accept(ctx, g, b.Offer.ID); err != nil {
			return nil, fmt.Errorf("accept: %w", err)
		}
		for _, it := range b.Items {
			out = append(out, benchTask{grader: g, id: matching.TaskID(it.VersionID, reader)})
		}
	}
	return out, nil
}

// levels is the level function of a task's feedback: a first read's level
// on each criterion comes from a hash of the version; a second read agrees,
// except that on one criterion in three it is a step higher (never the two
// steps apart that would ask the teacher to adjudicate).
func (s *seeder) levels(taskID string) func(i, n int) int {
	cut := strings.LastIndex(taskID, ":")
	version, reader := taskID[:cut], taskID[cut+1:]
	return func(i, n int) int {
		l := int(s.hash("level", version, i) % uint64(n))
		if reader == feedback.Second && s.hash("second", version, i)%3 == 0 {
			l = min(l+1, n-1)
		}
		return l
	}
}

// openWork leaves work in progress: one more assignment in the first class,
// published and accepted but not graded.
func (s *seeder) openWork(ctx context.Context) error {
	c := s.sc.classes[0]
	week := len(c.assignments) + 1
	ctx = withPhase(ctx, "open-work")
	if err := s.publish(ctx, c, week); err != nil {
		return err
	}
	if _, err := s.d.matching.RunRound(ctx); err != nil {
		return err
	}
	ts, err := s.accept(ctx, c.teacher, c.assignments[len(c.assignments)-1], matching.First)
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		return errors.New("bench: no open grading task")
	}
	s.sc.open = ts
	return nil
}

// each runs f(0) … f(n-1) on o.Workers goroutines and returns the first
// error.
func (s *seeder) each(ctx context.Context, n int, f func(i int) error) error {
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(s.o.Workers)
	for i := range n {
		g.Go(func() error { return f(i) })
	}
	return g.Wait()
}

// hash and rand derive deterministic values from the bench's seed and a
// key, so that the same seed builds the same school.
func (s *seeder) hash(parts ...any) uint64 {
	h := fnv.New64a()
	_ = binary.Write(h, binary.LittleEndian, s.o.Seed)
	fmt.Fprint(h, parts...)
	return h.Sum64()
}

func (s *seeder) rand(parts ...any) *rand.Rand {
	return rand.New(rand.NewPCG(s.hash(parts...), s.o.Seed))
}

// loadSchool finds the school a previous run built in the data directory,
// so that it can be measured again without seeding (a large school takes
// hours to build). It returns nil when there is none. The classes are in
// the order they were created; the class the ingest job makes is left out;
// o.Assignments becomes the number of released assignments per class.
func loadSchool(ctx context.Context, d *deps, o *benchOptions) (*benchSchool, error) {
	byRole := func(role account.Role) ([]account.User, error) {
		cur, err := d.store.DB.Collection("users").Find(ctx, bson.D{{Key: "role", Value: role}}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			return nil, err
		}
		var ids []struct {
			ID string `bson:"_id"`
		}
		if err := cur.All(ctx, &ids); err != nil {
			return nil, err
		}
		var out []account.User
		for _, id := range ids {
			u, err := d.accounts.User(ctx, id.ID)
			if err != nil {
				return nil, err
			}
			out = append(out, u)
		}
		slices.SortFunc(out, func(a, b account.User) int { return cmp.Compare(a.Email, b.Email) })
		return out, nil
	}
	admins, err := byRole(account.Admin)
	if err != nil || len(admins) == 0 {
		return nil, err
	}
	sc := &benchSchool{admin: admins[0], graders: map[string]account.User{}}
	if sc.teachers, err = byRole(account.Teacher); err != nil {
		return nil, err
	}
	graders, err := byRole(account.Grader)
	if err != nil {
		return nil, err
	}
	for _, g := range graders {
		sc.graders[g.ID] = g
	}
	released := -1
	for _, t := range sc.teachers {
		cls, err := d.intake.Classes(ctx, t)
		if err != nil {
			return nil, err
		}
		for _, cl := range cls {
			if cl.Name == benchIngestClass || strings.HasPrefix(cl.Name, benchLoadClass) {
				continue
			}
			c := &benchClass{Class: cl, teacher: t}
			if c.students, err = d.intake.Roster(ctx, t, cl.ID); err != nil {
				return nil, err
			}
			asgs, err := d.intake.Assignments(ctx, t, cl.ID)
			if err != nil {
				return nil, err
			}
			slices.Reverse(asgs) // oldest first
			n := 0
			for _, a := range asgs {
				c.assignments = append(c.assignments, a.ID)
				if a.State == intake.Released {
					n++
				} else if err := sc.openTasks(ctx, d, c.teacher, a.ID); err != nil {
					return nil, err
				}
			}
			if released < 0 || n < released {
				released = n
			}
			sc.classes = append(sc.classes, c)
		}
	}
	slices.SortFunc(sc.classes, func(a, b *benchClass) int { return a.CreatedAt.Compare(b.CreatedAt) })
	if len(sc.classes) == 0 || released < 1 {
		return nil, errors.New("bench: the data directory has users but no school the bench built; use a new --dir")
	}
	o.Assignments = released
	if len(sc.open) == 0 {
		return nil, errors.New("bench: the school in the data directory has no grading task left open")
	}
	o.Students = 0
	for _, c := range sc.classes {
		o.Students += len(c.students)
	}
	return sc, nil
}

// openTasks adds the first-read tasks accepted on an assignment to the
// school's open work.
func (sc *benchSchool) openTasks(ctx context.Context, d *deps, teacher account.User, assignmentID string) error {
	m, err := d.matching.ForAssignment(ctx, teacher, assignmentID)
	if err != nil {
		return err
	}
	for _, b := range m.Batches {
		if b.Reader == matching.First && b.State == matching.BatchAccepted {
			for _, it := range b.Items {
				sc.open = append(sc.open, benchTask{grader: sc.graders[b.GraderID], id: matching.TaskID(it.VersionID, matching.First)})
			}
		}
	}
	return nil
}
