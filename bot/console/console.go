// Package console is the embedded default transport: it reads lines from
// standard input as a local operator and prints replies to standard output.
// It works interactively and with piped input; at end of input it ends the
// bot's run once the last answers are out.
//
//	b.Add(console.New(os.Stdin, os.Stdout, "Alice"))
package console

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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

// MaxLine is the longest console line read, in bytes. A longer line is
// refused with a sentence and skipped; the console goes on reading.
const MaxLine = 64 * 1024

// line is one line of input, or the length of one refused as too long.
type line struct {
	text    string
	tooLong int
}

// Run reads lines until end of input or ctx is done.
func (c *Console) Run(ctx context.Context, h bot.Handler) error {
	lines := make(chan line)
	errc := make(chan error, 1)
	go func() {
		r := bufio.NewReaderSize(c.in, 64*1024)
		for {
			l, err := readLine(r, MaxLine)
			if err != nil && l.text == "" && l.tooLong == 0 {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				errc <- err
				return
			}
			select {
			case lines <- l:
			case <-ctx.Done():
				return
			}
		}
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
		case l := <-lines:
			if l.tooLong > 0 {
				c.Send(ctx, bot.Target{Network: Network, Room: Room}, bot.T(fmt.Sprintf(
					"That line is %d bytes long; I read lines of up to %d KiB, so I ignored it. Nothing was done.", l.tooLong, MaxLine/1024)))
				continue
			}
			if strings.TrimSpace(l.text) == "" {
				continue
			}
			h.Handle(ctx, &bot.Request{Message: bot.Message{
				ID:      strconv.Itoa(n),
				Network: Network,
				Room:    Room,
				Private: true,
				Nick:    "operator",
				Account: c.account,
				Text:    l.text,
				Time:    time.Now(),
			}})
		}
	}
}

// readLine reads one line without its line ending. A line longer than max
// bytes is read to its end and discarded: only its length is returned. The
// error is that of the read that ended the line (io.EOF for a last line
// without a newline).
func readLine(r *bufio.Reader, max int) (line, error) {
	var buf []byte
	size := 0
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf) <= max {
			buf = append(buf, chunk...)
		}
		size += len(chunk)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if bytes.HasSuffix(chunk, []byte("\n")) {
			size--
		}
		if size > max {
			return line{tooLong: size}, err
		}
		return line{text: strings.TrimRight(string(buf), "\r\n")}, err
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
