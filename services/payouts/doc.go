// Package payouts pays graders through Stripe Connect: Express onboarding,
// an append-only double-entry earnings ledger in integer cents, payout runs
// that send exactly one transfer per grader per run under any failure, the
// Stripe webhook, and reconciliation.
//
// It owns these collections (every read on a hot path is by _id):
//   - ledger: one book per grader (_id = grader user ID) holding every
//     entry on the grader's account, keyed by a hash of the entry ID, and a
//     copy of each of their payments' state for their view;
//   - payout_runs: one document per run, with its lease (_id = run ID;
//     scheduled runs are run_<year>w<week> or run_<yyyymmdd>);
//   - payments: one per grader per run (_id = <run>:<grader>);
//   - payout_state: the active_run lock (one unfinished run at a time);
//   - stripe_accounts (_id = grader) and stripe_account_owners (_id = the
//     Stripe account ID → grader);
//   - stripe_events (_id = the Stripe event ID), the webhook's dedupe.
//
// It reads feedback's payable_events through feedback.PayableEvents.
// Earning IDs are "earning:<payable event id>", payouts "payout:<payment
// id>", reversals "reversal:<transfer reversal id>", adjustments
// "adjustment:<caller's id>".
package payouts
