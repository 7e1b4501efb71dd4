package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/marginschool/margin/frontend-api/api"
)

// runner is a background service's loop: it works until ctx ends.
type runner func(ctx context.Context) error

// background are the services with background work, by the name
// --services takes, in the order they start. Adding one is a line here.
var background = []struct {
	name string
	run  func(*deps) runner
}{
	{"intake", func(d *deps) runner { return d.intake.Run }},     // finishes work a failure left in flight
	{"matching", func(d *deps) runner { return d.matching.Run }}, // rounds, offer expiries, leases near due dates
	{"payouts", func(d *deps) runner { return d.payouts.Run }},   // earnings, scheduled runs, unfinished runs
	{"notify", func(d *deps) runner { return d.sender.Run }},     // sends queued email and daily digests
	{"lti", func(d *deps) runner { return d.ltiRun }},            // posts queued scores to LMS gradebooks
}

// inRequest are the services whose work is all done in the request (in
// whichever process serves the API), which --services refuses by name.
var inRequest = map[string]string{
	"feedback":  "feedback does its work in each request (and finishes interrupted changes at start-up)",
	"analytics": "analytics computes on request",
}

// parseServices turns --services into the background services to run:
// "all", "none", or a comma-separated list of names.
func parseServices(s string) ([]string, error) {
	var names []string
	for _, b := range background {
		names = append(names, b.name)
	}
	switch s = strings.TrimSpace(s); s {
	case "", "all":
		return names, nil
	case "none":
		return nil, nil
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if why, ok := inRequest[name]; ok {
			return nil, fmt.Errorf("--services: %s has no background work to run (%s); the services with background work are %s", name, why, strings.Join(names, ","))
		}
		if !slices.Contains(names, name) {
			return nil, fmt.Errorf("--services: unknown service %q (want all, none, or some of %s)", name, strings.Join(names, ","))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

func serve(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	servicesFlag := fs.String("services", "all", "background services to run in this process: all, none, or a comma-separated list of intake, matching, payouts, notify, lti")
	apiFlag := fs.Bool("api", true, "serve the HTTP API and pages")
	demoFlag := fs.Bool("demo", false, "first load the demo school into the (empty) data directory and print its logins")
	if err := fs.Parse(args); err != nil {
		return err
	}
	services, err := parseServices(*servicesFlag)
	if err != nil {
		return err
	}
	if !*apiFlag && len(services) == 0 {
		return fmt.Errorf("nothing to run: --api=false and --services=none")
	}
	logger.Info("starting", "config", cfg, "services", services, "api", *apiFlag)

	d, err := open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer d.close(context.Background())
	var school *demoSchool
	if *demoFlag {
		sc, err := loadDemo(ctx, d)
		switch {
		case errors.Is(err, errNotEmpty):
			fmt.Fprintf(stdout, "The data directory %s already has data, so no demo school was loaded; serving it as it is (demo logins use the password %q).\n", cfg.DataDir, demoPassword)
		case err != nil:
			return err
		default:
			school = &sc
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, b := range background {
		if !slices.Contains(services, b.name) {
			continue
		}
		run := b.run(d)
		g.Go(func() error {
			if err := run(gctx); err != nil && gctx.Err() == nil {
				return fmt.Errorf("service %s: %w", b.name, err)
			}
			return nil
		})
	}

	if *apiFlag {
		srv := d.server(api.Config{
			SecureCookies:           cfg.SecureCookies,
			LoginPerIP:              cfg.LoginPerIP,
			LoginFailuresPerAccount: cfg.LoginFailuresPerAccount,
			LoginWindow:             cfg.LoginWindow,
			SignupPerIP:             cfg.SignupPerIP,
			Email:                   cfg.Notify.SMTPURL != "",
			DrainTimeout:            max(30*time.Second, cfg.ShutdownTimeout),
		}, map[string]api.Pinger{"mongodb": d.store, "s3": d.blobs}, logger)
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
		}
		g.Go(func() error { return srv.App().Listener(ln) })
		g.Go(func() error {
			<-gctx.Done()
			// In order: new requests are refused; those in flight get
			// ShutdownTimeout to finish; then what still runs is stopped
			// (an upload at its next file, answering with its outcomes) and
			// waited for. The store closes only after g.Wait, when every
			// handler and background service has returned.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), cfg.ShutdownTimeout)
			defer cancel()
			return srv.Shutdown(sctx)
		})
		fmt.Fprintf(stdout, "Margin is running at http://%s (data in %s; store: %s, files: %s)\n",
			ln.Addr(), cfg.DataDir, storeKind(cfg.MongoURI != "", "MongoDB"), storeKind(cfg.S3Endpoint != "", "S3"))
		fmt.Fprintln(stdout, emailText(cfg))
		if school != nil {
			printDemo(stdout, "http://"+ln.Addr().String(), *school)
		}
	} else {
		fmt.Fprintf(stdout, "Margin background services %s are running (data in %s)\n", strings.Join(services, ","), cfg.DataDir)
	}

	err = g.Wait()
	logger.Info("stopped")
	return err
}

// emailText says at start-up whether notifications go by email too.
func emailText(cfg Config) string {
	if cfg.Notify.SMTPURL == "" {
		return "Email is off (no MARGIN_SMTP_URL): notifications go to each user's in-app inbox only."
	}
	srv := "the configured server"
	if u, err := cfg.Notify.SMTP(); err == nil {
		srv = u.String() // its password masked
	}
	return fmt.Sprintf("Email is on: notifications go to the in-app inbox and by email through %s, with links to %s.", srv, cfg.Notify.PublicURL)
}

func storeKind(configured bool, name string) string {
	if configured {
		return name
	}
	return "embedded"
}
