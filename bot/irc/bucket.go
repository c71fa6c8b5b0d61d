package irc

import "time"

// Bucket is a token bucket measured in lines: up to Burst lines go out at
// once, then one every Interval. The defaults keep within the flood limits
// common servers apply to unprivileged clients: InspIRCd's stock
// <connect threshold="10" commandrate="1000"> (kill at a penalty of ten,
// one command a second drained) and Solanum's burst of five, then about a
// line a second. girc's own PONG/WHO/MODE lines fit in the remaining
// headroom.
type Bucket struct {
	Burst    int
	Interval time.Duration

	tokens float64
	last   time.Time
}

// DefaultBucket is the bucket every connection starts with.
func DefaultBucket() *Bucket { return &Bucket{Burst: 5, Interval: time.Second} }

// Reserve takes a token for one line sent at now and returns how long the
// line must wait. Reservations queue up: calling it again before the wait is
// over returns a longer wait.
func (b *Bucket) Reserve(now time.Time) time.Duration {
	if b.last.IsZero() {
		b.tokens = float64(b.Burst)
	} else if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(float64(b.Burst), b.tokens+float64(elapsed)/float64(b.Interval))
	}
	if now.After(b.last) {
		b.last = now
	}
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens * float64(b.Interval))
}

// Ready returns how long from now until a line could go at once, without
// taking a token.
func (b *Bucket) Ready(now time.Time) time.Duration {
	if b.last.IsZero() {
		return 0
	}
	tokens := b.tokens
	if elapsed := now.Sub(b.last); elapsed > 0 {
		tokens = min(float64(b.Burst), tokens+float64(elapsed)/float64(b.Interval))
	}
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) * float64(b.Interval))
}
