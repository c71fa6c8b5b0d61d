// Package config loads jouncebot's one YAML configuration file, strictly:
// unknown keys, wrong types and impossible values are errors that name the
// file, the line and the key, and say what is expected. Secrets are never
// written inline; they are read from a file or an environment variable.
//
//	cfg, err := config.Load("jouncebot.yaml")
//	if err != nil { fmt.Fprintln(os.Stderr, err); os.Exit(2) }
//
// Each section's type lives in its own file; the section's validate method
// reports problems with the path of the offending key, and Load turns that
// path into a line number.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration file.
type Config struct {
	// Bot holds the bot's own settings.
	Bot Bot `yaml:"bot"`
	// Networks are the chat networks to join (IRC and Matrix). The console
	// is always available and needs no entry.
	Networks []Network `yaml:"networks"`
	// People maps authenticated identities to people and roles.
	People []Person `yaml:"people"`
	// Calendar holds the deployment calendar's settings.
	Calendar Calendar `yaml:"calendar"`
	// Windows are the recurring deployment windows.
	Windows []Window `yaml:"windows"`
	// Freezes are periods in which deploys are denied.
	Freezes []Freeze `yaml:"freezes"`
	// Deploy configures the backport engine.
	Deploy Deploy `yaml:"deploy"`
	// SAL configures the Server Admin Log.
	SAL SAL `yaml:"sal"`
	// Policy holds the deploy policy rules (see policy.go).
	Policy Policy `yaml:"policy"`
	// Security says where details of local security patches go.
	Security Security `yaml:"security"`
	// Maint configures maintenance scripts run from the chat.
	Maint Maint `yaml:"maint"`
	// Agent, in a deploy agent's own file, says where it listens and how
	// it recognises the chat bot (see agent.go).
	Agent *AgentServer `yaml:"agent"`
	// Agents, in the chat bot's file, are the deploy agents it talks to
	// instead of running the deploy engine itself.
	Agents []AgentLink `yaml:"agents"`

	// File is the path the configuration was loaded from.
	File string `yaml:"-"`
	// Dir is the directory relative paths in the file are resolved against.
	Dir string `yaml:"-"`
}

// Bot holds the bot's identity and local settings.
type Bot struct {
	// Nick is the name people address the bot by ("jouncebot: next").
	Nick string `yaml:"nick"`
	// DataDir holds the bbolt database. Relative to the config file.
	DataDir string `yaml:"data_dir"`
	// HTTP is the address of the web server (SAL pages, calendar feed); empty
	// means no web server.
	HTTP string `yaml:"http"`
	// BaseURL is the public URL of the web server, used in links in chat.
	BaseURL string `yaml:"base_url"`
	// Operators are the console's privileges: the console is a local
	// operator and acts as this person (by name). Empty means the console
	// is not identified.
	ConsolePerson string `yaml:"console_person"`
}

// Error is one problem found in a configuration file.
type Error struct {
	File string
	Line int
	Key  string // dotted path, e.g. windows[2].duration
	Msg  string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Errors is every problem found in one file.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Load reads, strictly decodes and validates the file at path, and reads
// every secret it names.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot read the configuration file: " + errText(err)}
	}
	abs, _ := filepath.Abs(path)
	return Parse(data, path, filepath.Dir(abs))
}

// Parse decodes and validates data as the file name says; relative paths
// are resolved against dir.
func Parse(data []byte, name, dir string) (*Config, error) {
	return parse(data, name, dir, nil, true)
}

// parse decodes, lets adjust change the result, then validates.
func parse(data []byte, name, dir string, adjust func(*Config), secrets bool) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Msg: "the file is empty; see config.example.yaml for a complete example"}
		}
		return nil, yamlError(name, nil, err)
	}
	cfg := &Config{File: name, Dir: dir}
	if err := decodeStrict(data, cfg); err != nil {
		return nil, yamlError(name, &root, err)
	}
	if adjust != nil {
		adjust(cfg)
	}
	cfg.applyDefaults()
	v := &validator{}
	cfg.validate(v)
	if len(v.problems) > 0 {
		errs := make(Errors, 0, len(v.problems))
		for _, p := range v.problems {
			errs = append(errs, &Error{File: name, Line: lineOf(&root, p.path), Key: p.path, Msg: p.msg})
		}
		return nil, errs
	}
	if !secrets {
		return cfg, nil
	}
	if err := cfg.resolveSecrets(&root); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeStrict decodes the first document of data into v, refusing
