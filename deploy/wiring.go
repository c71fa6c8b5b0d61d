package deploy

import (
	"log/slog"
	"strings"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
	"github.com/jouncebot/jouncebot/deploy/prepare"
	"github.com/jouncebot/jouncebot/deploy/purge"
	"github.com/jouncebot/jouncebot/deploy/release"
)

// FromConfig returns the engine's options and the Gerrit client's options
// for a loaded configuration. Owners of changes are mentioned by the
// people list's gerrit usernames. The sync stages are built separately
// (SyncStages), as that may fail.
func FromConfig(cfg *config.Config, log *slog.Logger) (Options, gerrit.Options) {
	d := cfg.Deploy
	o := Options{
		StagingDir:            d.StagingDir,
		ConfigProject:         d.ConfigProject,
		ConfigBranch:          d.ConfigBranch,
		CoreProject:           d.CoreProject,
		MergeTimeout:          d.MergeTimeout,
		PollInterval:          d.PollInterval,
		ProgressEvery:         d.ProgressEvery,
		RequireSecondApprover: d.RequireApprovalOutsideWindow,
		Owner: func(user string) (bot.Person, bool) {
			p := cfg.PersonByGerrit(user)
			if p == nil {
				return bot.Person{}, false
			}
			return bot.Person{Name: p.Name, IRCNick: p.Nick(), MatrixID: p.MatrixID}, true
		},
		Log:             log,
		SecurityWhere:   securityWhere(cfg.Security),
		SyncSource:      d.Sync.Source,
		FileSyncLimit:   d.Sync.FileSyncLimit,
		Gate:            TestGate{Reminder: d.Testing.Reminder, Timeout: d.Testing.Timeout, OneOwnerEnough: d.Testing.OneOwnerEnough},
		DecisionTimeout: d.DecisionTimeout,
		Purger:          purge.FromConfig(d.Purge, nil),
	}
	if len(d.Stages) > 0 {
		o.Releases = &release.Store{Dir: d.Sync.ReleasesDir, Keep: d.Sync.KeepReleases, Untracked: d.Sync.Untracked}
	}
	g := gerrit.Options{URL: d.Gerrit.URL, Username: d.Gerrit.Username, Password: d.Gerrit.Password.Value(),
		Timeout: d.Gerrit.Timeout, Log: log}
	return o, g
}

// securityWhere says where the details of a local security patch go.
func securityWhere(s config.Security) func(Person) string {
	return func(by Person) string {
		if len(s.Rooms) > 0 && !s.PrivateMessage {
			return "sent to the security channel"
		}
		return "sent to " + by.Name + " privately"
	}
}

// PersonFrom turns a configured person (found by the account the network
// vouched for) into the facts the engine needs. A nil p is someone unknown.
func PersonFrom(p *config.Person) Person {
	if p == nil {
		return Person{}
	}
	return Person{Name: p.Name, IRCNick: p.Nick(), MatrixID: p.MatrixID, Gerrit: p.Gerrit,
		Deployer: p.Has(config.RoleDeployer), Admin: p.Has(config.RoleAdmin)}
}

// Args is a parsed `deploy` command line.
type Args struct {
	Changes     []string
	Force       bool
	PrepareOnly bool
	Reason      string
}

// ParseArgs reads the arguments of `deploy [--force] [--prepare-only]
// <change>… [reason…]`: flags anywhere before the reason, then changes
// (numbers or Gerrit links); the first word that is neither starts the
// reason, so a reason must not start with a number. It is pure; the
// engine checks the rules (e.g. that --force has a reason).
func ParseArgs(words []string) Args {
	var a Args
	for i, w := range words {
		switch {
		case w == "--force" || w == "-f":
			a.Force = true
		case w == "--prepare-only" || w == "--stop-before-sync":
			a.PrepareOnly = true
		case len(a.Changes) == 0 || looksLikeChange(w):
			// The first word is taken as a change even when it is not
			// one, so the engine can say what is wrong with it.
			a.Changes = append(a.Changes, w)
		default:
			a.Reason = strings.Join(words[i:], " ")
			return a
		}
	}
	return a
}

func looksLikeChange(w string) bool {
	_, err := prepare.ParseChange(w)
	return err == nil
}
