// Package sal will own the Server Admin Log: durable !log entries, search,
// and the writers that copy entries to a wiki page and Phabricator.
package sal
