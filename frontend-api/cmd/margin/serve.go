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

// allServices are the background services one process can run.
var allServices = []string{"intake", "matching", "feedback", "analytics", "payouts", "notify", "lti"}

// parseServices turns --services into a list: "all", "none", or names.
func parseServices(s string) ([]string, error) {
	switch s = strings.TrimSpace(s); s {
	case "", "all":
		return allServices, nil
	case "none":
		return nil, nil
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(allServices, name) {
			return nil, fmt.Errorf("--services: unknown service %q (want all, none, or some of %s)", name, strings.Join(allServices, ","))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// worker is a background service's loop: it runs until ctx ends.
type worker interface {
	Run(ctx context.Context) error
}

func serve(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	servicesFlag := fs.String("services", "all", "background services to run in this process: all, none, or a comma-separated list of "+strings.Join(allServices, ","))
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

	workers := d.workers()
	g, gctx := errgroup.WithContext(ctx)
	for _, name := range services {
		if w, ok := workers[name]; ok {
			g.Go(func() error {
				if err := w.Run(gctx); err != nil && gctx.Err() == nil {
					return fmt.Errorf("service %s: %w", name, err)
				}
				return nil
			})
		}
	}

	if *apiFlag {
		srv := api.New(api.Config{
			SecureCookies:           cfg.SecureCookies,
			LoginPerIP:              cfg.LoginPerIP,
			LoginFailuresPerAccount: cfg.LoginFailuresPerAccount,
			LoginWindow:             cfg.LoginWindow,
			SignupPerIP:             cfg.SignupPerIP,
			Email:                   cfg.Notify.SMTPURL != "",
			DrainTimeout:            max(30*time.Second, cfg.ShutdownTimeout),
		}, api.Deps{
			Accounts:  d.accounts,
			Intake:    d.intake,
			Matching:  d.matching,
			Feedback:  d.feedback,
			Analytics: d.analytics,
			Payouts:   d.payouts,
			Notify:    d.notify,
			LTI:       d.ltiAPI(),
			Ready:     map[string]api.Pinger{"mongodb": d.store, "s3": d.blobs},
			Logger:    logger,
		})
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
	return fmt.Sprintf("Email is on: notifications go to the in-app inbox and by email through %s, with links to %s.", cfg.smtpText(), cfg.Notify.PublicURL)
}

func storeKind(configured bool, name string) string {
	if configured {
		return name
	}
	return "embedded"
}
