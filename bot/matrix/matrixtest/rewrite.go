package matrixtest

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"testing"
)

// Rewriter starts a proxy in front of s that passes everything through but
// lets f change the body of the answer to each request for which match is
// true: what a misbehaving or remote homeserver could send, such as an
// event whose origin_server_ts its sender's server set in the future. Give
// the returned URL to the client under test; the proxy stops at the end of
// the test.
func (s *Server) Rewriter(t testing.TB, match func(*http.Request) bool, f func(body []byte) []byte) string {
	t.Helper()
	target, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	rp.ErrorLog = log.New(io.Discard, "", 0) // clients going away mid-request is normal here
	rp.ModifyResponse = func(resp *http.Response) error {
		if !match(resp.Request) {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = f(body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if match(r) {
			r.Header.Del("Accept-Encoding") // bodies to rewrite come uncompressed
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}
