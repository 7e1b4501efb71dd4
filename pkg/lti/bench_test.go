package lti

import (
	"fmt"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/lti/ltitest"
)

// BenchmarkLaunch is one whole launch on the embedded store: login
// initiation, the platform's authorization over HTTP, and validation
// (state read, cached JWKS, signature, nonce upsert, state delete).
func BenchmarkLaunch(b *testing.B) {
	e := newEnv(b)
	for b.Loop() {
		if _, err := e.tool.ValidateLaunch(e.ctx, e.begin(e.p.ResourceLinkLogin(e.client, "c1", "link-a", student1.ID))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReleaseClass queues and delivers the scores of a class of 150
// students: the cost of one release's grade passback.
func BenchmarkReleaseClass(b *testing.B) {
	e := newEnv(b)
	dir := newDirectory()
	dir.assignments["asg"] = "class-1"
	course := e.p.Course("c1")
	course.Links["link-a"].Custom = map[string]string{CustomAssignmentID: "asg"}
	const n = 150
	scores := make([]StudentScore, n)
	for i := range n {
		id := fmt.Sprintf("u-%03d", i)
		course.Members = append(course.Members, ltitest.Member{User: ltitest.User{ID: id}, Roles: []string{ltitest.Learner}})
		scores[i] = StudentScore{StudentID: id, Given: float64(i % 20), Maximum: 20}
	}
	for _, u := range []string{teacher.ID} {
		l, err := e.launch("link-a", u)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.tool.Enter(e.ctx, l, dir); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := e.tool.SyncRoster(e.ctx, ContextKey(e.p.Issuer, e.client.DeploymentID, "c1"), dir); err != nil {
		b.Fatal(err)
	}
	v := 0
	for b.Loop() {
		v++
		for i := range scores {
			scores[i].Version, scores[i].GradedAt = fmt.Sprint(v), time.Now()
		}
		if q, err := e.tool.QueueScores(e.ctx, "asg", scores); err != nil || q != n {
			b.Fatalf("queued %d: %v", q, err)
		}
		if d, err := e.tool.DeliverScores(e.ctx); err != nil || d != n {
			b.Fatalf("delivered %d: %v", d, err)
		}
	}
}
