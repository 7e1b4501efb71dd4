package web

import "testing"

func TestDuration(t *testing.T) {
	f := func(h float64) *float64 { return &h }
	for _, tt := range []struct {
		in   *float64
		want string
	}{
		{nil, "—"}, {f(0), "under an hour"}, {f(0.99), "under an hour"}, {f(1.2), "1 hour"}, {f(5.4), "5 hours"},
		{f(47.4), "47 hours"}, {f(48), "2 days"}, {f(60), "2.5 days"}, {f(24 * 10), "10 days"},
	} {
		if got := Duration(tt.in); got != tt.want {
			t.Errorf("Duration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
