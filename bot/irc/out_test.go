package irc_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jouncebot/jouncebot/bot"
	"github.com/jouncebot/jouncebot/bot/irc/irctest"
)

// A priority send returns once the server has taken it (echoed it back),
// fails for a nick that is not there or a channel
// the bot may not speak in, and overtakes replies already queued.
func TestPrioritySendIsConfirmedAndOvertakesReplies(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	to := bot.Target{Network: "testnet", Room: channel}

	if err := w.bot.tr.SendPriority(ctx, to, bot.T("Deploy 1 is on the test servers.")); err != nil {
		t.Fatalf("SendPriority to the channel: %v", err)
	}
	w.alice.Expect(t, func(m irctest.Msg) bool { return m.Text == "Deploy 1 is on the test servers." })
	if !strings.Contains(w.bot.logs.String(), "echo_message=true") {
		t.Errorf("the server did not enable echo-message, so acceptance came from the PING barrier:\n%s", w.bot.logs)
	}

	err := w.bot.tr.SendPriority(ctx, bot.Target{Network: "testnet", Room: "nobody", Private: true}, bot.T("hello?"))
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("SendPriority to a missing nick = %v, want a refusal", err)
	}

	w.alice.Join(t, "#closed") // +n by default: no messages from outside
	err = w.bot.tr.SendPriority(ctx, bot.Target{Network: "testnet", Room: "#closed"}, bot.T("hello?"))
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("SendPriority to a channel the bot is not in = %v, want a refusal", err)
	}

	// Thirty replies fill the bucket; the priority line goes next.
	for i := range 30 {
		if err := w.bot.tr.Send(ctx, to, bot.T(fmt.Sprintf("reply %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.bot.tr.SendPriority(ctx, to, bot.T("Please test deploy 1, then say tested ok.")); err != nil {
		t.Fatalf("SendPriority behind replies: %v", err)
	}
	replies := 0
	for {
		m := w.alice.Expect(t, irctest.FromTo(botNick, channel))
		if m.Text == "Please test deploy 1, then say tested ok." {
			break
		}
		replies++
	}
	if replies > 10 {
		t.Errorf("the priority line came after %d of the 30 queued replies, want at most the bucket's burst and a line or two", replies)
	}
}

// Without echo-message, a PING after the last line tells when the server
// has taken a priority send.
func TestPrioritySendWithoutEchoMessage(t *testing.T) {
	t.Parallel()
	srv := irctest.Start(t, irctest.WithoutEchoMessage())
	srv.Register(t, botNick, botPass)
	alice := srv.Client(t, irctest.ClientConfig{Nick: "alice"})
	alice.Join(t, channel)
	b := startBot(t, botNetwork(srv))
	waitUntil(t, "the bot joins", func() bool { return joins(alice, botNick)() >= 1 })
	ctx := context.Background()
	if err := b.tr.SendPriority(ctx, bot.Target{Network: "testnet", Room: channel}, bot.T("one\ntwo")); err != nil {
		t.Fatalf("SendPriority: %v", err)
	}
	alice.Expect(t, func(m irctest.Msg) bool { return m.Text == "two" })
	if !strings.Contains(b.logs.String(), "echo_message=false") {
		t.Errorf("the server enabled echo-message:\n%s", b.logs)
	}
	err := b.tr.SendPriority(ctx, bot.Target{Network: "testnet", Room: "nobody", Private: true}, bot.T("hello?"))
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("SendPriority to a missing nick = %v, want a refusal", err)
	}
}
