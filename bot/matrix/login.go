package matrix

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/jouncebot/jouncebot/internal/backoff"
)

// newClient returns a mautrix client that never retries or sleeps on its
// own: the transport decides, so that it can honour retry_after_ms and
// stop at once when asked to.
func (t *Transport) newClient() (*mautrix.Client, error) {
	n := t.cfg.Network
	cli, err := mautrix.NewClient(n.Homeserver, id.UserID(n.UserID), "")
	if err != nil {
		return nil, fmt.Errorf("matrix: homeserver %q: %w", n.Homeserver, err)
	}
	cli.Client = &http.Client{} // requests are bounded by their contexts
	cli.DefaultHTTPRetries = 0
	cli.IgnoreRateLimit = true
	cli.UserAgent = "jouncebot " + mautrix.DefaultUserAgent
	return cli, nil
}

// login returns a client with a working access token: the configured
// token, else the saved session, else a new password login that reuses the
// saved device. Unreachable homeservers are retried until ctx is done.
func (t *Transport) login(ctx context.Context) (*mautrix.Client, error) {
	n := t.cfg.Network
	cli, err := t.newClient()
	if err != nil {
		return nil, err
	}
	if tok := n.AccessToken.Value(); tok != "" {
		cli.AccessToken = tok
		err := t.whoami(ctx, cli)
		switch {
		case err == nil:
			return cli, nil
		case !errors.Is(err, errTokenRejected):
			return nil, err
		case n.Password.Value() == "":
			return nil, fmt.Errorf("matrix: the homeserver rejected the access_token of %s; give a new one or a password", n.UserID)
		}
		t.log.Warn("configured access token rejected; logging in with the password")
		cli.AccessToken = ""
	}
	saved, err := t.st.loadSession()
	if err != nil {
		return nil, err
	}
	if saved.Homeserver == n.Homeserver && saved.UserID == n.UserID && saved.AccessToken != "" {
		cli.AccessToken, cli.DeviceID = saved.AccessToken, id.DeviceID(saved.DeviceID)
		err := t.whoami(ctx, cli)
		if err == nil {
			return cli, nil
		}
		if !errors.Is(err, errTokenRejected) {
			return nil, err
		}
		t.log.Info("saved access token no longer valid; logging in with the password")
		cli.AccessToken = ""
	}
	var resp *mautrix.RespLogin
	err = t.retry(ctx, "log in", func(ctx context.Context) (err error) {
		resp, err = cli.Login(ctx, &mautrix.ReqLogin{
			Type:                     mautrix.AuthTypePassword,
			Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: n.UserID},
			Password:                 n.Password.Value(),
			DeviceID:                 id.DeviceID(saved.DeviceID),
			InitialDeviceDisplayName: "jouncebot",
		})
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("matrix: the homeserver refused the login of %s; check the user_id and password: %s", n.UserID, errorText(err))
	}
	if resp.UserID != id.UserID(n.UserID) {
		return nil, fmt.Errorf("matrix: logged in as %s, but the configuration says %s; fix user_id", resp.UserID, n.UserID)
	}
	cli.AccessToken, cli.DeviceID = resp.AccessToken, resp.DeviceID
	t.log.Info("logged in", "device", resp.DeviceID)
	err = t.st.saveSession(session{Homeserver: n.Homeserver, UserID: n.UserID, DeviceID: string(resp.DeviceID), AccessToken: resp.AccessToken})
	return cli, err
}

// whoami checks the client's token and learns its device.
func (t *Transport) whoami(ctx context.Context, cli *mautrix.Client) error {
	var resp *mautrix.RespWhoami
	err := t.retry(ctx, "check the access token", func(ctx context.Context) (err error) {
		resp, err = cli.Whoami(ctx)
		return err
	})
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case tokenRejected(err):
		return errTokenRejected
	case err != nil:
		return fmt.Errorf("matrix: checking the access token of %s failed: %s", t.cfg.Network.UserID, errorText(err))
	case resp.UserID != cli.UserID:
		return fmt.Errorf("matrix: the access token belongs to %s, but the configuration says %s; fix user_id or the token", resp.UserID, cli.UserID)
	}
	cli.DeviceID = resp.DeviceID
	return nil
}

// retry runs f until it succeeds, fails for good, or ctx is done, backing
// off between attempts and honouring rate limits.
func (t *Transport) retry(ctx context.Context, what string, f func(ctx context.Context) error) error {
	bo := backoff.New(backoff.Policy{Min: time.Second, Max: time.Minute})
	for {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		err := f(rctx)
		cancel()
		t.unreachable.Store(err != nil && ctx.Err() == nil && transient(err) && !isRateLimited(err))
		if err == nil || ctx.Err() != nil || !transient(err) {
			return err
		}
		d, ok := rateLimited(err, time.Second)
		if !ok {
			d = bo.Next()
		}
		t.setStatus(fmt.Sprintf("cannot %s, retrying in %s: %s", what, d.Round(time.Millisecond), errorText(err)))
		t.log.Warn("request failed; retrying", "what", what, "in", d, "err", err)
		if backoff.Sleep(ctx, d) != nil {
			return ctx.Err()
		}
	}
}

// loadProfile learns the bot's display name and its direct-message rooms.
// Both are optional: failures are logged and ignored.
func (t *Transport) loadProfile(ctx context.Context, cli *mautrix.Client) {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if dn, err := cli.GetOwnDisplayName(rctx); err == nil && dn.DisplayName != "" {
		t.mu.Lock()
		t.names = []string{dn.DisplayName}
		t.mu.Unlock()
	}
	var direct event.DirectChatsEventContent
	if err := cli.GetAccountData(rctx, event.AccountDataDirectChats.Type, &direct); err == nil {
		t.setDirect(direct)
	} else if !errors.Is(err, mautrix.MNotFound) {
		t.log.Debug("cannot read m.direct", "err", err)
	}
}

// errorText is a short description of a request error for status lines
// and user-facing errors: the homeserver's message, without URLs or tokens.
func errorText(err error) string {
	var he mautrix.HTTPError
	if errors.As(err, &he) {
		switch {
		case he.RespError != nil:
			return he.RespError.ErrCode + ": " + he.RespError.Err
		case he.Response != nil:
			return he.Response.Status
		case he.WrappedError != nil:
			return rootCause(he.WrappedError).Error()
		}
	}
	return rootCause(err).Error()
}

func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
