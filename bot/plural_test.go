package bot

import "testing"

func TestCount(t *testing.T) {
	for _, tt := range []struct {
		n    int
		noun string
		want string
	}{
		{1, "patch", "1 patch"},
		{2, "patch", "2 patches"},
		{0, "window", "0 windows"},
		{1, "entry", "1 entry"},
		{3, "entry", "3 entries"},
		{2, "day", "2 days"},
		{2, "new commit", "2 new commits"},
		{2, "security patch", "2 security patches"},
		{4, "URL", "4 URLs"},
	} {
		if got := Count(tt.n, tt.noun); got != tt.want {
			t.Errorf("Count(%d, %q) = %q, want %q", tt.n, tt.noun, got, tt.want)
		}
	}
}
