package replication

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// FeedbackBroadcastCapacity is how many pageserver feedbacks a walproposer
// connection may have queued (Neon's broadcast channel capacity). A slower
// subscriber loses the oldest ones.
const FeedbackBroadcastCapacity = 8

// Kind is the protocol a sender speaks.
type Kind int

const (
	KindVanilla     Kind = iota // raw physical streaming
	KindInterpreted             // Neon's interpreted protocol for pageserver shards
)

func (k Kind) String() string {
	if k == KindInterpreted {
		return "Interpreted"
	}
	return "Vanilla"
}

// ShardIdentity is the shard an interpreted sender serves
// (pageserver_api::shard::ShardIdentity). JSON names are Neon's.
type ShardIdentity struct {
	Number     uint8  `json:"number"`
	Count      uint8  `json:"count"`
	StripeSize uint32 `json:"stripe_size"`
	Layout     uint8  `json:"layout"`
}

// SenderInfo describes one walsender connection.
type SenderInfo struct {
	Kind    Kind
	Shard   ShardIdentity // Interpreted only
	TTID    ids.TTID
	Addr    string // peer "ip:port"
	ConnID  uint32
	AppName string // application_name; "" means none was given
}

// FeedbackKind says which variant a Feedback holds.
type FeedbackKind int

const (
	// FeedbackPageserver is the initial kind of every slot (a standby
	// counts as a pageserver until its first 'r' or 'h', quirk §9.2).
	FeedbackPageserver FeedbackKind = iota
	FeedbackStandby
)

// StandbyFeedback is what a PostgreSQL standby reported (Neon's
// StandbyFeedback). The registry's aggregate has the same shape.
type StandbyFeedback struct {
	Reply      StandbyReply
	HotStandby walproto.HotStandbyFeedback
}

// Feedback is a slot's last feedback (Neon's ReplicationFeedback enum).
type Feedback struct {
	Kind       FeedbackKind
	Pageserver walproto.PageserverFeedback // Kind == FeedbackPageserver
	Standby    StandbyFeedback             // Kind == FeedbackStandby
}

type senderSlot struct {
	info     SenderInfo
	feedback Feedback
	removed  bool // set by Unregister; the index may then hold another slot
}

// WalSenders is a timeline's registry of walsenders (replication.md §5): it
// collects their feedback, aggregates hot-standby horizons, relays
// pageserver feedback to walproposer connections and answers the stop rule
// and laggard_lsn. All methods are safe for concurrent use; none blocks on
// a subscriber.
type WalSenders struct {
	opts RegistryOptions

	mu        sync.Mutex
	slots     []*senderSlot // nil marks a free slot, reused first
	agg       StandbyFeedback
	lastPS    walproto.PageserverFeedback
	psCount   uint64
	psCorrupt bool
	maxRCL    pgwal.LSN
	subs      map[chan walproto.PageserverFeedback]struct{}
}

// RegistryOptions are the hooks a timeline gives its registry.
type RegistryOptions struct {
	// ReceivedPSFeedbacks is the process-wide
	// safekeeper_received_ps_feedbacks_total counter; nil to skip.
	ReceivedPSFeedbacks prometheus.Counter
	// OnRemoteConsistentLSN, if set, is called (outside the registry lock)
	// with each 'z' feedback's remote_consistent_lsn; the timeline keeps
	// inmem.remote_consistent_lsn = max(itself, value) (§5.1 step 3).
	OnRemoteConsistentLSN func(pgwal.LSN)
}

// NewWalSenders returns an empty registry.
func NewWalSenders(opts RegistryOptions) *WalSenders {
	return &WalSenders{opts: opts, subs: make(map[chan walproto.PageserverFeedback]struct{})}
}

// Sender is a registered slot. Unregister it when the connection ends;
// after that its Record methods do nothing and Feedback returns the last
// value.
type Sender struct {
	w    *WalSenders
	id   int
	slot *senderSlot
}

