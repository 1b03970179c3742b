package acceptor

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
)

// eventLog records the order of side effects across fakes (persist, fsync,
// send) so tests can assert "persisted before replied".
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(format string, args ...any) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.events = append(l.events, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *eventLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// fakeWAL is an in-memory WAL store. Record boundaries come from the list
// records (sorted ends); with no list every position is a record end.
// Completing a 16 MiB segment makes it durable, as walstore does.
type fakeWAL struct {
	mu       sync.Mutex
	segSize  uint64
	records  []pgwal.LSN
	write    pgwal.LSN
	flush    pgwal.LSN // raw durable end
	writeRec pgwal.LSN
	flushRec pgwal.LSN
	bytes    int

	writes, flushes, truncates, inits int
	truncatedAt, initAt               pgwal.LSN

	writeDelay time.Duration
	writeGate  chan struct{} // if set, writes wait until it is closed
	keepData   bool          // keep written bytes in data
	data       []byte
	flushErr   error
	events     *eventLog

	systemID  uint64 // last SetServerInfo
	pgVersion uint32
}

func newFakeWAL(records ...pgwal.LSN) *fakeWAL {
	return &fakeWAL{segSize: pgwal.DefaultSegmentSize, records: records}
}

// recEnd is the last record end at or below at.
func (w *fakeWAL) recEnd(at pgwal.LSN) pgwal.LSN {
	if w.records == nil {
		return at
	}
	i := sort.Search(len(w.records), func(i int) bool { return w.records[i] > at })
	if i == 0 {
		return 0
	}
	return w.records[i-1]
}

func (w *fakeWAL) Write(start pgwal.LSN, b []byte) error {
	if w.writeGate != nil {
		<-w.writeGate
	}
	if w.writeDelay > 0 {
		time.Sleep(w.writeDelay)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.keepData {
		w.data = append(w.data, b...)
	}
	if w.write != 0 && start != w.write {
		return fmt.Errorf("fake WAL: write at %s, write_lsn %s", start, w.write)
	}
	w.writes++
	w.bytes += len(b)
	w.write = start + pgwal.LSN(len(b))
	w.writeRec = max(w.writeRec, w.recEnd(w.write))
	if seg := w.write - w.write%pgwal.LSN(w.segSize); seg > start && seg > w.flush {
		w.flush = seg // completed a segment: fsynced for free
		w.flushRec = max(w.flushRec, w.recEnd(w.flush))
	}
	w.events.add("wal.write %s", w.write)
	return nil
}

func (w *fakeWAL) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.flushErr != nil {
		return w.flushErr
	}
	w.flushes++
	w.flush = w.write
	w.flushRec = max(w.flushRec, w.writeRec)
	w.events.add("wal.flush %s", w.flushRec)
	return nil
}

func (w *fakeWAL) Truncate(end pgwal.LSN) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.truncates++
	w.truncatedAt = end
	w.write, w.flush, w.writeRec, w.flushRec = end, end, end, end
	w.events.add("wal.truncate %s", end)
	return nil
}

func (w *fakeWAL) InitializeFirstSegment(start pgwal.LSN) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inits++
	w.initAt = start
	return nil
}

func (w *fakeWAL) WriteLSN() pgwal.LSN       { w.mu.Lock(); defer w.mu.Unlock(); return w.write }
func (w *fakeWAL) WriteRecordLSN() pgwal.LSN { w.mu.Lock(); defer w.mu.Unlock(); return w.writeRec }
func (w *fakeWAL) FlushRecordLSN() pgwal.LSN { w.mu.Lock(); defer w.mu.Unlock(); return w.flushRec }

func (w *fakeWAL) SetServerInfo(systemID uint64, pgVersion uint32) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.systemID, w.pgVersion = systemID, pgVersion
}

func (w *fakeWAL) counts() (writes, flushes int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes, w.flushes
}

// fakeControl is an in-memory control store: mem is the state with the
// overlay applied, persisted what "is on disk".
type fakeControl struct {
	mu         sync.Mutex
	mem        controlfile.State
	persisted  controlfile.State
	persists   int
	persistErr error
	events     *eventLog
}

func newFakeControl(s controlfile.State) *fakeControl {
	return &fakeControl{mem: s.Clone(), persisted: s.Clone()}
}

func (c *fakeControl) State() controlfile.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mem.Clone()
}
func (c *fakeControl) Persisted() controlfile.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.persisted.Clone()
}

func (c *fakeControl) Update(fn func(*controlfile.State)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.mem.Clone()
	fn(&s)
	return c.persistLocked(s)
}

func (c *fakeControl) persistLocked(s controlfile.State) error {
	if s.Equal(&c.persisted) {
		c.mem = s
		return nil
	}
	if c.persistErr != nil {
		return c.persistErr
	}
	c.mem, c.persisted = s.Clone(), s.Clone()
	c.persists++
	c.events.add("persist term=%d commit=%s", s.Acceptor.Term, s.CommitLSN)
	return nil
}

func (c *fakeControl) SetCommitLSN(l pgwal.LSN) { c.mu.Lock(); c.mem.CommitLSN = l; c.mu.Unlock() }
func (c *fakeControl) SetPeerHorizonLSN(l pgwal.LSN) {
	c.mu.Lock()
	c.mem.PeerHorizonLSN = l
	c.mu.Unlock()
}

func (c *fakeControl) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.persistLocked(c.mem.Clone())
}

func (c *fakeControl) persistCount() int { c.mu.Lock(); defer c.mu.Unlock(); return c.persists }

// Test values of walproposer-protocol.md §9.
var (
	tvTenant   = ids.MustParse("cf0480929707ee75372337efaa5ecf96")
	tvTimeline = ids.MustParse("112ded66422aa5e953e5440fa5427ac4")
)

const (
	tvNode     ids.NodeID = 1
	tvPG       uint32     = 170004
	tvSystemID uint64     = 0x1234567887654321
	tvSegSize  uint32     = 16 << 20
)

func tvConf(gen uint32, members ...ids.NodeID) controlfile.Configuration {
	c := controlfile.Configuration{Generation: gen}
	for _, id := range members {
		c.Members = append(c.Members, controlfile.Member{ID: id, Host: fmt.Sprintf("sk-%d", id), PgPort: 5454})
	}
	return c
}

// tvState is a freshly created timeline of generation 1 with this node as
// its only member.
func tvState() controlfile.State {
	return controlfile.State{
		TenantID:   tvTenant,
		TimelineID: tvTimeline,
		MConf:      tvConf(1, tvNode),
		Server:     controlfile.ServerInfo{PGVersion: tvPG, SystemID: tvSystemID, WalSegSize: tvSegSize},
	}
}

func pgwalLSN(v int) pgwal.LSN { return pgwal.LSN(v) }
