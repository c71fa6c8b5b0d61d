package bot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// script is a transport that delivers fixed lines, then ends its input.
type script struct {
	lines      []string
	nicks      []string // sender of each line; "" for all when nil
	sequential bool

	mu   sync.Mutex
	sent []string
}

func (s *script) Network() string  { return "test" }
func (s *script) Rooms() []string  { return []string{"#room"} }
func (s *script) Sequential() bool { return s.sequential }
func (s *script) Run(ctx context.Context, h Handler) error {
	for i, l := range s.lines {
		nick := ""
		if s.nicks != nil {
			nick = s.nicks[i]
		}
		h.Handle(ctx, &Request{Message: Message{ID: string(rune('a' + i)), Network: "test", Room: "#room", Nick: nick, Text: l}})
	}
	return ErrEndOfInput
}
func (s *script) Send(ctx context.Context, to Target, t Text) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, t.String())
	return nil
}

func TestPanicInHandlerDoesNotStopTheBot(t *testing.T) {
	var logs bytes.Buffer
	tr := &script{lines: []string{"panic", "hello"}, sequential: true}
	b := New(slog.New(slog.NewTextHandler(&logs, nil)), HandlerFunc(func(ctx context.Context, r *Request) {
		if r.Text == "panic" {
			panic("boom")
		}
		r.Reply(ctx, T("hi"))
	}))
	b.Add(tr)
	if err := b.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"Sorry, something went wrong inside me while handling that; it has been logged.", "hi"}
	if strings.Join(tr.sent, "|") != strings.Join(want, "|") {
		t.Errorf("sent %q, want %q", tr.sent, want)
	}
	if !strings.Contains(logs.String(), "handler panicked") {
		t.Errorf("panic not logged")
	}
}