// Register adds a slot whose feedback starts as an empty pageserver
// feedback (§2.3 step 2).
func (w *WalSenders) Register(info SenderInfo) *Sender {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := &senderSlot{info: info}
	for i, sl := range w.slots {
		if sl == nil {
			w.slots[i] = s
			return &Sender{w: w, id: i, slot: s}
		}
	}
	w.slots = append(w.slots, s)
	return &Sender{w: w, id: len(w.slots) - 1, slot: s}
}

// Unregister frees the slot and recomputes the standby aggregate. It is
// idempotent.
func (s *Sender) Unregister() {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.slot.removed {
		return
	}
	s.slot.removed = true
	w.slots[s.id] = nil
	w.aggregateLocked()
}

// ID is the slot index (reused after Unregister).
func (s *Sender) ID() int { return s.id }

// Feedback returns the slot's current feedback.
func (s *Sender) Feedback() Feedback {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	return s.slot.feedback
}

// RemoteConsistentLSN returns the remote_consistent_lsn this slot last
// reported, and false if the slot is a standby (which never stops).
// A pageserver slot without feedback reports 0.
func (s *Sender) RemoteConsistentLSN() (pgwal.LSN, bool) {
	fb := s.Feedback()
	if fb.Kind != FeedbackPageserver {
		return 0, false
	}
	return fb.Pageserver.RemoteConsistentLSN, true
}

// RecordPageserverFeedback handles a 'z' message (§5.1).
func (s *Sender) RecordPageserverFeedback(fb walproto.PageserverFeedback) {
	w := s.w
	w.mu.Lock()
	if s.slot.removed {
		w.mu.Unlock()
		return
	}
	s.slot.feedback = Feedback{Kind: FeedbackPageserver, Pageserver: fb}
	w.lastPS = fb
	w.psCount++
	if fb.CorruptionDetected {
		w.psCorrupt = true
	}
	w.maxRCL = max(w.maxRCL, fb.RemoteConsistentLSN)
	for ch := range w.subs {
		offerDropOldest(ch, fb)
	}
	w.mu.Unlock()
	if w.opts.ReceivedPSFeedbacks != nil {
		w.opts.ReceivedPSFeedbacks.Inc()
	}
	if w.opts.OnRemoteConsistentLSN != nil {
		w.opts.OnRemoteConsistentLSN(fb.RemoteConsistentLSN)
	}
}

