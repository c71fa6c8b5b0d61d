// Package maint runs MediaWiki maintenance scripts from the chat: declared
// by a patch's Maintenance-Script footer or asked for directly, validated
// against patterns and an allow list, a dry run first where the script has
// one, then detached on a maintenance host so that neither a dropped ssh
// connection nor a restart of the bot stops it.
//
// Parsing and validation are pure (ParseWords, ParseFooter, Rules.Check);
// Host starts, follows and stops detached jobs through ssh with argv
// quoted for the host's shell; Service keeps runs in bbolt, follows them,
// says progress and their end in chat, and writes SAL lines.
//
//	rules := maint.RulesFrom(cfg.Maint)
//	req, err := maint.ParseWords(words)     // script, target, args, reason
//	req, err = rules.Check(req)             // refused names never reach the host
//	svc := maint.NewService(maint.Options{DB: db, Rules: rules, Host: maint.HostFrom(cfg.Maint), …})
//	go svc.Run(ctx)                         // re-attaches to live runs
//	run, err := svc.Start(ctx, req, by, origin)
package maint

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/deploy/gerrit"
)

// Footer is the commit message footer that asks for a script, one footer
// per script: "Maintenance-Script: namespaceDupes.php testwiki --fix".
// "Maintenance:" is read too (gerrit.MaintenanceScripts).
const Footer = "Maintenance-Script"

// Request is one script to run on one wiki or a list of wikis.
type Request struct {
	// Script is the script's path below the maintenance directory, or an
	// extension's script (extensions/Foo/maintenance/bar.php).
	Script string
	// Target is the wiki as typed: a wiki, list:NAME or all.
	Target string
	// Wikis are the wikis Target names, filled in by Rules.Check.
	Wikis []string
	// Args are the script's arguments, each one argv word.
	Args []string
	// Reason is free text for the SAL line, e.g. T123.
	Reason string
	// Change is the Gerrit change whose footer asked for it (0 when asked
	// for in chat).
	Change int
}

// RefusedError is a refusal written for the person who asked.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return e.Msg }

func refused(format string, args ...any) error {
	return &RefusedError{Msg: "Refused: " + fmt.Sprintf(format, args...)}
}

// ParseWords reads "<script> <wiki|list:NAME|all> [args…] [reason…]":
// arguments are the words that start with "-" (values as --name=value);
// the first word that does not starts the reason.
func ParseWords(words []string) (Request, error) {
	if len(words) < 2 {
		return Request{}, refused("name a script and a wiki: maint <script> <wiki|list:NAME|all> [--args] [reason].")
	}
	r := Request{Script: words[0], Target: words[1]}
	for i, w := range words[2:] {
		if !strings.HasPrefix(w, "-") {
			r.Reason = strings.Join(words[2+i:], " ")
			break
		}
		r.Args = append(r.Args, w)
	}
	return r, nil
}

// ParseFooter reads one Maintenance-Script footer's value, "<script>
// <wiki|list:NAME|all> [args…]"; words after the arguments are refused,
// as a footer has no reason of its own.
func ParseFooter(value string) (Request, error) {
	r, err := ParseWords(strings.Fields(value))
	if err != nil {
		return Request{}, err
	}
	if r.Reason != "" {
		return Request{}, refused("the footer %q has words after its arguments (%q); arguments start with -.", value, r.Reason)
	}
	return r, nil
}

// FromChange returns the scripts a merged change's Maintenance-Script
// (or Maintenance) footers ask for, each with the change's number and its
// tasks as the reason, and the footers that could not be read. A change
// that is not merged is refused: anyone can upload a footer.
func FromChange(ch *gerrit.Change) (reqs []Request, bad []string, err error) {
	if !ch.Merged() {
		yet := ""
		if ch.Status == "NEW" {
			yet = " yet"
		}
		return nil, nil, &RefusedError{Msg: fmt.Sprintf("Change %d is not merged%s (%s): its maintenance scripts run only after it is merged and deployed.", ch.Number, yet, ch.Status)}
	}
	for _, v := range gerrit.MaintenanceScripts(ch.Message) {
		r, err := ParseFooter(v)
		if err != nil {
			bad = append(bad, v)
			continue
		}
		r.Change, r.Reason = ch.Number, strings.Join(ch.PublicBugs(), " ")
		reqs = append(reqs, r)
	}
	return reqs, bad, nil
}