// A handler that blocks does not keep other people's messages in its room
// from being answered.
func TestSlowHandlerDoesNotBlockOthers(t *testing.T) {
	release := make(chan struct{})
	answered := make(chan struct{})
	tr := &script{lines: []string{"slow", "fast"}, nicks: []string{"ann", "bo"}}
	b := New(slog.New(slog.DiscardHandler), HandlerFunc(func(ctx context.Context, r *Request) {
		if r.Text == "slow" {
			<-release
			return
		}
		r.Reply(ctx, T("fast answer"))
		close(answered)
	}))
	b.Add(tr)
	done := make(chan error)
	go func() { done <- b.Run(context.Background()) }()
	<-answered // would deadlock if "slow" blocked dispatch
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type failing struct{ script }

func (f *failing) Send(ctx context.Context, to Target, t Text) error { return errors.New("down") }

func TestAnnounceReachesEveryTransport(t *testing.T) {
	ok := &script{}
	b := New(slog.New(slog.DiscardHandler), HandlerFunc(func(context.Context, *Request) {}))
	b.Add(&failing{})
	b.Add(ok)
	err := b.Announce(context.Background(), T("window open"))
	if err == nil || !strings.Contains(err.Error(), "down") {
		t.Errorf("Announce error = %v; want the failing transport's error", err)
	}
	if len(ok.sent) != 1 || ok.sent[0] != "window open" {
		t.Errorf("working transport got %q", ok.sent)
	}
}

func TestTextLines(t *testing.T) {
	txt := Join(B("a\nb"), T(" c\n"), L("x", "http://x"))
	var got []string
	for _, l := range txt.Lines() {
		got = append(got, l.String())
	}
	want := []string{"a", "b c", "x (http://x)"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Lines() = %q, want %q", got, want)
	}
	if txt.Lines()[1][0].Kind != Bold {
		t.Errorf("formatting lost across lines")
	}
}

// Quick successive requests in one room are answered in order even though
// each is handled on its own goroutine.
func TestRepliesInOrderPerRoom(t *testing.T) {
	var lines, nicks []string
	for i := range 50 {
		lines = append(lines, string(rune('A'+i%26))+strings.Repeat("x", i))
		nicks = append(nicks, fmt.Sprint("nick", i%5)) // within each one's reply budget
	}
	tr := &script{lines: lines, nicks: nicks}
	b := New(slog.New(slog.DiscardHandler), HandlerFunc(func(ctx context.Context, r *Request) {
		r.Reply(ctx, T(r.Text))
	}))
	b.Add(tr)
	if err := b.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Join(tr.sent, "|") != strings.Join(lines, "|") {
		t.Errorf("replies out of order:\n%q", tr.sent)
	}
}

func TestLinkWithoutLabelKept(t *testing.T) {
	got := Join(T("see "), Text{{Kind: Link, URL: "https://x.example/sal"}}).Lines()
	if len(got) != 1 || got[0].String() != "see https://x.example/sal" {
		t.Errorf("Lines() = %q", got)
	}
}

// One sender asking over and over gets its budget of lines and one "slow
// down", and is then not answered; others are answered as usual.
func TestReplyBudgetPerSender(t *testing.T) {
	var lines, nicks []string
	for i := range 100 {
		lines = append(lines, fmt.Sprint("help ", i))
		nicks = append(nicks, "flooder")
	}
	lines, nicks = append(lines, "hello"), append(nicks, "alice")
	tr := &script{lines: lines, nicks: nicks, sequential: false}
	b := New(slog.New(slog.DiscardHandler), HandlerFunc(func(ctx context.Context, r *Request) {
		r.Reply(ctx, T(r.Nick+": "+r.Text))
	}))
	b.Add(tr)
	if err := b.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	flooder, slow, alice := 0, 0, 0
	for _, s := range tr.sent {
		switch {
		case strings.HasPrefix(s, "flooder: "):
			flooder++
		case strings.HasPrefix(s, "You are asking faster than I can answer"):
			slow++
		case s == "alice: hello":
			alice++
		}
	}
	if flooder != replyBurst || slow != 1 || alice != 1 {
		t.Errorf("flooder got %d replies and %d slow-downs, alice %d; want %d, 1 and 1", flooder, slow, alice, replyBurst)
	}
}

func TestReplyLimiterRefills(t *testing.T) {
	l := newReplyLimiter()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	if ok, _ := l.allow("k", replyBurst, now); !ok {
		t.Fatal("a full budget refused")
	}
	if ok, wait := l.allow("k", 2, now); ok || wait != 2*replyEvery {
		t.Errorf("empty budget: ok=%v wait=%v, want refused and told to wait %v", ok, wait, 2*replyEvery)
	}
	if ok, wait := l.allow("k", 2, now); ok || wait != 0 {
		t.Errorf("second refusal: ok=%v wait=%v, want refused silently", ok, wait)
	}
	if ok, _ := l.allow("k", 2, now.Add(2*replyEvery)); !ok {
		t.Errorf("refilled budget refused")
	}
	if ok, _ := l.allow("other", 1, now); !ok {
		t.Errorf("another sender refused")
	}
}

// aliased is a transport whose rooms have a second name, like Matrix
// aliases.
type aliased struct {
	script
	ids map[string]string
}

func (a *aliased) Network() string { return "mx" }
func (a *aliased) RoomID(room string) (string, bool) {
	id, ok := a.ids[room]
	return id, ok
}

func TestSameRoom(t *testing.T) {
	b := New(slog.New(slog.DiscardHandler), HandlerFunc(func(context.Context, *Request) {}))
	b.Add(&script{})
	b.Add(&aliased{ids: map[string]string{"#ops:example.org": "!abc:example.org"}})
	tests := []struct {
		network, configured, room string
		want                      bool
	}{
		{"test", "#Ops", "#ops", true},    // IRC channels ignore case
		{"test", "#ops", "#other", false}, //
		{"mx", "!abc:example.org", "!abc:example.org", true},
		{"mx", "!ABC:example.org", "!abc:example.org", false}, // room ids do not
		{"mx", "#ops:example.org", "!abc:example.org", true},  // an alias, by its id
		{"mx", "#new:example.org", "!abc:example.org", false}, // not resolved
		{"test", "#ops:example.org", "!abc:example.org", false},
	}
	for _, tt := range tests {
		if got := b.SameRoom(tt.network, tt.configured, tt.room); got != tt.want {
			t.Errorf("SameRoom(%q, %q, %q) = %v, want %v", tt.network, tt.configured, tt.room, got, tt.want)
		}
	}
}

// paced is a transport that wants short replies in rooms, like IRC.
type paced struct {
	mu   sync.Mutex
	sent []string // "room: text"
}

func (p *paced) Network() string                          { return "test" }
func (p *paced) Rooms() []string                          { return []string{"#room"} }
func (p *paced) Run(ctx context.Context, h Handler) error { return nil }
func (p *paced) ChannelLines() int                        { return 3 }
func (p *paced) Send(ctx context.Context, to Target, t Text) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, to.Room+": "+t.String())
	return nil
}

