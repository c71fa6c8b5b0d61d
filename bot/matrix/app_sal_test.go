package matrix_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"github.com/jouncebot/jouncebot/bot/matrix/matrixtest"
)

// future2099 sets the origin_server_ts of every timeline event whose body
// contains marker to 2099, in a /sync answer.
func future2099(marker string) func([]byte) []byte {
	const ts2099 = 4070908800000 // 2099-01-01T00:00:00Z in ms
	return func(body []byte) []byte {
		if !bytes.Contains(body, []byte(marker)) {
			return body
		}
		var sync map[string]any
		if json.Unmarshal(body, &sync) != nil {
			return body
		}
		rooms, _ := sync["rooms"].(map[string]any)
		join, _ := rooms["join"].(map[string]any)
		for _, r := range join {
			timeline, _ := r.(map[string]any)["timeline"].(map[string]any)
			events, _ := timeline["events"].([]any)
			for _, e := range events {
				ev, _ := e.(map[string]any)
				content, _ := ev["content"].(map[string]any)
				if b, _ := content["body"].(string); strings.Contains(b, marker) {
					ev["origin_server_ts"] = ts2099
				}
			}
		}
		out, err := json.Marshal(sync)
		if err != nil {
			return body
		}
		return out
	}
}

// A !log line whose homeserver dates it 2099 is logged when it arrived,
// and the entries after it keep their own times: date search still finds
// them. Real dendrite; the 2099 timestamp is what a remote homeserver
// could set, put into the bot's /sync by a rewriting proxy.
func TestFutureTimestampDoesNotRedateTheLog(t *testing.T) {
	srv := matrixtest.Start(t)
	botUser := srv.CreateUser(t, "deploybot", "bot-password")
	amir := srv.Client(t, srv.CreateUser(t, "amir", "amir-password"))
	ctx := context.Background()
	resp, err := amir.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	room := resp.RoomID
	w := matrixtest.Watch(t, amir)
	proxy := srv.Rewriter(t, matrixtest.IsSync, future2099("from-the-future"))
	yaml := botConfig(srv, botUser, []string{room.String()}, []string{"matrix/" + room.String()}, "")
	yaml = strings.Replace(yaml, "homeserver: "+srv.URL, "homeserver: "+proxy, 1)
	yaml = strings.Replace(yaml, "  data_dir: data\n", "  data_dir: data\n  http: 127.0.0.1:0\n", 1)
	runApp(t, botUser, yaml, nil)

	link := regexp.MustCompile(`http://127\.0\.0\.1:\d+/sal/log/\d+`)
	logLine := func(text string) string {
		t.Helper()
		if _, err := amir.SendText(ctx, room, text); err != nil {
			t.Fatal(err)
		}
		ev := w.Wait(t, fromBot(room, botUser, "Logged the message at "))
		u := link.FindString(ev.Content.AsMessage().Body)
		if u == "" {
			t.Fatalf("no permalink in %q", ev.Content.AsMessage().Body)
		}
		return strings.Replace(u, "/sal/log/", "/api/sal/", 1)
	}
	entryTime := func(api string) time.Time {
		t.Helper()
		resp, err := http.Get(api)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct {
			Time time.Time `json:"time"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			t.Fatal(err)
		}
		return e.Time
	}
	before := time.Now().Add(-time.Minute)
	first := logLine("!log restarted apache from-the-future")
	second := logLine("!log restarted envoy")
	after := time.Now().Add(time.Minute)
	t1, t2 := entryTime(first), entryTime(second)
	if t1.Before(before) || t1.After(after) || t2.Before(t1) || t2.After(after) {
		t.Errorf("entries dated %v and %v; want both between %v and %v, in order", t1, t2, before, after)
	}
	day := time.Now().UTC().Format(time.DateOnly)
	search := strings.Replace(first, "/api/sal/1", "/api/sal?from="+day+"&to="+day, 1)
	r, err := http.Get(search)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !strings.Contains(string(body), "restarted apache") || !strings.Contains(string(body), "restarted envoy") {
		t.Errorf("today's entries lack one:\n%s", body)
	}
}

// A deployer logs a wikitext line on Matrix and searches the log: the
// answer's HTML body has the links the wiki would show (the configured
// Gerrit, Phabricator and wiki), its plain body keeps the wikitext as
// written, and a hostile label stays text. Real dendrite, the app from
// YAML.
func TestSALWikitextRendersInMatrixHTML(t *testing.T) {
	srv := matrixtest.Start(t)
	botUser := srv.CreateUser(t, "deploybot", "bot-password")
	amir := srv.Client(t, srv.CreateUser(t, "amir", "amir-password"))
	ctx := context.Background()
	resp, err := amir.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	room := resp.RoomID
	w := matrixtest.Watch(t, amir)
	yaml := botConfig(srv, botUser, []string{room.String()}, []string{"matrix/" + room.String()}, `  links:
    wiki: "https://wiki.example.org/wiki/$1"
    interwiki: {gerrit: "https://gerrit.example.org/r/$1", phab: "https://phab.example.org/$1"}
`)
	runApp(t, botUser, yaml, nil)

	line := "Backport for [[gerrit:445113|Raise $wgExampleLimit to 20 (T1001)]] and [[gerrit:7|<script>alert(1)</script>]], see [[Deployments]]"
	if _, err := amir.SendText(ctx, room, "!log "+line); err != nil {
		t.Fatal(err)
	}
	w.Wait(t, fromBot(room, botUser, "Logged the message"))
	if _, err := amir.SendText(ctx, room, "jouncebot: sal wgExampleLimit"); err != nil {
		t.Fatal(err)
	}
	c := w.Wait(t, fromBot(room, botUser, "The one matching Server Admin Log entry")).Content.AsMessage()
	if !strings.Contains(c.Body, line) {
		t.Errorf("the plain body does not keep the wikitext as written:\n%s", c.Body)
	}
	for _, want := range []string{
		`<a href="https://gerrit.example.org/r/445113">Raise $wgExampleLimit to 20 (T1001)</a>`,
		`<a href="https://gerrit.example.org/r/7">&lt;script&gt;alert(1)&lt;/script&gt;</a>`,
		`<a href="https://wiki.example.org/wiki/Deployments">Deployments</a>`,
	} {
		if !strings.Contains(c.FormattedBody, want) {
			t.Errorf("the HTML body lacks %s:\n%s", want, c.FormattedBody)
		}
	}
	if strings.Contains(c.FormattedBody, "<script>") {
		t.Errorf("the HTML body carries a script element:\n%s", c.FormattedBody)
	}
}
