// Package backoff computes the waits between retries and runs retry loops.
//
// A Policy says how the waits grow: exponential from Min, doubling per
// retry, capped at Max, with a kind of jitter so that many clients cut off
// at once do not all come back in the same second. Policy.Delay is a pure
// function of the retry number and a random number, for tests; a Backoff
// counts the retries of one loop and draws the random numbers; Retry runs a
// whole loop for a call that says whether its error is worth retrying.
//
//	p := backoff.Policy{Min: time.Second, Max: time.Minute, Jitter: backoff.Equal, Tries: 5}
//	err := backoff.Retry(ctx, p, func(try int) (retryable bool, err error) {
//		err = call(ctx)
//		return isTransient(err), err
//	})
package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Jitter is how a wait is randomised.
type Jitter int

const (
	// None waits exactly min(Min·2ⁿ, Max).
	None Jitter = iota
	// Full waits a random time in [0, d), d being the wait without
	// jitter: the best spread, at the cost of some very short waits.
	Full
	// Equal waits a random time in [d/2, d).
	Equal
	// Spread waits d scaled by a random factor in [0.75, 1.25), clamped
	// to [Min, Max].
	Spread
)

// Policy describes a backoff. The zero Max means no cap.
type Policy struct {
	// Min is the wait before the first retry; it doubles per retry.
	Min time.Duration
	// Max caps the wait; zero means no cap.
	Max time.Duration
	// Jitter is how the waits are randomised.
	Jitter Jitter
	// Tries is how many times Retry calls its function at the most; zero
	// means until it succeeds, fails for good, or the context is done.
	Tries int
}

// Base is the wait before retry n (0 for the first) without jitter:
// min(Min·2ⁿ, Max).
func (p Policy) Base(n int) time.Duration {
	d := p.Min
	for i := 0; i < n && d > 0 && (p.Max <= 0 || d < p.Max) && d <= math.MaxInt64/2; i++ {
		d *= 2
	}
	if p.Max > 0 {
		d = min(d, p.Max)
	}
	return d
}

// Delay is the wait before retry n (0 for the first), r being a random
// number in [0, 1).
func (p Policy) Delay(n int, r float64) time.Duration {
	d := p.Base(n)
	switch p.Jitter {
	case Full:
		return time.Duration(float64(d) * r)
	case Equal:
		return d/2 + time.Duration(float64(d/2)*r)
	case Spread:
		j := time.Duration(float64(d) * (0.75 + 0.5*r))
		j = max(j, p.Min)
		if p.Max > 0 {
			j = min(j, p.Max)
		}
		return j
	}
	return d
}

// Backoff counts the retries of one loop. The zero value of its counter
// starts at the first retry; it is not safe for concurrent use.
type Backoff struct {
	Policy Policy
	n      int
}

// New returns a Backoff for p.
func New(p Policy) *Backoff { return &Backoff{Policy: p} }

// Next returns the wait before the next retry and counts it.
func (b *Backoff) Next() time.Duration {
	d := b.Policy.Delay(b.n, rand.Float64())
	if b.n < math.MaxInt32 {
		b.n++
	}
	return d
}

// Reset starts the waits again from Min, after a success.
func (b *Backoff) Reset() { b.n = 0 }

// Sleep waits d, or until ctx is done and then returns its error.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Retry calls f (with the try number, from 1) until it succeeds, returns
// retryable false, has been called p.Tries times, or ctx is done while
// waiting. It returns f's last error, or ctx's error when ctx ended a
// wait.
func Retry(ctx context.Context, p Policy, f func(try int) (retryable bool, err error)) error {
	return RetryNotify(ctx, p, f, nil)
}

// RetryNotify is Retry, calling notify (when not nil) before each wait
// with the error that is retried, the try that failed and the wait.
func RetryNotify(ctx context.Context, p Policy, f func(try int) (retryable bool, err error), notify func(err error, try int, wait time.Duration)) error {
	b := New(p)
	for try := 1; ; try++ {
		retryable, err := f(try)
		if err == nil || !retryable || (p.Tries > 0 && try >= p.Tries) {
			return err
		}
		d := b.Next()
		if notify != nil {
			notify(err, try, d)
		}
		if err := Sleep(ctx, d); err != nil {
			return err
		}
	}
}
