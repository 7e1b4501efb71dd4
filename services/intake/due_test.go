package intake

import (
	"errors"
	"testing"
	"time"

	"github.com/marginschool/margin/pkg/errs"
)

func TestDueOn(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time // zero: invalid
	}{
		{"2026-12-01", time.Date(2026, 12, 1, 23, 59, 0, 0, time.UTC)},
		{" 2026-02-28 ", time.Date(2026, 2, 28, 23, 59, 0, 0, time.UTC)},
		{"2026-02-30", time.Time{}},
		{"tomorrow", time.Time{}},
		{"2026-12-01T17:00:00Z", time.Time{}},
		{"", time.Time{}},
	} {
		got, err := DueOn(tc.in)
		var bad *errs.Error
		switch {
		case tc.want.IsZero() && (!errors.As(err, &bad) || bad.Code != errs.Invalid || bad.Field != "due"):
			t.Errorf("DueOn(%q) = %v, %v; want invalid on field due", tc.in, got, err)
		case !tc.want.IsZero() && (err != nil || !got.Equal(tc.want)):
			t.Errorf("DueOn(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
