package replication

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

func TestRegisterReusesFreeSlots(t *testing.T) {
	w := NewWalSenders(RegistryOptions{})
	a, b, c := w.Register(SenderInfo{}), w.Register(SenderInfo{}), w.Register(SenderInfo{})
	if a.ID() != 0 || b.ID() != 1 || c.ID() != 2 {
		t.Fatalf("ids %d %d %d", a.ID(), b.ID(), c.ID())
	}
	b.Unregister()
	b.Unregister() // idempotent
	d := w.Register(SenderInfo{})
	if d.ID() != 1 {
		t.Fatalf("freed slot not reused: %d", d.ID())
	}
	// A stale handle must not touch the slot that reused its index.
	b.RecordHotStandbyFeedback(walproto.HotStandbyFeedback{Xmin: 5})
	b.RecordStandbyReply(StandbyReply{ApplyLSN: 5})
	b.RecordPageserverFeedback(walproto.PageserverFeedback{LastReceivedLSN: 5})
	if fb := d.Feedback(); fb.Kind != FeedbackPageserver || fb.Pageserver != (walproto.PageserverFeedback{}) {
		t.Fatalf("stale handle changed the reused slot: %+v", fb)
	}
	if w.FeedbackStats().Count != 0 {
		t.Fatal("stale handle counted feedback")
	}
	if w.Len() != 3 {
		t.Fatalf("Len = %d", w.Len())
	}
	if fb := a.Feedback(); fb.Kind != FeedbackPageserver || fb.Pageserver != (walproto.PageserverFeedback{}) {
		t.Fatalf("initial feedback %+v", fb)
	}
}

