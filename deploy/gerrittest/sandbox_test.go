package gerrittest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return resp.StatusCode
	}
	if !bytes.HasPrefix(b, []byte(")]}'\n")) {
		t.Fatalf("no magic prefix: %q", b)
	}
	if err := json.Unmarshal(b[5:], v); err != nil {
		t.Fatal(err)
	}
	return 200
}

func TestSandboxMergeBumpsSubmodule(t *testing.T) {
	RequireGit(t)
	sb, err := NewSandbox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	sb.SetGate(Gate{Delay: time.Millisecond})
	n := sb.Changes["extension"]
	var ci changeInfo
	if code := get(t, sb.URL+"changes/mediawiki%2Fextensions%2FExample~"+itoa(n)+"?o=CURRENT_REVISION&o=CURRENT_COMMIT&o=DETAILED_LABELS", &ci); code != 200 {
		t.Fatalf("status %d", code)
	}
	if ci.Project != ExtensionProject || ci.Mergeable == nil || !*ci.Mergeable || ci.Revisions[ci.CurrentRevision].Commit == nil {
		t.Fatalf("bad change info: %+v", ci)
	}
	body := strings.NewReader(`{"labels":{"Code-Review":2},"message":"deploying"}`)
	req, _ := http.NewRequest("POST", sb.URL+"a/changes/"+itoa(n)+"/revisions/current/review", body)
	req.SetBasicAuth(BotUser, BotPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("review: %v %v", err, resp.Status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for sb.Status(n) != "MERGED" {
		if time.Now().After(deadline) {
			t.Fatal("not merged")
		}
		time.Sleep(5 * time.Millisecond)
	}
	out, err := git(sb.CoreDir(), nil, "", "fetch", "-q", "origin")
	if err != nil {
		t.Fatal(out, err)
	}
	log, _ := git(sb.CoreDir(), nil, "", "log", "-1", "--format=%B", "origin/"+CoreBranch)
	if !strings.Contains(log, "Change-Id: "+sb.ChangeID(n)) {
		t.Fatalf("bump commit lacks Change-Id: %s", log)
	}
	if sb.Fetches(CoreProject) != 1 {
		t.Fatalf("fetches not counted: %d", sb.Fetches(CoreProject))
	}
	req, _ = http.NewRequest("GET", sb.URL+"a/changes/"+itoa(n), nil)
	req.SetBasicAuth(BotUser, "wrong")
	resp, _ = http.DefaultClient.Do(req)
	if resp.StatusCode != 401 {
		t.Fatalf("wrong password: %s", resp.Status)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
