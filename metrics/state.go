package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Network is a chat network's state, read at each scrape.
type Network struct {
	Name       string
	Connected  bool
	Reconnects uint64 // since start
	Queue      int    // messages waiting to be sent
}

// Backlog is an outbox route's queue, read at each scrape.
type Backlog struct {
	Route   string
	Pending int
	Oldest  time.Time // the oldest waiting entry's time; zero when empty
}

// Sources are read at each scrape. Any may be nil.
type Sources struct {
	Networks func() []Network
	Outbox   func() []Backlog
	DBSize   func() int64
	Now      func() time.Time
}

var (
	connectedDesc  = prometheus.NewDesc("jouncebot_chat_connected", "1 when the bot is connected to the chat network, else 0.", []string{"network"}, nil)
	reconnectsDesc = prometheus.NewDesc("jouncebot_chat_reconnects_total", "Times the bot reconnected to the chat network.", []string{"network"}, nil)
	queueDesc      = prometheus.NewDesc("jouncebot_chat_send_queue_length", "Messages waiting to be sent to the chat network.", []string{"network"}, nil)
	backlogDesc    = prometheus.NewDesc("jouncebot_outbox_backlog", "Items waiting in an outbox route (wiki page, Phabricator).", []string{"route"}, nil)
	oldestDesc     = prometheus.NewDesc("jouncebot_outbox_oldest_item_age_seconds", "Age of the oldest waiting item of an outbox route (0 when empty).", []string{"route"}, nil)
	dbSizeDesc     = prometheus.NewDesc("jouncebot_db_size_bytes", "Size of the bbolt database file.", nil, nil)
)

type stateCollector struct {
	mu  sync.Mutex
	src Sources
}

func newStateCollector() *stateCollector { return &stateCollector{} }

// Watch sets the sources read at each scrape.
func (m *Metrics) Watch(s Sources) {
	if m == nil {
		return
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	m.state.mu.Lock()
	m.state.src = s
	m.state.mu.Unlock()
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{connectedDesc, reconnectsDesc, queueDesc, backlogDesc, oldestDesc, dbSizeDesc} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	src := c.src
	c.mu.Unlock()
	if src.Networks != nil {
		for _, n := range src.Networks() {
			v := 0.0
			if n.Connected {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(connectedDesc, prometheus.GaugeValue, v, n.Name)
			ch <- prometheus.MustNewConstMetric(reconnectsDesc, prometheus.CounterValue, float64(n.Reconnects), n.Name)
			ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(n.Queue), n.Name)
		}
	}
	if src.Outbox != nil {
		now := src.Now()
		for _, b := range src.Outbox() {
			age := 0.0
			if !b.Oldest.IsZero() && b.Pending > 0 {
				age = max(0, now.Sub(b.Oldest).Seconds())
			}
			ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(b.Pending), b.Route)
			ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age, b.Route)
		}
	}
	if src.DBSize != nil {
		ch <- prometheus.MustNewConstMetric(dbSizeDesc, prometheus.GaugeValue, float64(src.DBSize()))
	}
}
