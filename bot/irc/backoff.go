package irc

import "time"

// Backoff computes reconnect delays: exponential from Min, capped at Max,
// with jitter so that many clients cut off at once do not all come back in
// the same second.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff goes from about a second to two minutes. The transport
// starts growing it only after quickRetries attempts.
var DefaultBackoff = Backoff{Min: time.Second, Max: 2 * time.Minute}

// Delay is the wait before reconnect attempt n (0 for the first after a
// disconnect). jitter is a random number in [0, 1). The result is
// min(Min·2ⁿ, Max) scaled by a factor in [0.75, 1.25), clamped to
// [Min, Max]: about 1, 2, 4 … 64 s, then 90–120 s.
func (b Backoff) Delay(n int, jitter float64) time.Duration {
	base := b.Min
	for i := 0; i < n && base < b.Max; i++ {
		base *= 2
	}
	base = min(base, b.Max)
	d := time.Duration(float64(base) * (0.75 + 0.5*jitter))
	return min(max(d, b.Min), b.Max)
}

// quickRetries is how many reconnect attempts after a lost connection wait
// only quickDelay (give or take a quarter) before the backoff starts: a
// restarting server is back within seconds, and the bot should be too. Ten
// refused connections in five seconds cost a server nothing.
const (
	quickRetries = 10
	quickDelay   = 500 * time.Millisecond
)

// Flapping: more than flapLimit lost connections (each after a successful
// registration) within flapWindow, and the backoff is no longer reset.
const (
	flapLimit  = 15
	flapWindow = 10 * time.Minute
)

// flapCounter remembers when recent connections were lost.
type flapCounter struct{ lost []time.Time }

// add records a connection lost at now and reports whether that makes the
// connection a flapping one.
func (f *flapCounter) add(now time.Time) bool {
	kept := f.lost[:0]
	for _, t := range f.lost {
		if now.Sub(t) < flapWindow {
			kept = append(kept, t)
		}
	}
	f.lost = append(kept, now)
	return len(f.lost) > flapLimit
}
