// Package console is the embedded default transport: it reads lines from
// standard input as a local operator and prints replies to standard output.
// It works interactively and with piped input; at end of input it ends the
// bot's run once the last answers are out.
//
//	b.Add(console.New(os.Stdin, os.Stdout, "Alice"))
package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jouncebot/jouncebot/bot"
)

// Network is the console's network name.
const Network = "console"

// Room is the console's only room.
const Room = "console"

// Console is a bot.Transport over a reader and a writer.
type Console struct {
	in      io.Reader
	account string

	mu  sync.Mutex
	out io.Writer
}

// New returns a console reading in and writing out. The operator acts as
// the person named account (a name from the people list); empty means the
// operator is not identified.
func New(in io.Reader, out io.Writer, account string) *Console {
	return &Console{in: in, out: out, account: account}
}

// Network implements bot.Transport.
func (c *Console) Network() string { return Network }

// Rooms implements bot.Transport: announcements are printed too.
func (c *Console) Rooms() []string { return []string{Room} }

// Sequential makes the bot answer console lines one after another, in the
// order they were typed, as a shell would.
func (c *Console) Sequential() bool { return true }

// Run reads lines until end of input or ctx is done.
func (c *Console) Run(ctx context.Context, h bot.Handler) error {
	lines := make(chan string)
	errc := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(c.in)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		errc <- sc.Err()
	}()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("console: read input: %w", err)
			}
			return bot.ErrEndOfInput
		case line := <-lines:
			if strings.TrimSpace(line) == "" {
				continue
			}
			h.Handle(ctx, &bot.Request{Message: bot.Message{
				ID:      strconv.Itoa(n),
				Network: Network,
				Room:    Room,
				Private: true,
				Nick:    "operator",
				Account: c.account,
				Text:    line,
				Time:    time.Now(),
			}})
		}
	}
}

// Send prints t, one line per line of text.
func (c *Console) Send(ctx context.Context, to bot.Target, t bot.Text) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, line := range t.Lines() {
		b.WriteString(line.String())
		b.WriteByte('\n')
	}
	_, err := io.WriteString(c.out, b.String())
	return err
}
