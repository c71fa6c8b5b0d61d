package backoff

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestDelay(t *testing.T) {
	p := Policy{Min: time.Second, Max: time.Minute}
	tests := []struct {
		name   string
		jitter Jitter
		n      int
		r      float64
		want   time.Duration
	}{
		{"none first", None, 0, 0.9, time.Second},
		{"none doubles", None, 3, 0.9, 8 * time.Second},
		{"none capped", None, 6, 0.9, time.Minute},
		{"none far", None, 1000, 0.9, time.Minute},
		{"full low", Full, 2, 0, 0},
		{"full mid", Full, 2, 0.5, 2 * time.Second},
		{"equal low", Equal, 2, 0, 2 * time.Second},
		{"equal high", Equal, 2, 0.5, 3 * time.Second},
		{"equal capped", Equal, 10, 0.5, 45 * time.Second},
		{"spread clamped to min", Spread, 0, 0, time.Second},
		{"spread", Spread, 2, 0.5, 4 * time.Second},
		{"spread low", Spread, 2, 0, 3 * time.Second},
		{"spread clamped to max", Spread, 10, 0.999, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := p
			q.Jitter = tt.jitter
			if got := q.Delay(tt.n, tt.r); got != tt.want {
				t.Errorf("Delay(%d, %v) = %v, want %v", tt.n, tt.r, got, tt.want)
			}
		})
	}
}

func TestBaseWithoutCap(t *testing.T) {
	p := Policy{Min: time.Millisecond}
	if got := p.Base(3); got != 8*time.Millisecond {
		t.Errorf("Base(3) = %v, want 8ms", got)
	}
	if got := p.Base(200); got <= 0 {
		t.Errorf("Base(200) = %v, want a positive wait (no overflow)", got)
	}
	if got := (Policy{}).Base(1 << 30); got != 0 {
		t.Errorf("zero policy Base = %v, want 0", got)
	}
}

func TestBackoffNextAndReset(t *testing.T) {
	b := New(Policy{Min: time.Second, Max: 4 * time.Second})
	var got []time.Duration
	for range 4 {
		got = append(got, b.Next())
	}
	b.Reset()
	got = append(got, b.Next())
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits %v, want %v", got, want)
		}
	}
}

func TestRetryWaitsBetweenTries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var at []time.Duration
		fail := errors.New("down")
		err := Retry(t.Context(), Policy{Min: time.Second, Max: 3 * time.Second, Tries: 4}, func(try int) (bool, error) {
			at = append(at, time.Since(start))
			return true, fail
		})
		if !errors.Is(err, fail) {
			t.Fatalf("err = %v, want the last error", err)
		}
		want := []time.Duration{0, time.Second, 3 * time.Second, 6 * time.Second}
		if len(at) != len(want) {
			t.Fatalf("tried at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Fatalf("tried at %v, want %v", at, want)
			}
		}
	})
}

func TestRetryStops(t *testing.T) {
	fail := errors.New("refused")
	tests := []struct {
		name      string
		retryable bool
		succeedAt int
		wantTries int
		wantErr   error
	}{
		{"success", true, 2, 2, nil},
		{"not retryable", false, 0, 1, fail},
		{"tries used up", true, 0, 3, fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tries := 0
				var notified []int
				err := RetryNotify(t.Context(), Policy{Min: time.Second, Jitter: Full, Tries: 3}, func(try int) (bool, error) {
					tries++
					if try != tries {
						t.Errorf("try %d passed as %d", tries, try)
					}
					if try == tt.succeedAt {
						return false, nil
					}
					return tt.retryable, fail
				}, func(err error, try int, wait time.Duration) { notified = append(notified, try) })
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
				if tries != tt.wantTries {
					t.Errorf("%d tries, want %d", tries, tt.wantTries)
				}
				if len(notified) != max(tt.wantTries-1, 0) {
					t.Errorf("notified for tries %v, want one notice per wait", notified)
				}
			})
		})
	}
}

func TestRetryEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		tries := 0
		err := Retry(ctx, Policy{Min: time.Second, Max: time.Minute}, func(int) (bool, error) {
			tries++
			return true, errors.New("down")
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the context's error", err)
		}
		// Waits of 1, 2, 4, 8, 16, 32 s make 63 s; the next (60 s) is cut short.
		if tries != 7 {
			t.Errorf("%d tries in 90s, want 7", tries)
		}
	})
}

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		if err := Sleep(ctx, time.Minute); err != nil || time.Since(start) != time.Minute {
			t.Errorf("Sleep = %v after %v, want nil after 1m", err, time.Since(start))
		}
		cancel()
		if err := Sleep(ctx, time.Minute); !errors.Is(err, context.Canceled) {
			t.Errorf("Sleep on a done context = %v, want context.Canceled", err)
		}
		if err := Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
			t.Errorf("Sleep(0) on a done context = %v, want context.Canceled", err)
		}
	})
}