// unknown keys. (It decodes the text, not the parsed node: re-encoding a
// node loses blank lines and flow style, and with them the line numbers.)
func decodeStrict(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// yamlError rewrites yaml's messages ("line 4: field foo not found in type
// config.Window") into ours, naming the key at the line when root is known.
// A value is never quoted: it may be a secret written inline.
func yamlError(file string, root *yaml.Node, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make(Errors, 0, len(te.Errors))
		for _, m := range te.Errors {
			errs = append(errs, parseYAMLMessage(file, root, m))
		}
		return errs
	}
	return parseYAMLMessage(file, root, strings.TrimPrefix(err.Error(), "yaml: "))
}

// secretHint says how a secret is written, for errors about one.
const secretHint = "a secret is never written inline: give file: (a file holding it) or env: (the name of an environment variable holding it)"

func parseYAMLMessage(file string, root *yaml.Node, m string) *Error {
	e := &Error{File: file}
	if rest, ok := strings.CutPrefix(m, "line "); ok {
		if num, msg, ok := strings.Cut(rest, ": "); ok {
			e.Line, _ = strconv.Atoi(num)
			m = msg
		}
	}
	switch {
	case strings.HasPrefix(m, "field ") && strings.Contains(m, " not found in type "):
		key := strings.TrimPrefix(m, "field ")
		key = key[:strings.Index(key, " not found")]
		typ := m[strings.LastIndex(m, ".")+1:]
		path := pathAt(root, e.Line, func(_ []string, k string, _ *yaml.Node) bool { return k == key })
		if typ == "Secret" {
			// The unknown key may be the secret itself.
			e.Key = strings.TrimSuffix(strings.TrimSuffix(path, key), ".")
			e.Msg = secretHint
			break
		}
		e.Key = path
		if e.Key == "" {
			e.Key = key
		}
		e.Msg = fmt.Sprintf("unknown key in %s section; check the spelling against config.example.yaml", strings.ToLower(typ))
	case strings.HasPrefix(m, "cannot unmarshal "):
		// cannot unmarshal !!str `abc` into int
		what := strings.TrimPrefix(m, "cannot unmarshal ")
		val, typ, _ := strings.Cut(what, " into ")
		tag, _, _ := strings.Cut(val, " ")
		e.Key = pathAt(root, e.Line, func(path []string, _ string, n *yaml.Node) bool {
			t := typeAt(path)
			return n.ShortTag() == tag && t != nil && t.String() == typ
		})
		e.Msg = fmt.Sprintf("wrong type: got %s, expected %s", humanTag(tag), humanType(typ))
		if typ == "config.Secret" {
			e.Msg = "wrong type: " + secretHint
		}
	default:
		e.Msg = "malformed YAML: " + m
	}
	return e
}

func humanTag(s string) string {
	r := strings.NewReplacer("!!str", "a string", "!!int", "a number", "!!map", "a mapping", "!!seq", "a list", "!!bool", "a boolean", "!!float", "a number")
	return r.Replace(s)
}

func humanType(s string) string {
	switch {
	case strings.HasPrefix(s, "[]"):
		return "a list"
	case strings.HasPrefix(s, "map"):
		return "a mapping"
	case s == "int" || s == "int64" || s == "uint":
		return "a whole number"
	case s == "bool":
		return "true or false"
	case s == "time.Duration":
		return "a duration like 1h or 90m"
	case s == "time.Time":
		return "a time like 2026-12-21T00:00:00Z"
	case s == "string":
		return "a string"
	case strings.HasPrefix(s, "config."):
		return "a mapping (" + strings.ToLower(strings.TrimPrefix(s, "config.")) + ")"
	}
	return s
}

