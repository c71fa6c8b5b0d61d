package deploy

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/gerrittest"
	"github.com/jouncebot/jouncebot/deploy/git"
	"github.com/jouncebot/jouncebot/store"
)

// Sandbox is the engine running against a local fake Gerrit with a
// MediaWiki-shaped set of repositories, for trying jouncebot without
// servers (`go run .` with no configuration).
type Sandbox struct {
	*gerrittest.Sandbox
	Agent *Agent
}

// NewSandbox builds a fresh sandbox in dir (removing what was there) and an
// agent deploying to it. cfg supplies the people (the sandbox's changes are
// owned by Gerrit users alice and bob) and may be nil. Run the agent with
// Agent.Run and Close the sandbox when done.
func NewSandbox(dir string, db *store.DB, n Notifier, cfg *config.Config, log *slog.Logger) (*Sandbox, error) {
	sb, err := gerrittest.NewSandbox(dir)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := Options{Log: log}
	if cfg != nil {
		o, _ = FromConfig(cfg, log)
	}
	o.StagingDir = sb.Staging
	o.ConfigProject, o.ConfigBranch, o.CoreProject = gerrittest.ConfigProject, gerrittest.ConfigBranch, gerrittest.CoreProject
	o.MergeTimeout, o.PollInterval, o.ProgressEvery = 2*time.Minute, 500*time.Millisecond, 30*time.Second
	o.RequireSecondApprover = false // the console is one person
	g, err := gerrit.New(gerrit.Options{URL: sb.URL, Username: gerrittest.BotUser, Password: gerrittest.BotPassword,
		Timeout: 5 * time.Second, Log: log})
	if err != nil {
		sb.Close()
		return nil, err
	}
	a := NewAgent(db, g, &git.Runner{Log: log}, n, o)
	return &Sandbox{Sandbox: sb, Agent: a}, nil
}

// Welcome tells a newcomer what to try.
func (s *Sandbox) Welcome() bot.Text {
	return bot.T(fmt.Sprintf("Deploy sandbox: a fake Gerrit at %s with these open changes (staging checkout in %s):\n%s\nTry `jouncebot: plan %d`, then `jouncebot: deploy %d` (outside a window: `jouncebot: deploy --force %d trying the sandbox`); the gate merges 2 seconds after the +2.",
		s.URL, s.Staging, s.Describe(), s.Changes["config"], s.Changes["config"], s.Changes["config"]))
}
