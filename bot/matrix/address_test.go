package matrix

import "testing"

func TestNormalise(t *testing.T) {
	a := addressing{nick: "jouncebot", userID: "@deploybot:example.org", names: []string{"deploybot", "Deploy Bot", ""}}
	pill := `<a href="https://matrix.to/#/@deploybot:example.org">Deploy Bot</a>`
	tests := []struct {
		name, body, html, want string
	}{
		{"nick", "jouncebot: next", "", "jouncebot: next"},
		{"nick comma any case", "JounceBot, next", "", "jouncebot: next"},
		{"localpart", "deploybot: next", "", "jouncebot: next"},
		{"display name", "Deploy Bot: now", "", "jouncebot: now"},
		{"user id", "@deploybot:example.org: next", "", "jouncebot: next"},
		{"pill", "Deploy Bot: next", pill + ": next", "jouncebot: next"},
		{"pill without colon", "Deploy Bot next", pill + " next", "jouncebot: next"},
		{"pill escaped id", "Deploy Bot: next", `<a href="https://matrix.to/#/%40deploybot%3Aexample.org">Deploy Bot</a>: next`, "jouncebot: next"},
		{"matrix uri pill", "Deploy Bot: next", `<a href="matrix:u/deploybot:example.org">Deploy Bot</a>: next`, "jouncebot: next"},
		{"pill of someone else", "Alice: next", `<a href="https://matrix.to/#/@alice:example.org">Alice</a>: next`, "Alice: next"},
		{"pill later in the text", "hey Deploy Bot: next", "hey " + pill + ": next", "hey Deploy Bot: next"},
		{"name without separator", "jouncebot next", "", "jouncebot next"},
		{"longer word", "jouncebots: next", "", "jouncebots: next"},
		{"not addressed", "the deploy is done", "", "the deploy is done"},
		{"only a name", "jouncebot:", "", "jouncebot: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.normalise(tt.body, tt.html); got != tt.want {
				t.Errorf("normalise(%q, %q) = %q, want %q", tt.body, tt.html, got, tt.want)
			}
		})
	}
}
