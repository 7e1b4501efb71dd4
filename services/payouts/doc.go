// Package payouts pays graders through Stripe Connect: Express onboarding,
// an append-only double-entry earnings ledger in integer cents, payout runs
// that send exactly one transfer per grader per run under any failure, the
// Stripe webhook, and reconciliation.
//
// It owns the collections ledger, payout_runs, payments, stripe_accounts and
// stripe_events; it reads feedback's payable_events.
package payouts