func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// pathAt finds the dotted path, like "windows[2].duration", of the key or
// list item at a line whose node satisfies ok, or "". Several may share a
// line (flow style); the first that satisfies ok wins.
func pathAt(root *yaml.Node, line int, ok func(path []string, key string, n *yaml.Node) bool) string {
	if root == nil || line <= 0 {
		return ""
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	var found []string
	var walk func(n *yaml.Node, path []string) bool
	walk = func(n *yaml.Node, path []string) bool {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				child := append(slices.Clip(path), k.Value)
				if (k.Line == line || v.Line == line) && ok(child, k.Value, v) {
					found = child
					return true
				}
				if walk(v, child) {
					return true
				}
			}
		case yaml.SequenceNode:
			for i, it := range n.Content {
				child := append(slices.Clip(path), "["+strconv.Itoa(i)+"]")
				if it.Line == line && ok(child, "", it) {
					found = child
					return true
				}
				if walk(it, child) {
					return true
				}
			}
		}
		return false
	}
	walk(n, nil)
	return strings.ReplaceAll(strings.Join(found, "."), ".[", "[")
}

// typeAt is the Go type a path of the file decodes into, or nil.
func typeAt(path []string) reflect.Type {
	t := reflect.TypeFor[Config]()
	for _, part := range path {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case strings.HasPrefix(part, "["):
			if t.Kind() != reflect.Slice {
				return nil
			}
			t = t.Elem()
		case t.Kind() == reflect.Map:
			t = t.Elem()
		case t.Kind() == reflect.Struct:
			f, ok := fieldByYAML(t, part)
			if !ok {
				return nil
			}
			t = f.Type
		default:
			return nil
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func fieldByYAML(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// lineOf finds the line of the key at a dotted path like
// "windows[2].duration" in the document, or 0.
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range splitPath(path) {
		if idx, err := strconv.Atoi(part); err == nil {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
			continue
		}
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				line = n.Content[i].Line
				n = n.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}

func splitPath(p string) []string {
	p = strings.ReplaceAll(p, "[", ".")
	p = strings.ReplaceAll(p, "]", "")
	var out []string
	for _, s := range strings.Split(p, ".") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// validator collects problems with their key paths.
type validator struct {
	problems []problem
}

type problem struct{ path, msg string }

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, problem{path, fmt.Sprintf(format, args...)})
}

func (c *Config) applyDefaults() {
	if c.Bot.Nick == "" {
		c.Bot.Nick = "jouncebot"
	}
	if c.Bot.DataDir == "" {
		c.Bot.DataDir = "data"
	}
	if !filepath.IsAbs(c.Bot.DataDir) && c.Dir != "" {
		c.Bot.DataDir = filepath.Join(c.Dir, c.Bot.DataDir)
	}
	c.Calendar.applyDefaults()
	c.Deploy.applyDefaults()
	c.SAL.applyDefaults()
	c.Policy.applyDefaults()
	c.Maint.applyDefaults()
	for i := range c.Networks {
		c.Networks[i].applyDefaults(c.Bot.Nick)
	}
}

func (c *Config) validate(v *validator) {
	if strings.ContainsAny(c.Bot.Nick, " \t:,") {
		v.add("bot.nick", "%q is not a usable nick: no spaces, colons or commas", c.Bot.Nick)
	}
	c.Bot.validateHTTP(v)
	seen := map[string]bool{}
	for i := range c.Networks {
		n := &c.Networks[i]
		p := fmt.Sprintf("networks[%d]", i)
		if seen[n.Name] {
			v.add(p+".name", "network name %q is used twice; names must be unique", n.Name)
		}
		seen[n.Name] = true
		n.validate(v, p)
	}
	c.validatePeople(v)
	c.Calendar.validate(v, "calendar")
	names := map[string]bool{}
	for i := range c.Windows {
		p := fmt.Sprintf("windows[%d]", i)
		c.Windows[i].validate(v, p, c)
		if names[c.Windows[i].Name] {
			v.add(p+".name", "window name %q is used twice; names must be unique", c.Windows[i].Name)
		}
		names[c.Windows[i].Name] = true
	}
	for i := range c.Freezes {
		c.Freezes[i].validate(v, fmt.Sprintf("freezes[%d]", i))
	}
	c.Deploy.validate(v, "deploy", c)
	c.validateAgents(v)
	c.SAL.validate(v, "sal", c)
	c.Policy.validate(v, "policy", c)
	c.Security.validate(v, "security", c)
	c.Maint.validate(v, "maint")
	if c.Bot.ConsolePerson != "" && c.PersonByName(c.Bot.ConsolePerson) == nil {
		v.add("bot.console_person", "%q is not a person in the people list", c.Bot.ConsolePerson)
	}
}

// validateHTTP checks the web server's address: host:port, the port a
// number up to 65535 (0 picks a free one), and the public URL.
func (b *Bot) validateHTTP(v *validator) {
	if b.HTTP != "" {
		_, port, err := net.SplitHostPort(b.HTTP)
		n, perr := strconv.Atoi(port)
		switch {
		case err != nil || strings.Contains(b.HTTP, "/"):
			v.add("bot.http", "expected host:port like 127.0.0.1:8080, got %q", b.HTTP)
		case perr != nil:
			v.add("bot.http", "port %q is not a number; give a port from 1 to 65535", port)
		case n < 0 || n > 65535:
			v.add("bot.http", "port %d is out of range; give a port from 1 to 65535", n)
		}
	}
	if b.BaseURL != "" {
		u, err := url.Parse(b.BaseURL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
			v.add("bot.base_url", "expected the web server's public http:// or https:// URL, like https://jouncebot.example.org")
		case u.User != nil:
			v.add("bot.base_url", "must not contain a username or password")
		}
	}
}

// resolveSecrets reads every secret the configuration names.
func (c *Config) resolveSecrets(root *yaml.Node) error {
	var errs Errors
	for _, s := range c.secrets() {
		if err := s.secret.resolve(c.Dir); err != nil {
			errs = append(errs, &Error{File: c.File, Line: lineOf(root, s.path), Key: s.path, Msg: err.Error()})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

type namedSecret struct {
	path   string
	secret *Secret
}

func (c *Config) secrets() []namedSecret {
	var out []namedSecret
	for i := range c.Networks {
		out = append(out, c.Networks[i].secrets(fmt.Sprintf("networks[%d]", i))...)
	}
	out = append(out, c.Calendar.secrets("calendar")...)
	out = append(out, c.Deploy.secrets("deploy")...)
	out = append(out, c.SAL.secrets("sal")...)
	return out
}

// Demo turns an example configuration into the embedded default: no
// networks (only the console, which feeds the first SAL project), no wiki
// or Phabricator, no secrets read, data in dataDir, the web server on
// httpAddr, and the console acting as the first deployer in the people list.
func Demo(data []byte, name, dataDir, httpAddr string) (*Config, error) {
	// Absolute, so that nothing depends on the working directory later
	// (git runs in directories below it).
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	return parse(data, name, "", func(c *Config) {
		c.Networks = nil
		c.Security.Rooms = nil
		// The console is one person: approvals by role would never come.
		c.Policy.Rules = nil
		c.Deploy.Gerrit = Gerrit{}
		c.Deploy.Sandbox = true
		c.Maint.Host = "" // no maintenance host to reach
		c.Bot.DataDir = dataDir
		c.Bot.HTTP = httpAddr
		c.Bot.BaseURL = "" // the address listened on
		c.Calendar.Wiki = nil
		c.SAL.Phabricator = nil
		for i := range c.SAL.Projects {
			c.SAL.Projects[i].Wiki = nil
			c.SAL.Projects[i].Rooms = nil
		}
		if len(c.SAL.Projects) > 0 {
			c.SAL.Projects[0].Rooms = []string{"console/console"}
		}
		for _, p := range c.People {
			if slicesContains(p.Roles, RoleDeployer) {
				c.Bot.ConsolePerson = p.Name
				break
			}
		}
	}, false)
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