func TestHotStandbyAggregation(t *testing.T) {
	hs := func(ts int64, xmin, cxmin uint64) walproto.HotStandbyFeedback {
		return walproto.HotStandbyFeedback{TS: ts, Xmin: xmin, CatalogXmin: cxmin}
	}
	tests := []struct {
		name string
		in   []walproto.HotStandbyFeedback
		want walproto.HotStandbyFeedback
	}{
		{"none valid", []walproto.HotStandbyFeedback{hs(1, 0, 0)}, hs(0, 0, 0)},
		{"min valid xmin", []walproto.HotStandbyFeedback{hs(1, 0, 0), hs(1, 42, 0), hs(1, 64, 0)}, hs(1, 42, 0)},
		{"ts max of contributors only", []walproto.HotStandbyFeedback{hs(9, 0, 0), hs(3, 50, 0), hs(5, 0, 7)}, hs(5, 50, 7)},
		{"catalog min", []walproto.HotStandbyFeedback{hs(1, 10, 8), hs(2, 20, 6)}, hs(2, 10, 6)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWalSenders(RegistryOptions{})
			w.Register(SenderInfo{}) // a pageserver slot never contributes
			for _, f := range tt.in {
				w.Register(SenderInfo{}).RecordHotStandbyFeedback(f)
			}
			if got := w.HotStandbyFeedback(); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStandbyReplyAggregateRefreshedOnlyByHSOrRemoval(t *testing.T) {
	w := NewWalSenders(RegistryOptions{})
	a, b := w.Register(SenderInfo{}), w.Register(SenderInfo{})
	a.RecordStandbyReply(StandbyReply{WriteLSN: 30, FlushLSN: 30, ApplyLSN: 30, ReplyTS: 3})
	b.RecordStandbyReply(StandbyReply{WriteLSN: 20, ApplyLSN: 25, ReplyTS: 5, ReplyRequested: true})
	if got := w.StandbyAggregate().Reply; got != (StandbyReply{}) {
		t.Fatalf("'r' refreshed the aggregate (quirk §9.3 says it must not): %+v", got)
	}
	if fb := a.Feedback(); fb.Kind != FeedbackStandby || fb.Standby.Reply.ApplyLSN != 30 {
		t.Fatalf("slot feedback %+v", fb)
	}
	b.RecordHotStandbyFeedback(walproto.HotStandbyFeedback{TS: 1, Xmin: 100})
	want := StandbyReply{WriteLSN: 20, FlushLSN: 30, ApplyLSN: 25, ReplyTS: 3}
	if got := w.StandbyAggregate().Reply; got != want {
		t.Fatalf("after 'h': %+v, want %+v", got, want)
	}
	if fb := b.Feedback(); fb.Standby.Reply.ApplyLSN != 25 || fb.Standby.HotStandby.Xmin != 100 {
		t.Fatalf("'h' must keep the reply: %+v", fb)
	}
	b.Unregister()
	want = StandbyReply{WriteLSN: 30, FlushLSN: 30, ApplyLSN: 30, ReplyTS: 3}
	if got := w.StandbyAggregate(); got.Reply != want || got.HotStandby != (walproto.HotStandbyFeedback{}) {
		t.Fatalf("after removal: %+v", got)
	}
}

func TestPageserverFeedback(t *testing.T) {
	counter := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	var rcls []pgwal.LSN
	w := NewWalSenders(RegistryOptions{ReceivedPSFeedbacks: counter, OnRemoteConsistentLSN: func(l pgwal.LSN) { rcls = append(rcls, l) }})
	a, b, st := w.Register(SenderInfo{}), w.Register(SenderInfo{}), w.Register(SenderInfo{})
	st.RecordStandbyReply(StandbyReply{ApplyLSN: 1})

	if l, ok := w.LaggardLSN(); !ok || l != 0 {
		t.Fatalf("laggard with empty pageserver slots = %v %v, want 0 (quirk §9.2)", l, ok)
	}
	a.RecordPageserverFeedback(walproto.PageserverFeedback{LastReceivedLSN: 500, RemoteConsistentLSN: 300, CorruptionDetected: true})
	b.RecordPageserverFeedback(walproto.PageserverFeedback{LastReceivedLSN: 400, RemoteConsistentLSN: 200})
	if l, ok := w.LaggardLSN(); !ok || l != 400 {
		t.Fatalf("laggard = %v %v, want 400", l, ok)
	}
	s := w.FeedbackStats()
	if s.Count != 2 || !s.CorruptionDetected || s.Last.LastReceivedLSN != 400 || s.MaxRemoteConsistentLSN != 300 {
		t.Fatalf("stats %+v", s)
	}
	if got := testutil.ToFloat64(counter); got != 2 {
		t.Fatalf("counter = %v", got)
	}
	if len(rcls) != 2 || rcls[0] != 300 || rcls[1] != 200 {
		t.Fatalf("OnRemoteConsistentLSN got %v", rcls)
	}
	if rcl, ok := b.RemoteConsistentLSN(); !ok || rcl != 200 {
		t.Fatalf("per-slot rcl = %v %v, want 200 (not the max)", rcl, ok)
	}
	if _, ok := st.RemoteConsistentLSN(); ok {
		t.Fatal("standby slot reported as pageserver")
	}
	a.Unregister()
	b.Unregister()
	if _, ok := w.LaggardLSN(); ok {
		t.Fatal("laggard with only a standby")
	}
	if !w.FeedbackStats().CorruptionDetected {
		t.Fatal("corruption flag must be sticky")
	}
}

func TestFeedbackBroadcastDropsOldest(t *testing.T) {
	w := NewWalSenders(RegistryOptions{})
	s := w.Register(SenderInfo{})
	slow, cancelSlow := w.SubscribeFeedback()
	defer cancelSlow()
	gone, cancelGone := w.SubscribeFeedback()
	cancelGone()
	const n = FeedbackBroadcastCapacity + 5
	for i := 1; i <= n; i++ {
		s.RecordPageserverFeedback(walproto.PageserverFeedback{LastReceivedLSN: pgwal.LSN(i)})
	}
	if len(gone) != 0 {
		t.Fatalf("cancelled subscriber got %d", len(gone))
	}
	if len(slow) != FeedbackBroadcastCapacity {
		t.Fatalf("queued %d, want %d", len(slow), FeedbackBroadcastCapacity)
	}
	for i := n - FeedbackBroadcastCapacity + 1; i <= n; i++ {
		if got := (<-slow).LastReceivedLSN; got != pgwal.LSN(i) {
			t.Fatalf("got %v, want %d: a laggard keeps the newest", got, i)
		}
	}
}

func TestShouldStop(t *testing.T) {
	tests := []struct {
		computes    int
		commit, rcl pgwal.LSN
		want        bool
	}{
		{0, 0, 0, true},
		{0, 100, 100, true},
		{0, 100, 150, true},
		{0, 100, 99, false},
		{1, 0, 0, false},
		{1, 100, 200, false},
	}
	for _, tt := range tests {
		if got := ShouldStop(tt.computes, tt.commit, tt.rcl); got != tt.want {
			t.Errorf("ShouldStop(%d, %v, %v) = %v", tt.computes, tt.commit, tt.rcl, got)
		}
	}
}

func TestSnapshotJSON(t *testing.T) {
	w := NewWalSenders(RegistryOptions{})
	ttid := ids.TTID{Tenant: ids.MustParse("0102030405060708090a0b0c0d0e0f10"), Timeline: ids.MustParse("1112131415161718191a1b1c1d1e1f20")}
	ps := w.Register(SenderInfo{Kind: KindVanilla, TTID: ttid, Addr: "127.0.0.1:5000", ConnID: 7, AppName: "pageserver-1"})
	ps.RecordPageserverFeedback(walproto.PageserverFeedback{CurrentTimelineSize: 1, LastReceivedLSN: 0x149FD18,
		ReplyTime: 1_500_000, ShardNumber: 1})
	st := w.Register(SenderInfo{Kind: KindInterpreted, TTID: ttid, Addr: "[::1]:6000", ConnID: 8,
		Shard: ShardIdentity{Number: 1, Count: 2, StripeSize: 2048, Layout: 1}})
	st.RecordHotStandbyFeedback(walproto.HotStandbyFeedback{TS: 5, Xmin: 1<<32 | 7})

	got, err := json.Marshal(w.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"Vanilla":{"ttid":{"tenant_id":"0102030405060708090a0b0c0d0e0f10","timeline_id":"1112131415161718191a1b1c1d1e1f20"},` +
		`"addr":"127.0.0.1:5000","conn_id":7,"appname":"pageserver-1","feedback":{"Pageserver":{"current_timeline_size":1,` +
		`"last_received_lsn":"0/149FD18","disk_consistent_lsn":"0/0","remote_consistent_lsn":"0/0",` +
		`"replytime":"2000-01-01T00:00:01.500+00:00","shard_number":1,"corruption_detected":false}}}},` +
		`{"Interpreted":{"ttid":{"tenant_id":"0102030405060708090a0b0c0d0e0f10","timeline_id":"1112131415161718191a1b1c1d1e1f20"},` +
		`"shard":{"number":1,"count":2,"stripe_size":2048,"layout":1},"addr":"[::1]:6000","conn_id":8,"appname":null,` +
		`"feedback":{"Standby":{"reply":{"write_lsn":"0/0","flush_lsn":"0/0","apply_lsn":"0/0","reply_ts":0,"reply_requested":false},` +
		`"hs_feedback":{"ts":5,"xmin":4294967303,"catalog_xmin":0}}}}}]`
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestRFC3339Chrono(t *testing.T) {
	tests := map[int64]string{
		0:         "2000-01-01T00:00:00+00:00",
		1:         "2000-01-01T00:00:00.000001+00:00",
		1_000:     "2000-01-01T00:00:00.001+00:00",
		-1:        "1999-12-31T23:59:59.999999+00:00",
		1_000_000: "2000-01-01T00:00:01+00:00",
	}
	for ts, want := range tests {
		if got := rfc3339Chrono(TimeFromPG(ts)); got != want {
			t.Errorf("%d: %s, want %s", ts, got, want)
		}
	}
}

// TestRegistryConcurrent exercises every entry point at once under -race.
func TestRegistryConcurrent(t *testing.T) {
	w := NewWalSenders(RegistryOptions{})
	sub, cancel := w.SubscribeFeedback()
	defer cancel()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				s := w.Register(SenderInfo{ConnID: uint32(i)})
				switch j % 3 {
				case 0:
					s.RecordPageserverFeedback(walproto.PageserverFeedback{LastReceivedLSN: pgwal.LSN(j)})
				case 1:
					s.RecordHotStandbyFeedback(walproto.HotStandbyFeedback{Xmin: uint64(j)})
				case 2:
					s.RecordStandbyReply(StandbyReply{ApplyLSN: pgwal.LSN(j)})
				}
				_, _ = w.LaggardLSN()
				_ = w.Snapshot()
				_ = w.StandbyAggregate()
				s.Unregister()
			}
		}()
	}
	go func() {
		for range sub {
		}
	}()
	wg.Wait()
	if w.Len() != 0 {
		t.Fatalf("Len = %d after all unregistered", w.Len())
	}
}
