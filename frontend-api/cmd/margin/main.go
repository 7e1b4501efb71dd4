// Command margin runs Margin: the HTTP API and pages, and any set of the
// background services (intake, matching, feedback, analytics, payouts), on
// the embedded store by default or on MongoDB, S3 and Stripe by
// configuration.
//
//	margin serve [--services=all|intake,matching,…] [--api=true|false]
//	margin admin create --email E --role admin [--name N] [--password-stdin]
//	margin healthcheck   (exit 0 when the server on MARGIN_ADDR is ready)
//	margin demo          (load the demo school into an empty data directory)
//	margin bench school  (build a school year in a temporary directory and measure it)
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "margin:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  margin serve [--services=all] [--api=true]   run Margin (embedded store unless configured)
  margin admin create --email E --role admin   create a user from the command line
  margin healthcheck                           exit 0 if the server on MARGIN_ADDR is ready
  margin payouts reconcile --run RUN_ID        compare a payout run with Stripe's transfers (stop the server first on the embedded store)
  margin demo                                  load a demo school into an empty data directory (or: serve --demo)
  margin bench school [--students N] [--json]  build a school year on the embedded store and measure it (docs/BENCHMARKS.md)
Configuration is read from MARGIN_* environment variables; see README.md.`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		args = []string{"serve"}
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	level, _ := cfg.level()
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	switch args[0] {
	case "serve":
		return serve(ctx, cfg, logger, args[1:], stdout)
	case "admin":
		if len(args) < 2 || args[1] != "create" {
			return fmt.Errorf("unknown admin command\n%s", usage)
		}
		return adminCreate(ctx, cfg, logger, args[2:], stdin, stdout)
	case "payouts":
		return payoutsCmd(ctx, cfg, logger, args[1:], stdout)
	case "healthcheck":
		return healthcheck(ctx, cfg.Addr)
	case "demo":
		return demo(ctx, cfg, logger, stdout)
	case "bench":
		return benchCmd(ctx, cfg, logger, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

// healthcheck asks the server listening on addr whether it is ready. It is
// the container healthcheck: the production image has no shell or curl.
func healthcheck(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("MARGIN_ADDR %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s", resp.Status)
	}
	return nil
}
