package sal

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jouncebot/jouncebot/config"
	"github.com/jouncebot/jouncebot/store"
)

// The benchmarks run over generated logs of 10k, 100k and 1M entries. Each
// log is built once and cached in os.TempDir(); the 1M log takes minutes to
// build, so it is only built when JOUNCEBOT_SAL_BENCH_1M=1 is set (plain
// `go test` never runs benchmarks, so it never builds any).
//
//	JOUNCEBOT_SAL_BENCH_1M=1 go test ./sal -run '^$' -bench . -benchtime 200x

const fixtureVersion = 2

var benchSizes = []int{10_000, 100_000, 1_000_000}

// fixtureStart is the time of the first generated entry; entries are about
// three minutes apart, so 1M entries span about six years.
var fixtureStart = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func fixturePath(n int) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("jouncebot-sal-bench-v%d-%d.db", fixtureVersion, n))
}

// fixture returns the path of a cached log of n entries, building it if
// needed.
func fixture(b *testing.B, n int) string {
	path := fixturePath(n)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if n > 100_000 && os.Getenv("JOUNCEBOT_SAL_BENCH_1M") == "" {
		b.Skipf("set JOUNCEBOT_SAL_BENCH_1M=1 to build the %d-entry fixture (minutes; cached as %s)", n, path)
	}
	b.Logf("building %s", path)
	start := time.Now()
	tmp := path + ".building"
	os.Remove(tmp)
	db, err := store.Open(tmp)
	if err != nil {
		b.Fatal(err)
	}
	db.NoSync = true
	l := New(db, benchConfig(), Options{})
	g := newGenerator()
	for done := 0; done < n; {
		batch := make([]Entry, min(20_000, n-done))
		for i := range batch {
			batch[i] = g.entry(done + i)
		}
		bulkAppend(b, l, batch)
		done += len(batch)
	}
	if err := db.Sync(); err != nil {
		b.Fatal(err)
	}
	db.Close()
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(path)
	b.Logf("built %d entries in %v, %d MiB", n, time.Since(start).Round(time.Second), fi.Size()>>20)
	return path
}

func benchConfig() *config.Config {
	return &config.Config{Bot: config.Bot{Nick: "jouncebot", BaseURL: "https://bot.example.org"}}
}

// generator makes plausible SAL entries: a few templates with hosts,
// services, tasks and changes, plus words from a long-tailed vocabulary.
type generator struct {
	r     *rand.Rand
	zipf  *rand.Zipf
	vocab []string
	nicks []string
}

var (
	genProjects = []string{"production", "production", "production", "production", "releng", "tools", "cloud", "analytics"}
	genServices = []string{"apache2", "php-fpm", "envoy", "mcrouter", "nginx", "varnish", "mariadb", "elasticsearch", "kafka", "etcd"}
	genVerbs    = []string{"restarted", "depooled", "repooled", "rebooted", "upgraded", "reimaged", "downtimed", "deployed", "reverted", "synced"}
	genSites    = []string{"eqiad", "codfw", "esams", "ulsfo", "eqsin", "drmrs"}
	genHostPfx  = []string{"mw", "db", "cp", "es", "ms-be", "kafka", "elastic", "an-worker", "deploy", "lvs"}
)

func newGenerator() *generator {
	r := rand.New(rand.NewPCG(42, 1))
	g := &generator{r: r, zipf: rand.NewZipf(r, 1.1, 1, 49_999)}
	syll := []string{"ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "so", "du", "fa", "gi", "ho", "be"}
	for i := range 50_000 {
		w := ""
		for x := i + 7; x > 0; x /= len(syll) {
			w += syll[x%len(syll)]
		}
		g.vocab = append(g.vocab, w)
	}
	for i := range 300 {
		g.nicks = append(g.nicks, fmt.Sprintf("%s%d", g.vocab[i*7+3], i))
	}
	return g
}

func (g *generator) host() string {
	return fmt.Sprintf("%s%d.%s.wmnet", genHostPfx[g.r.IntN(len(genHostPfx))], 1000+g.r.IntN(2000), genSites[g.r.IntN(len(genSites))])
}

func (g *generator) words(n int) string {
	s := ""
	for range n {
		s += " " + g.vocab[g.zipf.Uint64()]
	}
	return s
}

func (g *generator) entry(i int) Entry {
	r := g.r
	var msg string
	switch r.IntN(5) {
	case 0:
		msg = fmt.Sprintf("%s %s on %s%s", genVerbs[r.IntN(len(genVerbs))], genServices[r.IntN(len(genServices))], g.host(), g.words(2))
	case 1:
		msg = fmt.Sprintf("%s %s for%s T%d", genVerbs[r.IntN(len(genVerbs))], g.host(), g.words(3), 100000+r.IntN(300000))
	case 2:
		msg = fmt.Sprintf("Synchronized wmf-config/%s.php: [[gerrit:%d|%s (T%d)]] (duration: 0%dm %02ds)", g.vocab[r.IntN(200)], 800000+r.IntN(200000), g.words(4), 100000+r.IntN(300000), r.IntN(9), r.IntN(60))
	case 3:
		msg = fmt.Sprintf("Started scap sync-world: Backport for [[gerrit:%d|%s]]", 800000+r.IntN(200000), g.words(5))
	default:
		msg = fmt.Sprintf("%s%s %x", genVerbs[r.IntN(len(genVerbs))], g.words(6), r.Uint64()&0xfffffffff)
	}
	return Entry{
		Time:    fixtureStart.Add(time.Duration(i)*3*time.Minute + time.Duration(r.IntN(120))*time.Second),
		Nick:    g.nicks[min(r.IntN(300), r.IntN(300))],
		Project: genProjects[r.IntN(len(genProjects))],
		Message: msg,
	}
}

func copyFile(b *testing.B, from, to string) {
	src, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		b.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAppend appends entries one at a time, each committed to disk
// (fsync) before the next, to a log that already holds n entries.
func BenchmarkAppend(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "jouncebot.db")
			copyFile(b, fixture(b, n), path)
			db, err := store.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			l := New(db, benchConfig(), Options{})
			g := newGenerator()
			ctx := context.Background()
			entries := make([]Entry, b.N)
			for i := range entries {
				entries[i] = g.entry(n + i)
				entries[i].Time = time.Time{}
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				t := time.Now()
				if _, err := l.Append(ctx, entries[i]); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
			}
			b.StopTimer()
			reportPercentiles(b, lat)
		})
	}
}