// Rules say which scripts, wikis and arguments may run, and which scripts
// have a dry-run form.
type Rules struct {
	// Scripts, when not empty, is the allow list, with each script's
	// options.
	Scripts []config.MaintScript
	// Wikis, when not empty, are the only wikis that may be named; "all"
	// is all of them.
	Wikis []string
	// Lists are the named wiki lists.
	Lists map[string][]string
	// DryRun lists the scripts with a dry-run form.
	DryRun []config.DryRun
}

// RulesFrom reads the rules from the configuration, each script under
// its one name (config.MaintScriptName).
func RulesFrom(m config.Maint) Rules {
	rs := Rules{Scripts: slices.Clone(m.Scripts), Wikis: m.Wikis, Lists: m.Lists, DryRun: slices.Clone(m.DryRun)}
	for i := range rs.Scripts {
		rs.Scripts[i].Script = config.MaintScriptName(rs.Scripts[i].Script)
	}
	for i := range rs.DryRun {
		rs.DryRun[i].Script = config.MaintScriptName(rs.DryRun[i].Script)
	}
	return rs
}

// Denied are scripts that open an interactive shell, run arbitrary code
// or SQL, or print the configuration with its secrets (whose output
// would reach the channel and the run's page): refused unless the allow
// list names them.
var Denied = []string{"eval.php", "shell.php", "sql.php", "mysql.php", "sqlite.php", "run.php", "runScript.php", "psysh.php", "getConfiguration.php"}

// deniedWhy says what a denied script does.
func deniedWhy(base string) string {
	if base == "getConfiguration.php" {
		return "prints the configuration, secrets included,"
	}
	return "opens a shell or runs arbitrary code,"
}

// script returns the allow list's entry of a script (ok false when there
// is an allow list and the script is not on it).
func (rs Rules) script(name string) (config.MaintScript, bool) {
	if len(rs.Scripts) == 0 {
		return config.MaintScript{Script: name}, true
	}
	i := slices.IndexFunc(rs.Scripts, func(s config.MaintScript) bool { return s.Script == name })
	if i < 0 {
		return config.MaintScript{}, false
	}
	return rs.Scripts[i], true
}

// Private reports whether a script's output is private.
func (rs Rules) Private(script string) bool {
	s, ok := rs.script(script)
	return ok && s.Private
}