// A long reply in a room is cut there with a note and continued privately;
// a private one is sent whole.
func TestLongReplyInRoomContinuesPrivately(t *testing.T) {
	tr := &paced{}
	b := New(slog.New(slog.DiscardHandler), HandlerFunc(func(context.Context, *Request) {}))
	long := T("one\ntwo\nthree\nfour\nfive")
	r := &Request{Message: Message{Network: "test", Room: "#room", Nick: "alice", Text: "help"}, bot: b, tr: tr}
	if err := r.Reply(context.Background(), long); err != nil {
		t.Fatal(err)
	}
	r = &Request{Message: Message{Network: "test", Room: "bob", Private: true, Nick: "bob", Text: "help"}, bot: b, tr: tr}
	if err := r.Reply(context.Background(), long); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"#room: one\ntwo\nalice: … and 3 more lines, sent to you privately.",
		"alice: three\nfour\nfive",
		"bob: one\ntwo\nthree\nfour\nfive",
	}
	if strings.Join(tr.sent, "|") != strings.Join(want, "|") {
		t.Errorf("sent %q, want %q", tr.sent, want)
	}
}

// flood is a transport on which people ask a question every 100 ms, each in
// their own private room, round after round.
type flood struct {
	people []Message
	rounds int

	mu   sync.Mutex
	sent []string
}

func (f *flood) Network() string { return "test" }
func (f *flood) Rooms() []string { return nil }
func (f *flood) Run(ctx context.Context, h Handler) error {
	for i := range f.rounds {
		for _, m := range f.people {
			m.Network, m.Room, m.Private, m.Text = "test", m.Nick, true, fmt.Sprint(i)
			h.Handle(ctx, &Request{Message: m})
		}
		time.Sleep(100 * time.Millisecond)
	}
	return ErrEndOfInput
}
func (f *flood) Send(ctx context.Context, to Target, t Text) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, to.Room+": "+t.String())
	return nil
}

// People the bot knows get every answer, in order, however fast they ask,
// and neither holds up the other; a stranger and an unidentified sender
// get their budget, one sentence telling them to slow down, and then only
// what the budget refills.
func TestKnownPeopleWaitTheirTurnStrangersAreCutOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rounds = 60
		tr := &flood{rounds: rounds, people: []Message{
			{Nick: "ann", Account: "ann"}, {Nick: "bo", Account: "bo"}, // known
			{Nick: "eve", Account: "eve"}, // identified, not in the people list
			{Nick: "zed"},                 // not identified
		}}
		b := New(slog.New(slog.DiscardHandler), HandlerFunc(func(ctx context.Context, r *Request) {
			r.Reply(ctx, T(r.Text))
		}))
		b.SetKnown(func(m Message) bool { return m.Account == "ann" || m.Account == "bo" })
		b.Add(tr)
		if err := b.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		at := map[string]int{} // where the last answer of each sender came
		for i, s := range tr.sent {
			who, text, _ := strings.Cut(s, ": ")
			got[who] = append(got[who], text)
			if !strings.HasPrefix(text, "You are") {
				at[who] = i
			}
		}
		for _, who := range []string{"ann", "bo"} {
			var want []string
			for i := range rounds {
				want = append(want, fmt.Sprint(i))
			}
			if diff := cmp.Diff(want, got[who]); diff != "" {
				t.Errorf("%s's answers (-want +got):\n%s", who, diff)
			}
		}
		if d := at["ann"] - at["bo"]; d < -4 || d > 4 {
			t.Errorf("ann's last answer came %d lines from bo's; both queues should be served in turn:\n%q", d, tr.sent)
		}
		for _, who := range []string{"eve", "zed"} {
			slow, answers := 0, 0
			for _, text := range got[who] {
				if strings.HasPrefix(text, "You are asking faster than I can answer; I will answer you again in about ") {
					slow++
				} else {
					answers++
				}
			}
			if slow != 1 || answers < replyBurst || answers >= rounds {
				t.Errorf("%s got %d answers and %d slow-downs, want at least %d, fewer than %d, and 1:\n%q", who, answers, slow, replyBurst, rounds, got[who])
			}
		}
	})
}

// One person's answers come in the order they asked, even when the first
// takes seconds; another person in the room waits for it at most orderWait.
func TestSendersAnswersKeepTheirOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &script{lines: []string{"slow", "fast", "other"}, nicks: []string{"ann", "ann", "bo"}}
		b := New(slog.New(slog.DiscardHandler), HandlerFunc(func(ctx context.Context, r *Request) {
			if r.Text == "slow" {
				time.Sleep(5 * time.Second) // a command that takes its time
			}
			r.Reply(ctx, T(r.Nick+" "+r.Text))
		}))
		b.Add(tr)
		if err := b.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]string{"bo other", "ann slow", "ann fast"}, tr.sent); d != "" {
			t.Errorf("answers (-want +got):\n%s", d)
		}
	})
}

// stamped is a transport on which one person asks n questions in a private
// room, one every gap, and which records when each answer came.
type stamped struct {
	who Message
	n   int
	gap time.Duration

	mu     sync.Mutex
	asked  map[string]time.Time
	sent   []string
	late   time.Duration // the longest an answer came after its question
	answer int
}