// BenchmarkAppendParallel appends from many goroutines at once (a busy
// bot); group commit shares one transaction among concurrent appends.
func BenchmarkAppendParallel(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "jouncebot.db")
			copyFile(b, fixture(b, n), path)
			db, err := store.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			l := New(db, benchConfig(), Options{})
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := l.Append(context.Background(), Entry{Nick: "alice", Project: "production", Message: "restarted apache2 on mw1001.eqiad.wmnet T12345"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// benchQueries are the kinds of search people run: the goal is p99 < 50 ms
// over all of them on a 1M-entry log.
func benchQueries(n int) []struct {
	name string
	q    Query
} {
	mid := fixtureStart.Add(time.Duration(n/2) * 3 * time.Minute)
	g := newGenerator()
	return []struct {
		name string
		q    Query
	}{
		{"newest", Query{}},
		{"common-word", Query{Text: "restarted"}},
		{"rare-word", Query{Text: g.vocab[30000]}},
		{"two-words", Query{Text: "restarted apache2"}},
		{"host", Query{Text: "mw1234"}},
		{"task", Query{Text: "T123456"}},
		{"word-project", Query{Text: "depooled", Project: "releng"}},
		{"nick", Query{Nick: g.nicks[150]}},
		{"nick-word", Query{Nick: g.nicks[150], Text: "synchronized"}},
		{"month-word", Query{Text: "scap", From: mid, To: mid.AddDate(0, 1, 0)}},
		{"rare-pair", Query{Text: "reimaged kafka drmrs"}},
		{"miss", Query{Text: "restarted nosuchwordanywhere"}},
		// The worst case: two common words that never occur together, so
		// the whole of both posting lists is walked to find nothing.
		{"disjoint", Query{Text: "synchronized started"}},
		{"deep-page", Query{Text: "eqiad", Before: uint64(n / 10)}},
		{"chat-sal", Query{Text: g.vocab[5] + " " + g.vocab[40], Limit: 5}},
		// A web page of a project, with the number of entries and matches
		// it shows, and the "newer" page of a deep one.
		{"project-page-count", Query{Project: "production", Count: true}},
		{"word-page-count", Query{Text: "restarted", Count: true}},
		{"newer-page", Query{Text: "eqiad", After: uint64(n / 10)}},
		// The page just above the oldest entry of the whole log.
		{"newer-page-oldest", Query{After: 1}},
		{"newer-page-oldest-project", Query{Project: "production", After: 1}},
	}
}

// BenchmarkSearch runs each kind of query against logs of 10k, 100k and 1M
// entries, and reports the median and 99th percentile latency. The "mix"
// case cycles through all kinds.
func BenchmarkSearch(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			path := fixture(b, n)
			db, err := store.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			l := New(db, benchConfig(), Options{})
			qs := benchQueries(n)
			run := func(b *testing.B, pick func(i int) Query) {
				lat := make([]time.Duration, 0, b.N)
				hits := 0
				for i := range b.N {
					t := time.Now()
					res, err := l.Search(context.Background(), pick(i))
					if err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t))
					hits += len(res.Entries)
				}
				b.StopTimer()
				reportPercentiles(b, lat)
				b.ReportMetric(float64(hits)/float64(b.N), "hits/op")
			}
			for _, q := range qs {
				b.Run(q.name, func(b *testing.B) { run(b, func(int) Query { return q.q }) })
			}
			b.Run("mix", func(b *testing.B) { run(b, func(i int) Query { return qs[i%len(qs)].q }) })
		})
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	ms := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6
	}
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}