var (
	// A script is path parts of letters, digits, _ . and -, each starting
	// with a letter, digit or _ (so never "..", never absolute), ending in
	// .php.
	scriptPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$`)
	wikiPattern   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	// An argument is an option, with an optional value of safe characters.
	argPattern = regexp.MustCompile(`^--?[A-Za-z0-9][A-Za-z0-9_-]*(=[A-Za-z0-9_.,:/@+%-]*)?$`)
)

// Check validates a request and fills in its wikis. Its refusals are
// sentences for the person who asked; nothing refused reaches the host.
func (rs Rules) Check(r Request) (Request, error) {
	if !scriptPattern.MatchString(r.Script) {
		return r, refused("%q is not a script name (letters, digits, _ . and -, parts separated by /, ending in .php).", r.Script)
	}
	if !strings.HasSuffix(config.MaintScriptName(r.Script), ".php") {
		return r, refused("%q is not a script name (letters, digits, _ . and -, parts separated by /, ending in .php).", r.Script)
	}
	r.Script = config.MaintScriptName(r.Script)
	sc, ok := rs.script(r.Script)
	if !ok {
		names := make([]string, len(rs.Scripts))
		for i, s := range rs.Scripts {
			names[i] = s.Script
		}
		return r, refused("%s is not one of the scripts allowed here (%s).", r.Script, strings.Join(names, ", "))
	}
	if base := path.Base(r.Script); slices.Contains(Denied, base) && len(rs.Scripts) == 0 {
		return r, refused("%s %s so it runs only when the configuration's maint.scripts allow list names it.", r.Script, deniedWhy(base))
	}
	for _, a := range r.Args {
		if err := checkArg(sc, a); err != nil {
			return r, err
		}
		if err := rs.checkDryFlag(r.Script, a); err != nil {
			return r, err
		}
	}
	wikis, err := rs.wikis(r.Target)
	if err != nil {
		return r, err
	}
	r.Wikis = wikis
	return r, nil
}

// checkArg checks one argument against the character pattern and the
// script's options: options that change the target are refused unless
// listed, and a script with an options list takes only those.
func checkArg(sc config.MaintScript, a string) error {
	if !argPattern.MatchString(a) {
		return refused("the argument %q is not allowed: arguments are options like --name or --name=value (letters, digits and _ . , : / @ + %% -).", a)
	}
	name, value, hasValue := strings.Cut(a, "=")
	pat, listed := sc.Options[name]
	bare := strings.ToLower(strings.TrimLeft(name, "-"))
	switch {
	case !listed && slices.Contains(config.TargetOptions, bare):
		return refused("%s changes which wiki, server, configuration or database account %s uses; it is allowed only where the configuration lists it in the script's options.", name, sc.Script)
	case !listed && sc.Options != nil && len(sc.Options) == 0:
		return refused("%s takes no options here, not %s.", sc.Script, name)
	case !listed && sc.Options != nil:
		return refused("%s takes only the options %s here, not %s.", sc.Script, optionNames(sc.Options), name)
	case !listed:
		return nil
	case pat == "" && hasValue:
		return refused("%s of %s takes no value; write it as %s.", name, sc.Script, name)
	case pat != "":
		re, err := regexp.Compile(`^(?:` + pat + `)$`)
		if err != nil || !re.MatchString(value) {
			return refused("the value of %s for %s must match %s, and %q does not.", name, sc.Script, pat, value)
		}
	}
	return nil
}

// checkDryFlag refuses an argument that names a flag of the script's
// dry-run form without being that flag: "--fix=1" (which MediaWiki reads
// as --fix) would go to the dry run, which would then change the wikis.
func (rs Rules) checkDryFlag(script, a string) error {
	i := slices.IndexFunc(rs.DryRun, func(d config.DryRun) bool { return d.Script == script })
	if i < 0 {
		return nil
	}
	d := rs.DryRun[i]
	name, _, _ := strings.Cut(a, "=")
	for _, f := range slices.Concat(d.Real, d.Dry) {
		if fn, _, _ := strings.Cut(f, "="); fn == name && f != a {
			var has []string
			if len(d.Real) > 0 {
				has = append(has, "the real run has "+strings.Join(d.Real, " ")+", after maint go")
			}
			if len(d.Dry) > 0 {
				has = append(has, "the dry run has "+strings.Join(d.Dry, " "))
			}
			return refused("%s is set by the bot for the dry run and the real run of %s; leave it out (%s).", a, script, strings.Join(has, "; "))
		}
	}
	return nil
}

func optionNames(opts map[string]string) string {
	names := make([]string, 0, len(opts))
	for n := range opts {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func (rs Rules) wikis(target string) ([]string, error) {
	switch name, isList := strings.CutPrefix(target, "list:"); {
	case target == "all":
		if len(rs.Wikis) == 0 {
			return nil, refused("no wikis are configured, so there is no \"all\"; name a wiki.")
		}
		return slices.Clone(rs.Wikis), nil
	case isList:
		ws, ok := rs.Lists[name]
		if !ok {
			return nil, refused("there is no wiki list %q (lists: %s).", name, strings.Join(sortedKeys(rs.Lists), ", "))
		}
		return slices.Clone(ws), nil
	case !wikiPattern.MatchString(target):
		return nil, refused("%q is not a wiki name (a database name like enwiki), list:NAME or all.", target)
	case len(rs.Wikis) > 0 && !slices.Contains(rs.Wikis, target):
		return nil, refused("%s is not a wiki known here.", target)
	}
	return []string{target}, nil
}

func sortedKeys(m map[string][]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	if len(ks) == 0 {
		return []string{"none"}
	}
	return ks
}

// Phases returns the arguments of the dry run (ok false when the script
// has no dry-run form) and of the real run.
func (rs Rules) Phases(r Request) (dry []string, real []string, ok bool) {
	i := slices.IndexFunc(rs.DryRun, func(d config.DryRun) bool { return d.Script == r.Script })
	if i < 0 {
		return nil, r.Args, false
	}
	d := rs.DryRun[i]
	for _, a := range r.Args {
		if !slices.Contains(d.Real, a) && !slices.Contains(d.Dry, a) {
			dry = append(dry, a)
		}
	}
	real = slices.Clone(dry)
	dry = append(dry, d.Dry...)
	real = append(real, d.Real...)
	return dry, real, true
}

// Describe is "namespaceDupes.php --fix on testwiki" or "… on 2 wikis
// (list:group0)".
func Describe(script string, args []string, target string, wikis []string) string {
	s := strings.Join(append([]string{script}, args...), " ")
	if len(wikis) == 1 && wikis[0] == target {
		return s + " on " + target
	}
	return fmt.Sprintf("%s on %s (%s)", s, bot.Count(len(wikis), "wiki"), target)
}
