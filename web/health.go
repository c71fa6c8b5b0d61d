package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Check is one readiness check: nil from Func means it passes; an error
// says, in a sentence, why not.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// healthRoutes serves /livez and /readyz the Kubernetes way: the status
// code is the answer for machines (200 or 503), "?verbose" lists each
// check for people.
func (s *Server) healthRoutes() {
	s.mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		writeHealth(w, r, "livez", []checkResult{{name: "serving"}})
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		res := make([]checkResult, len(s.opts.Ready))
		for i, c := range s.opts.Ready {
			res[i] = checkResult{name: c.Name, err: c.Func(ctx)}
		}
		writeHealth(w, r, "readyz", res)
	})
}

type checkResult struct {
	name string
	err  error
}

func writeHealth(w http.ResponseWriter, r *http.Request, what string, res []checkResult) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var sb strings.Builder
	ok := true
	for _, c := range res {
		if c.err != nil {
			ok = false
			fmt.Fprintf(&sb, "[-]%s failed: %s\n", c.name, c.err)
		} else {
			fmt.Fprintf(&sb, "[+]%s ok\n", c.name)
		}
	}
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		if !r.URL.Query().Has("verbose") {
			fmt.Fprintf(w, "%s check failed\n", what)
			return
		}
		fmt.Fprintf(w, "%s%s check failed\n", sb.String(), what)
		return
	}
	if r.URL.Query().Has("verbose") {
		fmt.Fprintf(w, "%s%s check passed\n", sb.String(), what)
		return
	}
	fmt.Fprintln(w, "ok")
}
