package account

import "testing"

func TestDisplayName(t *testing.T) {
	for _, tc := range []struct {
		u    User
		want string
	}{
		{User{Name: "Ana Grader", Role: Grader}, "Ana"},
		{User{Name: "  Ana   Maria Grader ", Role: Grader}, "Ana"},
		{User{Name: "Ms  Rivera", Role: Teacher}, "Ms Rivera"},
		{User{Name: "Priya Natarajan", Role: Student}, "Priya Natarajan"},
		{User{Name: "   ", Role: Grader}, ""},
		{User{Role: Admin}, ""},
	} {
		if got := tc.u.DisplayName(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.u, got, tc.want)
		}
	}
}
