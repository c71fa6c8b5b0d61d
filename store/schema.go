package store

import bolt "go.etcd.io/bbolt"

// Bucket names. Never rename or reuse one: add a new bucket and a migration.
var (
	// Meta holds the schema version and other bookkeeping.
	Meta = []byte("meta")
	// Audit holds one record per state change, keyed by a sequence number,
	// written in the same transaction as the change it records.
	Audit = []byte("audit")

	// Calendar.
	Windows   = []byte("calendar.windows")   // one-off windows added in chat
	Cancelled = []byte("calendar.cancelled") // cancellations by window id
	Claims    = []byte("calendar.claims")    // window id -> claim
	Queues    = []byte("calendar.queues")    // window id -> patch queue
	Freezes   = []byte("calendar.freezes")   // freezes added in chat
	// FreezesSeen records when this database first saw each freeze of
	// the configuration (from|to|reason -> time), its declaration time.
	FreezesSeen = []byte("calendar.freezes.seen")
	Notices     = []byte("calendar.notices") // sent reminders/pings, so a restart never repeats one
	WikiCache   = []byte("calendar.wiki")    // last good import of the Deployments page

	// Deploy engine.
	Deploys    = []byte("deploy.deploys") // deploy id -> deploy state
	DeployLock = []byte("deploy.lock")    // the one deploy lock
	// DeployHosts holds one small record per host and stage of a deploy
	// (deploy id/kind/stage/host -> result), so recording a host is
	// independent of how many hosts there are.
	DeployHosts = []byte("deploy.hosts")
	// DeployCanary holds each canary analysis's samples (deploy
	// id/stage/check -> analysis), for its report page.
	DeployCanary = []byte("deploy.canary")
	// DeployOutbox holds the deploy events not yet sent to chat
	// (sequence number -> event), written with the history line. It is
	// made on first use, not by a migration, so a jouncebot from before
	// it still opens the database.
	DeployOutbox = []byte("deploy.outbox")

	// Deploy policy.
	PolicyRequests = []byte("policy.requests") // request id -> deploy waiting for approvals

	// Maintenance scripts.
	MaintRuns   = []byte("maint.runs")   // run id -> run state
	MaintOutput = []byte("maint.output") // run id "/" step -> output kept so far

	// Readiness checks.
	ReadinessResults = []byte("readiness.results") // window id -> last readiness check
	// ReadinessPrivate holds the details of the last check of a window
	// that name local security patches: read only for the security
	// destination, never by a public page.
	ReadinessPrivate = []byte("readiness.private") // window id -> JSON list of details

	// Deploy agent (jouncebot agent) and its link from the chat side.
	AgentEvents = []byte("agent.events") // on the agent: sequence number -> event for the chat bot
	AgentCursor = []byte("agent.cursor") // on the chat side: agent name -> last event delivered

	// Server Admin Log.
	SALEntries = []byte("sal.entries") // entry id -> entry
	SALIndex   = []byte("sal.index")   // search index
	SALOutbox  = []byte("sal.outbox")  // pending wiki / Phabricator writes

	// Transports.
	MatrixState   = []byte("matrix.state")   // device id, access token, sync token
	MatrixHandled = []byte("matrix.handled") // recently handled event ids
)

var keyVersion = []byte("schema_version")

// migrations are run in order, each once, in one transaction with the
// version bump. Append only; never edit a migration that has shipped.
var migrations = []func(tx *bolt.Tx) error{
	// 1: the initial buckets.
	createBuckets(Audit, Windows, Cancelled, Claims, Queues, Freezes, Notices, WikiCache,
		Deploys, DeployLock, SALEntries, SALIndex, SALOutbox, MatrixState, MatrixHandled),
	// 2: deploy requests waiting for policy approvals.
	createBuckets(PolicyRequests),
	// 3: per-host deploy results in their own keys.
	createBuckets(DeployHosts),
	// 4: maintenance script runs and their output.
	createBuckets(MaintRuns, MaintOutput),
	// 5: the last readiness check of each window.
	createBuckets(ReadinessResults),
	// 6: the deploy agent's event log and the chat side's cursor into it.
	createBuckets(AgentEvents, AgentCursor),
	// 7: canary analyses.
	createBuckets(DeployCanary),
	// 8: readiness details that name local security patches.
	createBuckets(ReadinessPrivate),
	// 9: when each configured freeze was first seen. (Chat freezes gained
	// an optional "declared" field; one without it counts as declared
	// when it began, so their records need no rewrite.)
	createBuckets(FreezesSeen),
}

func createBuckets(names ...[]byte) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		for _, n := range names {
			if _, err := tx.CreateBucketIfNotExists(n); err != nil {
				return err
			}
		}
		return nil
	}
}
