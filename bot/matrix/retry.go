package matrix

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"maunium.net/go/mautrix"
)

// rateLimited reports how long the homeserver asked the client to wait:
// retry_after_ms in an M_LIMIT_EXCEEDED answer, or a Retry-After header on
// HTTP 429. A 429 without either waits fallback.
func rateLimited(err error, fallback time.Duration) (time.Duration, bool) {
	var he mautrix.HTTPError
	if !errors.As(err, &he) {
		return 0, false
	}
	limited := errors.Is(err, mautrix.MLimitExceeded) || he.IsStatus(http.StatusTooManyRequests)
	if !limited {
		return 0, false
	}
	if he.RespError != nil {
		if ms, ok := he.RespError.ExtraData["retry_after_ms"].(float64); ok && ms >= 0 {
			return time.Duration(ms) * time.Millisecond, true
		}
	}
	if he.Response != nil {
		if s, err := strconv.Atoi(he.Response.Header.Get("Retry-After")); err == nil && s >= 0 {
			return time.Duration(s) * time.Second, true
		}
	}
	return fallback, true
}

// transient reports whether a failed request may succeed if repeated: the
// homeserver could not be reached, failed inside (5xx), or asked to slow
// down (429). Other answers (403, 404, 400…) will not change by retrying.
func transient(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := rateLimited(err, 0); ok {
		return true
	}
	var he mautrix.HTTPError
	if errors.As(err, &he) && he.Response != nil {
		return he.Response.StatusCode >= 500
	}
	return true // no answer at all: network error or timeout
}

// tokenRejected reports whether the homeserver no longer accepts the access
// token.
func tokenRejected(err error) bool {
	return errors.Is(err, mautrix.MUnknownToken) || errors.Is(err, mautrix.MMissingToken)
}
