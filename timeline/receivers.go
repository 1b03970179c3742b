package timeline

import (
	"sort"
	"sync"

	"github.com/walkeeper/walkeeper/ids"
)

// ReceiverStatus is how far a walreceiver (a compute's START_WAL_PUSH
// connection) has come (Neon WalReceiverStatus).
type ReceiverStatus string

// The two statuses Neon reports.
const (
	ReceiverVoting    ReceiverStatus = "Voting"
	ReceiverStreaming ReceiverStatus = "Streaming"
)

// Receiver is one connected walreceiver of a timeline.
type Receiver struct {
	ConnID uint64
	Status ReceiverStatus
}

// Receivers tracks the walreceivers of every timeline by id, so that a
// connection can be counted before its greeting has created the timeline.
// It feeds TimelineStatus.walreceivers and safekeeper_connected_computes.
// A nil *Receivers tracks nothing. Safe for concurrent use.
type Receivers struct {
	mu sync.Mutex
	m  map[ids.TTID]map[uint64]ReceiverStatus
}

// NewReceivers returns an empty tracker.
func NewReceivers() *Receivers {
	return &Receivers{m: make(map[ids.TTID]map[uint64]ReceiverStatus)}
}

// Add registers connection connID on ttid as Voting; call remove when the
// connection ends.
func (r *Receivers) Add(ttid ids.TTID, connID uint64) (remove func()) {
	if r == nil {
		return func() {}
	}
	r.mu.Lock()
	conns := r.m[ttid]
	if conns == nil {
		conns = make(map[uint64]ReceiverStatus)
		r.m[ttid] = conns
	}
	conns[connID] = ReceiverVoting
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			delete(r.m[ttid], connID)
			if len(r.m[ttid]) == 0 {
				delete(r.m, ttid)
			}
		})
	}
}

// SetStatus changes the status of a registered connection.
func (r *Receivers) SetStatus(ttid ids.TTID, connID uint64, s ReceiverStatus) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if conns := r.m[ttid]; conns != nil {
		if _, ok := conns[connID]; ok {
			conns[connID] = s
		}
	}
}

// List returns the walreceivers of ttid ordered by connection id.
func (r *Receivers) List(ttid ids.TTID) []Receiver {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	out := make([]Receiver, 0, len(r.m[ttid]))
	for id, s := range r.m[ttid] {
		out = append(out, Receiver{ConnID: id, Status: s})
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ConnID < out[j].ConnID })
	return out
}

// Count is the number of walreceivers on ttid (Neon's num_computes).
func (r *Receivers) Count(ttid ids.TTID) int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m[ttid])
}
