package payouts

// Pay is what one accepted submission at a price pays: the price, the
// platform fee taken from it, and what the grader earns, in integer cents.
type Pay struct {
	PriceCents, FeeCents, EarnCents int64
}

// PayFor is the pay of one accepted submission at priceCents under this
// Margin's fee (the same split EarningEntry books).
func (s *Service) PayFor(priceCents int64) Pay {
	fee := min(Fee(priceCents, s.cfg.FeeBasisPoints), max(priceCents, 0))
	return Pay{PriceCents: priceCents, FeeCents: fee, EarnCents: max(priceCents-fee, 0)}
}
