package intake

import "testing"

func TestStandardName(t *testing.T) {
	tests := []struct{ code, name, short string }{
		{"CCSS.ELA-LITERACY.W.9-10.1.A", "State a precise claim and organize the reasons and evidence", "W.9-10.1.A"},
		{" ccss.ela-literacy.l.9-10.2 ", "Use correct capitalization, punctuation and spelling", "l.9-10.2"},
		{"NGSS.HS-PS1-1", "", "NGSS.HS-PS1-1"},
		{"", "", ""},
	}
	for _, tc := range tests {
		if got := StandardName(tc.code); got != tc.name {
			t.Errorf("StandardName(%q) = %q, want %q", tc.code, got, tc.name)
		}
		if got := ShortCode(tc.code); got != tc.short {
			t.Errorf("ShortCode(%q) = %q, want %q", tc.code, got, tc.short)
		}
	}
}
