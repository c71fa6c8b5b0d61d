package deploy

import (
	"log/slog"

	"github.com/jouncebot/jouncebot/deploy/deliver"
)

// hostRecords is each host's results of the deploys (package deliver:
// their syncs, rollbacks and checks, in bucket deploy.hosts), with the
// engine's log for results that cannot be read. It also says from them
// whether an aborted deploy must be rolled back (needsRollback,
// rollback.go).
type hostRecords struct {
	deliver.Hosts
	log *slog.Logger
}

// touched counts the hosts that got (or may have got: their sync began)
// the deploy's release; ended, only those whose sync ended. A failure to
// read them is logged, and what was read counted.
func (h hostRecords) touched(id ID, ended bool) int {
	n, err := h.Touched(id, ended)
	if err != nil {
		h.log.Error("read host results", "deploy", id, "err", err)
	}
	return n
}
