package timeline

import (
	"sort"
	"sync"
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

// receivers are the walreceivers of one timeline. They feed the walsender
// stop rule (num_computes), TimelineStatus.walreceivers and
// safekeeper_connected_computes — one set, so the three always agree.
type receivers struct {
	mu sync.Mutex
	m  map[uint64]ReceiverStatus
}

// AddWALReceiver registers START_WAL_PUSH connection connID, which has just
// greeted the timeline, as Voting. Call streaming once its ProposerElected
// is processed and done when it ends.
func (tl *Timeline) AddWALReceiver(connID uint64) (streaming, done func()) {
	r := &tl.receivers
	r.mu.Lock()
	if r.m == nil {
		r.m = make(map[uint64]ReceiverStatus)
	}
	r.m[connID] = ReceiverVoting
	r.mu.Unlock()
	var once sync.Once
	streaming = func() {
		r.mu.Lock()
		if _, ok := r.m[connID]; ok {
			r.m[connID] = ReceiverStreaming
		}
		r.mu.Unlock()
	}
	done = func() {
		once.Do(func() {
			r.mu.Lock()
			delete(r.m, connID)
			r.mu.Unlock()
		})
	}
	return streaming, done
}

// NumWALReceivers is how many walproposers push WAL to the timeline now
// (Neon's num_computes).
func (tl *Timeline) NumWALReceivers() int {
	tl.receivers.mu.Lock()
	defer tl.receivers.mu.Unlock()
	return len(tl.receivers.m)
}

// WALReceivers lists the connected walreceivers ordered by connection id.
func (tl *Timeline) WALReceivers() []Receiver {
	r := &tl.receivers
	r.mu.Lock()
	out := make([]Receiver, 0, len(r.m))
	for id, s := range r.m {
		out = append(out, Receiver{ConnID: id, Status: s})
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ConnID < out[j].ConnID })
	return out
}
