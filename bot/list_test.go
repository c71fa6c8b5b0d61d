package bot

import "testing"

func TestJoinNames(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want string
	}{{nil, ""}, {[]string{"a"}, "a"}, {[]string{"a", "b"}, "a and b"}, {[]string{"a", "b", "c"}, "a, b, and c"}, {[]string{"a", "b", "c", "d"}, "a, b, c, and d"}} {
		if got := JoinNames(tt.in); got != tt.want {
			t.Errorf("JoinNames(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