// offerDropOldest queues v without blocking; when ch is full the oldest
// queued value is dropped to make room, as a lagging tokio broadcast
// receiver skips to the newest messages.
func offerDropOldest[T any](ch chan T, v T) {
	for range 2 {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// RecordStandbyReply handles an 'r' message: the slot becomes a standby
// and its reply is replaced. The aggregate is deliberately not recomputed
// (quirk §9.3).
func (s *Sender) RecordStandbyReply(r StandbyReply) {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	sl := s.slot
	if sl.removed {
		return
	}
	if sl.feedback.Kind != FeedbackStandby {
		sl.feedback = Feedback{Kind: FeedbackStandby}
	}
	sl.feedback.Standby.Reply = r
}

// RecordHotStandbyFeedback handles an 'h' message: the slot becomes a
// standby, its hot-standby feedback is replaced and the aggregate recomputed.
func (s *Sender) RecordHotStandbyFeedback(hs walproto.HotStandbyFeedback) {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	sl := s.slot
	if sl.removed {
		return
	}
	if sl.feedback.Kind != FeedbackStandby {
		sl.feedback = Feedback{Kind: FeedbackStandby}
	}
	sl.feedback.Standby.HotStandby = hs
	w.aggregateLocked()
}

// minValid returns the smaller of two values, treating zero as absent.
func minValid[T ~uint64 | ~int64](agg, v T) T {
	if v == 0 {
		return agg
	}
	if agg == 0 || v < agg {
		return v
	}
	return agg
}

// aggregateLocked recomputes the standby aggregate over Standby slots
// (§5.3): min of valid xmins, catalog_xmins, LSNs and reply times; max ts of
// the contributors of a valid xmin or catalog_xmin; reply_requested false.
func (w *WalSenders) aggregateLocked() {
	var agg StandbyFeedback
	for _, sl := range w.slots {
		if sl == nil || sl.feedback.Kind != FeedbackStandby {
			continue
		}
		hs, r := sl.feedback.Standby.HotStandby, sl.feedback.Standby.Reply
		if hs.Xmin != 0 || hs.CatalogXmin != 0 {
			agg.HotStandby.TS = max(agg.HotStandby.TS, hs.TS)
		}
		agg.HotStandby.Xmin = minValid(agg.HotStandby.Xmin, hs.Xmin)
		agg.HotStandby.CatalogXmin = minValid(agg.HotStandby.CatalogXmin, hs.CatalogXmin)
		agg.Reply.WriteLSN = minValid(agg.Reply.WriteLSN, r.WriteLSN)
		agg.Reply.FlushLSN = minValid(agg.Reply.FlushLSN, r.FlushLSN)
		agg.Reply.ApplyLSN = minValid(agg.Reply.ApplyLSN, r.ApplyLSN)
		agg.Reply.ReplyTS = minValid(agg.Reply.ReplyTS, r.ReplyTS)
	}
	w.agg = agg
}

// StandbyAggregate returns the aggregated standby feedback: HotStandby goes
// into every AppendResponse, Reply.ApplyLSN is the broker's
// standby_horizon. All zeros when there are no standbys.
func (w *WalSenders) StandbyAggregate() StandbyFeedback {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.agg
}

// HotStandbyFeedback is StandbyAggregate().HotStandby.
func (w *WalSenders) HotStandbyFeedback() walproto.HotStandbyFeedback {
	return w.StandbyAggregate().HotStandby
}

// LaggardLSN returns the minimum last_received_lsn over pageserver-type
// slots, including ones with no feedback yet (0), and false when there are
// none (§5.4).
func (w *WalSenders) LaggardLSN() (pgwal.LSN, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var lsn pgwal.LSN
	found := false
	for _, sl := range w.slots {
		if sl == nil || sl.feedback.Kind != FeedbackPageserver {
			continue
		}
		if v := sl.feedback.Pageserver.LastReceivedLSN; !found || v < lsn {
			lsn = v
		}
		found = true
	}
	return lsn, found
}

// FeedbackStats are the per-timeline pageserver feedback metrics.
type FeedbackStats struct {
	Count              uint64                      // safekeeper_ps_feedback_count_total
	CorruptionDetected bool                        // safekeeper_ps_corruption_detected (sticky)
	Last               walproto.PageserverFeedback // safekeeper_ps_last_received_lsn, feedback_last_time_seconds
	// MaxRemoteConsistentLSN is the largest remote_consistent_lsn this
	// registry has seen; the timeline's own value may be higher (persisted).
	MaxRemoteConsistentLSN pgwal.LSN
}

// FeedbackStats returns the pageserver feedback counters.
func (w *WalSenders) FeedbackStats() FeedbackStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return FeedbackStats{Count: w.psCount, CorruptionDetected: w.psCorrupt, Last: w.lastPS, MaxRemoteConsistentLSN: w.maxRCL}
}

// Len returns the number of registered senders.
func (w *WalSenders) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, sl := range w.slots {
		if sl != nil {
			n++
		}
	}
	return n
}

// SubscribeFeedback returns a channel that receives every pageserver
// feedback recorded from now on, for one walproposer connection to attach
// to a copy of its last AppendResponse (walproposer-protocol §3.7(d)). The
// channel holds FeedbackBroadcastCapacity values; a subscriber that falls
// behind loses the oldest. Call cancel when the connection ends; the
// channel is never closed.
func (w *WalSenders) SubscribeFeedback() (feedback <-chan walproto.PageserverFeedback, cancel func()) {
	ch := make(chan walproto.PageserverFeedback, FeedbackBroadcastCapacity)
	w.mu.Lock()
	w.subs[ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.subs, ch)
		w.mu.Unlock()
	}
}

// ShouldStop is the stop rule of §5.2 for a commit-mode sender whose slot
// reported reportedRCL: no compute is pushing WAL and the receiver has
// everything committed (or nothing is committed). Timeline cancellation,
// the rule's other half, is the caller's context.
func ShouldStop(computes int, commitLSN, reportedRCL pgwal.LSN) bool {
	return computes == 0 && (commitLSN == 0 || reportedRCL >= commitLSN)
}
