package api

import "testing"

func TestSafeNext(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/teacher/classes/cls_1", "/teacher/classes/cls_1"},
		{"/student?done=x#top", "/student?done=x#top"},
		{"", ""},
		{"teacher", ""},
		{"//evil.example/", ""},
		{"/\t/evil.example/", ""}, // browsers drop the tab: //evil.example/
		{"/\n/evil.example/", ""},
		{"/\r/evil.example/", ""},
		{"/\x00/evil.example/", ""},
		{"/\x7f/evil.example/", ""},
		{`/\evil.example/`, ""}, // browsers read \ as /
		{`\\evil.example`, ""},
		{"https://evil.example/", ""},
		{"javascript:alert(1)", ""},
		{" /teacher", ""},
		{"/%09/evil.example/", "/%09/evil.example/"}, // an escaped tab stays in the path
	} {
		if got := safeNext(tc.in); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactPath(t *testing.T) {
	for in, want := range map[string]string{
		"/s/abcDEF123_-":         "/s/[redacted]",
		"/s/":                    "/s/",
		"/signin":                "/signin",
		"/student/submissions/x": "/student/submissions/x",
		"/family":                "/family",
		"/reset/abcDEF123_-":     "/reset/[redacted]",
	} {
		if got := redactPath(in); got != want {
			t.Errorf("redactPath(%q) = %q, want %q", in, got, want)
		}
	}
}
