package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/marginschool/margin/pkg/errs"
	"github.com/marginschool/margin/services/intake"
)

// stoppedKey marks a request whose context ended (the client left, the
// server is shutting down, or its time was up) before its handler finished.
const stoppedKey = "margin.stopped"

// prepare runs first on every request. It gives handlers a context
// (c.UserContext) that ends when the client closes its connection, when
// Shutdown is called, or after the request's time limit (UploadTimeout for
// uploads, RequestTimeout otherwise); and it applies the route's body
// policy (prepareBody) before anything reads the body. A body left unread
// closes the connection after the response, so that its rest is never
// taken for the next request.
func (s *Server) prepare(c *fiber.Ctx) error {
	rt, known := s.routeFor(c.Method(), c.Path())
	timeout := s.cfg.RequestTimeout
	if rt.policy.stream {
		timeout = s.cfg.UploadTimeout
	}
	ctx, cancel := context.WithTimeout(s.base, timeout)
	defer cancel()
	defer watchClient(c.Context(), cancel)()
	c.SetUserContext(ctx)

	b, err := s.prepareBody(c, rt, known)
	c.Locals(bodyKey, b)
	if err == nil {
		err = c.Next()
	}
	if !b.done && (b.r == nil || !b.r.eof) {
		c.Context().SetConnectionClose()
	}
	if err != nil && ctx.Err() != nil && errs.Status(errs.CodeOf(err)) >= 500 {
		// The failure follows from the stop; it is not a fault.
		c.Locals(stoppedKey, true)
		err = errs.E(errs.Unavailable, "The request was stopped before it finished: the connection closed, the server is restarting, or it ran past its %s limit. Try again.", timeout)
	}
	return err
}

// errShutdown is the cause of the request contexts' end in Shutdown.
var errShutdown = errors.New("the server is shutting down")

// stopReason says why a request's context ended, in the words of an
// upload's record: intake.StopShutdown, StopTimeout or StopClient.
func stopReason(ctx context.Context) string {
	switch {
	case errors.Is(context.Cause(ctx), errShutdown):
		return intake.StopShutdown
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return intake.StopTimeout
	}
	return intake.StopClient
}

// Shutdown stops the server in order. It refuses new connections (and
// new requests on open ones) and waits until ctx ends for the requests in
// flight to finish. Then it cancels the context of every request still
// running: an upload stops at its next file boundary, records its batch
// and answers with the outcomes so far. It waits up to DrainTimeout for
// those to answer, and returns nil once every request has ended (the
// caller may then close the store), or an error if some still run.
func (s *Server) Shutdown(ctx context.Context) error {
	wait, stopWaiting := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWaiting()
	drained := make(chan error, 1)
	go func() { drained <- s.app.ShutdownWithContext(wait) }()
	select {
	case err := <-drained:
		s.stop(errShutdown)
		return err
	case <-ctx.Done():
	}
	s.log.Info("stopping the requests still running", "after", "shutdown timeout")
	s.stop(errShutdown)
	t := time.NewTimer(s.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case err := <-drained:
		return err
	case <-t.C:
		stopWaiting()
		<-drained
		return fmt.Errorf("requests were still running %s after they were stopped", s.cfg.DrainTimeout)
	}
}

// clientCheckEvery is how often a running request checks that its client is
// still connected.
const clientCheckEvery = 500 * time.Millisecond

// watchClient calls cancel once the client of fc has closed its end of the
// connection, checking every clientCheckEvery while the handler runs, and
// returns the function that stops watching. It reads nothing from the
// connection (the body may still be streaming): it asks the kernel for the
// TCP state, so it works where that is available (Linux) and never cancels
// elsewhere, or on connections that are not TCP (app.Test).
func watchClient(fc *fasthttp.RequestCtx, cancel context.CancelFunc) (stop func()) {
	raw := rawConn(fc.Conn())
	if raw == nil {
		return func() {}
	}
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	check := func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		closed := false
		if err := raw.Control(func(fd uintptr) { closed = peerClosed(fd) }); err != nil || closed {
			cancel()
			return
		}
		t.Reset(clientCheckEvery)
	}
	mu.Lock()
	t = time.AfterFunc(clientCheckEvery, check)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

func rawConn(c net.Conn) syscall.RawConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}
