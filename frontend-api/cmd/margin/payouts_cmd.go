package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// payoutsCmd runs payouts commands from the command line:
//
//	margin payouts reconcile --run RUN_ID
//
// It compares the run's sent payments with Stripe's transfers, prints the
// result as JSON, records it on the run, and fails when they disagree. On
// the embedded store, stop the server first (the data directory is locked).
func payoutsCmd(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "reconcile" {
		return errors.New("usage: margin payouts reconcile --run RUN_ID")
	}
	fs := flag.NewFlagSet("payouts reconcile", flag.ContinueOnError)
	runID := fs.String("run", "", "the payout run to reconcile (required)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *runID == "" {
		return errors.New("payouts reconcile: --run is required")
	}
	d, err := open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer d.close(context.WithoutCancel(ctx))
	r, err := d.payouts.Reconcile(ctx, *runID)
	if err != nil {
		return fmt.Errorf("payouts reconcile: %w", err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return err
	}
	if !r.OK {
		return fmt.Errorf("payouts reconcile: %d mismatches between the ledger and Stripe", len(r.Mismatches))
	}
	return nil
}
