package sal

import (
	"bytes"
	"encoding/binary"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// The search index is an inverted index in the sal.index bucket: for each
// token, the ids of the entries containing it, in blocks. A block's key is
// the token, a zero byte and the block's first id (8 bytes, big-endian); its
// value is the block's last id (8 bytes) followed by the gaps between
// consecutive ids as uvarints. Ids only grow, so appending an entry touches
// only the last block of each of its tokens, and a block is never rewritten
// once it is full: appending costs the same with ten entries or ten million.
// Reading newest first walks blocks backwards; intersecting posting lists
// skips whole blocks with a cursor seek.

// blockBytes is the size at which a block is closed and a new one started.
// Larger blocks mean fewer keys but more bytes rewritten per append.
const blockBytes = 1024

// maxToken is the longest token indexed, in bytes; longer words are cut.
const maxToken = 64

// Filter tokens start with a byte no word contains, so a project or nick
// never collides with a word.
const (
	projectToken = "\x01p"
	nickToken    = "\x01n"
)

// Words splits text into the lower-case words that are indexed and searched
// for: runs of letters and digits. Single letters are too common to be
// useful and are dropped; single digits are kept.
func Words(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		w = strings.ToLower(w)
		if len(w) > maxToken {
			n := maxToken
			for !utf8.RuneStart(w[n]) {
				n--
			}
			w = w[:n]
		}
		if len([]rune(w)) == 1 && !unicode.IsDigit([]rune(w)[0]) {
			continue
		}
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// tokens are what an entry is indexed under: the words of its message and
// nick, its project and its nick.
func tokens(e *Entry) []string {
	ts := Words(e.Message + " " + e.Nick)
	return append(ts, projectToken+e.Project, nickToken+strings.ToLower(e.Nick))
}

func blockKey(token string, first uint64) []byte {
	k := make([]byte, len(token)+9)
	copy(k, token)
	binary.BigEndian.PutUint64(k[len(token)+1:], first)
	return k
}

// isBlockOf reports whether key is a block of the token with this prefix
// (token + zero byte).
func isBlockOf(key, prefix []byte) bool {
	return len(key) == len(prefix)+8 && bytes.HasPrefix(key, prefix)
}

// lastBlock positions c on the token's last block.
func lastBlock(c *bolt.Cursor, prefix []byte) (k, v []byte) {
	end := append(append([]byte(nil), prefix...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	k, _ = c.Seek(end)
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if !isBlockOf(k, prefix) {
		return nil, nil
	}
	return k, v
}

// addPosting records that entry id contains token. Ids must be added in
// increasing order.
func addPosting(b *bolt.Bucket, token string, id uint64) error {
	prefix := append([]byte(token), 0)
	k, v := lastBlock(b.Cursor(), prefix)
	if k == nil || len(v) >= blockBytes {
		val := make([]byte, 8)
		binary.BigEndian.PutUint64(val, id)
		return b.Put(blockKey(token, id), val)
	}
	last := binary.BigEndian.Uint64(v[:8])
	val := make([]byte, len(v), len(v)+binary.MaxVarintLen64)
	copy(val, v)
	val = binary.AppendUvarint(val, id-last)
	binary.BigEndian.PutUint64(val[:8], id)
	return b.Put(append([]byte(nil), k...), val)
}

func decodeBlock(key, val []byte, ids []uint64) []uint64 {
	cur := binary.BigEndian.Uint64(key[len(key)-8:])
	ids = append(ids[:0], cur)
	for rest := val[8:]; len(rest) > 0; {
		d, n := binary.Uvarint(rest)
		if n <= 0 {
			break
		}
		rest = rest[n:]
		cur += d
		ids = append(ids, cur)
	}
	return ids
}

// postings walks one token's posting list from newest to oldest.
type postings struct {
	c      *bolt.Cursor
	prefix []byte
	ids    []uint64 // the loaded block, ascending
	// validTo is the x the block was loaded for: for any x' between the
	// block's first id and validTo the answer is in this block.
	validTo uint64
	// pos is where the last answer was found in ids. Searches go newest
	// first, so the next answer is usually at or just below it.
	pos  int
	done bool
}

func newPostings(b *bolt.Bucket, token string) *postings {
	return &postings{c: b.Cursor(), prefix: append([]byte(token), 0)}
}

// seekLE returns the largest id in the list that is <= x.
func (p *postings) seekLE(x uint64) (uint64, bool) {
	if p.done {
		return 0, false
	}
	if len(p.ids) == 0 || x < p.ids[0] || x > p.validTo && x > p.ids[len(p.ids)-1] {
		if !p.load(x) {
			p.done = true
			return 0, false
		}
	}
	// The largest index with ids[i] <= x: step down from the last answer
	// for a few ids, then binary search what is left.
	i := min(p.pos, len(p.ids)-1)
	if p.ids[i] < x && i+1 < len(p.ids) && p.ids[i+1] <= x {
		i = len(p.ids) - 1 // x went up: start again from the top
	}
	for steps := 0; p.ids[i] > x; steps++ {
		if steps == 8 {
			i = sort.Search(i, func(j int) bool { return p.ids[j] > x }) - 1
			break
		}
		i--
	}
	p.pos = i
	return p.ids[i], true
}

// load reads the block holding the largest id <= x.
func (p *postings) load(x uint64) bool {
	var k, v []byte
	if x == ^uint64(0) {
		k, v = lastBlock(p.c, p.prefix)
	} else {
		k, _ = p.c.Seek(blockKey(string(p.prefix[:len(p.prefix)-1]), x+1))
		if k == nil {
			k, v = p.c.Last()
		} else {
			k, v = p.c.Prev()
		}
	}
	if !isBlockOf(k, p.prefix) {
		return false
	}
	p.ids = decodeBlock(k, v, p.ids)
	p.validTo = x
	p.pos = len(p.ids) - 1
	return true
}

// intersect returns up to n ids, newest first, in [lo, hi] that are in every
// list (a leapfrog join: each list jumps to the next candidate).
func intersect(lists []*postings, lo, hi uint64, n int) []uint64 {
	var out []uint64
	cand := hi
	for len(out) < n && cand >= lo && cand > 0 {
		agreed := true
		for _, l := range lists {
			id, ok := l.seekLE(cand)
			if !ok || id < lo {
				return out
			}
			if id < cand {
				cand = id
				agreed = false
				break
			}
		}
		if agreed {
			out = append(out, cand)
			cand--
		}
	}
	return out
}

// seekGE returns the smallest id in the list that is >= x. Unlike seekLE
// it serves searches that go oldest first; a postings serves one direction.
func (p *postings) seekGE(x uint64) (uint64, bool) {
	for !p.done {
		if n := len(p.ids); n > 0 && x >= p.ids[0] && x <= p.ids[n-1] {
			return p.ids[sort.Search(n, func(j int) bool { return p.ids[j] >= x })], true
		}
		// The block holding the largest id <= x, or the first block after
		// it when x is past that block's end.
		k, v := p.c.Seek(blockKey(string(p.prefix[:len(p.prefix)-1]), x+1))
		if k == nil {
			k, v = p.c.Last()
		} else {
			k, v = p.c.Prev()
		}
		if isBlockOf(k, p.prefix) && binary.BigEndian.Uint64(v[:8]) < x {
			k, v = p.c.Next()
		}
		if !isBlockOf(k, p.prefix) { // x is before the list: its first block
			k, v = p.c.Seek(blockKey(string(p.prefix[:len(p.prefix)-1]), 0))
			if !isBlockOf(k, p.prefix) || x > binary.BigEndian.Uint64(v[:8]) {
				p.done = true
				break
			}
		}
		p.ids = decodeBlock(k, v, p.ids)
		if x < p.ids[0] {
			x = p.ids[0]
		}
	}
	return 0, false
}

// intersectUp returns up to n ids, oldest first, in [lo, hi] that are in
// every list: intersect going the other way.
func intersectUp(lists []*postings, lo, hi uint64, n int) []uint64 {
	var out []uint64
	cand := lo
	for len(out) < n && cand <= hi {
		agreed := true
		for _, l := range lists {
			id, ok := l.seekGE(cand)
			if !ok || id > hi {
				return out
			}
			if id > cand {
				cand = id
				agreed = false
				break
			}
		}
		if agreed {
			out = append(out, cand)
			cand++
		}
	}
	return out
}
