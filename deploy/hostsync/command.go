package hostsync

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"text/template"
)

// Command runs a configured command for each host instead of rsync, for
// sites with their own sync tool. The template sees .Host, .Dest, .Source
// and .Paths; every value prints shell-quoted, so
//
//	scap sync-file --hosts {{.Host}} {{.Paths}}
//
// is safe whatever the file names. .Paths prints as quoted words joined by
// spaces; {{range .Paths}} ranges over single quoted words. A path, source
// or destination starting with "-" is given as "./-…", so that no command
// reads it as an option. The command is run by /bin/sh -c.
type Command struct {
	Template *template.Template
}

// ParseCommand parses a command template.
func ParseCommand(text string) (*Command, error) {
	t, err := template.New("command").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("bad command template: %w", err)
	}
	return &Command{Template: t}, nil
}

// CommandData is what a command template sees.
type CommandData struct {
	Host   Word
	Dest   Word
	Source Word
	Paths  Words
}

// Word is a string that prints shell-quoted.
type Word string

// String quotes w for /bin/sh.
func (w Word) String() string { return shellQuote(string(w)) }

// Words are strings that print as shell-quoted words joined by spaces.
type Words []Word

// String quotes and joins ws.
func (ws Words) String() string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = w.String()
	}
	return strings.Join(q, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Render returns the shell command for one host.
func (c *Command) Render(h Host, src string, paths []string) (string, error) {
	d := CommandData{Host: Word(h.Name), Dest: Word(notOption(h.Dest)), Source: Word(notOption(src))}
	for _, p := range paths {
		d.Paths = append(d.Paths, Word(notOption(p)))
	}
	var b strings.Builder
	if err := c.Template.Execute(&b, d); err != nil {
		return "", fmt.Errorf("command template: %w", err)
	}
	return b.String(), nil
}

// Sync runs the command for h.
func (c *Command) Sync(ctx context.Context, h Host, src string, paths []string) error {
	line, err := c.Render(h, src, paths)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	out := &tail{max: 4096}
	cmd.Stdout = out
	cmd.Stderr = out
	killGroup(cmd)
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return fmt.Errorf("cannot run the sync command: %w", err)
		}
		if l := lastLine(out.String()); l != "" {
			return fmt.Errorf("sync command failed (exit code %d): %s", ee.ExitCode(), l)
		}
		return fmt.Errorf("sync command failed (exit code %d)", ee.ExitCode())
	}
	return nil
}

// notOption makes a relative path that starts with "-" start with "./".
func notOption(p string) string {
	if strings.HasPrefix(p, "-") {
		return "./" + p
	}
	return p
}
