package gerrittest

import (
	"testing"

	"github.com/jouncebot/jouncebot/internal/testenv"
)

// RequireGit skips t when the git this package needs is missing (see
// Check), or fails it when JOUNCEBOT_TEST_SERVERS=required.
func RequireGit(t testing.TB) {
	t.Helper()
	if err := Check(); err != nil {
		testenv.Missing(t, err.Error())
	}
}

// Start builds a fresh sandbox in a temporary directory of t and closes it
// when t ends. A missing git skips or fails t as RequireGit does.
func Start(t testing.TB) *Sandbox {
	t.Helper()
	RequireGit(t)
	sb, err := NewSandbox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	return sb
}