func (s *stamped) Network() string { return "test" }
func (s *stamped) Rooms() []string { return nil }
func (s *stamped) Run(ctx context.Context, h Handler) error {
	for i := range s.n {
		m := s.who
		m.Network, m.Room, m.Private, m.Text = "test", m.Nick, true, fmt.Sprint(i)
		s.mu.Lock()
		s.asked[m.Text] = time.Now()
		s.mu.Unlock()
		h.Handle(ctx, &Request{Message: m})
		time.Sleep(s.gap)
	}
	return ErrEndOfInput
}
func (s *stamped) Send(ctx context.Context, to Target, t Text) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, t.String())
	if at, ok := s.asked[t.String()]; ok {
		s.answer++
		s.late = max(s.late, time.Since(at))
	}
	return nil
}

// A person the bot knows who asks far faster than the budget for a long
// time (a script gone wrong) does not pile up answers for hours: their
// backlog holds at most staleReply of answers, they are told once to slow
// down, and every answer that comes is at most that late.
func TestKnownPersonsBacklogIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &stamped{who: Message{Nick: "ann", Account: "ann"}, n: 2000, gap: 100 * time.Millisecond, asked: map[string]time.Time{}}
		b := New(slog.New(slog.DiscardHandler), HandlerFunc(func(ctx context.Context, r *Request) {
			r.Reply(ctx, T(r.Text))
		}))
		b.SetKnown(func(m Message) bool { return m.Account == "ann" })
		b.Add(tr)
		if err := b.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		slow := 0
		for _, s := range tr.sent {
			if strings.HasPrefix(s, "You are asking faster") {
				slow++
			}
		}
		if tr.late > staleReply+replyEvery {
			t.Errorf("an answer came %v after its question; a known person's backlog should hold at most %v", tr.late, staleReply)
		}
		if slow != 1 || tr.answer < replyBurst+int(staleReply/replyEvery) {
			t.Errorf("got %d answers and %d slow-downs; want at least %d answers (the budget and a full backlog) and one slow-down", tr.answer, slow, replyBurst+int(staleReply/replyEvery))
		}
	})
}

// slowFirst is a transport whose first send takes a second (a slow HTTP
// request), and which records each reply when its send completes.
type slowFirst struct {
	script
	calls int
}

func (s *slowFirst) Run(ctx context.Context, h Handler) error {
	for _, l := range s.lines {
		h.Handle(ctx, &Request{Message: Message{Network: "test", Room: "#room", Nick: "ann", Account: "ann", Text: l}})
	}
	return ErrEndOfInput
}

func (s *slowFirst) Send(ctx context.Context, to Target, t Text) error {
	s.mu.Lock()
	s.calls++
	first := s.calls == 1
	s.mu.Unlock()
	if first {
		time.Sleep(time.Second)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, t.String())
	return nil
}

// A known person's answers keep the order of the questions even when the
// budget lets them go at once and the first send is slow: the next message
// waits for the first answer to be sent, as a stranger's does.
func TestKnownPersonsAnswersKeepTheirOrderWhenASendIsSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &slowFirst{script: script{lines: []string{"first", "second"}}}
		b := New(slog.New(slog.DiscardHandler), HandlerFunc(func(ctx context.Context, r *Request) {
			r.Reply(ctx, T(r.Text))
		}))
		b.SetKnown(func(m Message) bool { return m.Account == "ann" })
		b.Add(tr)
		if err := b.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]string{"first", "second"}, tr.sent); d != "" {
			t.Errorf("answers (-want +got):\n%s", d)
		}
	})
}

// Stopping the bot while a known person's answers wait for their turn ends
// every waiting handler: Run returns, and no goroutine is left behind (the
// bubble would report it as blocked for good).
func TestStopWhileKnownRepliesWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &stamped{who: Message{Nick: "ann", Account: "ann"}, n: 100, gap: 10 * time.Millisecond, asked: map[string]time.Time{}}
		b := New(slog.New(slog.DiscardHandler), HandlerFunc(func(ctx context.Context, r *Request) {
			r.Reply(ctx, T(r.Text))
		}))
		b.SetKnown(func(m Message) bool { return m.Account == "ann" })
		b.Add(tr)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		start := time.Now()
		if err := b.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 11*time.Second {
			t.Errorf("Run returned %v after it started; want soon after the stop at 10s", d)
		}
		if tr.answer >= tr.n {
			t.Errorf("all %d answered before the stop; the test needs some still waiting", tr.answer)
		}
	})
}
