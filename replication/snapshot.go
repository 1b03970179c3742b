package replication

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/walproto"
)

// SenderState is one slot as the HTTP API shows it (replication.md §8,
// Neon's safekeeper_api::models::WalSenderState). It marshals to
// {"Vanilla":{ttid,addr,conn_id,appname,feedback}} or
// {"Interpreted":{ttid,shard,addr,conn_id,appname,feedback}}.
type SenderState struct {
	SenderInfo
	Feedback Feedback
}

// Snapshot returns the registered senders in slot order.
func (w *WalSenders) Snapshot() []SenderState {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]SenderState, 0, len(w.slots))
	for _, sl := range w.slots {
		if sl != nil {
			out = append(out, SenderState{SenderInfo: sl.info, Feedback: sl.feedback})
		}
	}
	return out
}

type jsonTTID struct {
	TenantID   ids.TenantID   `json:"tenant_id"`
	TimelineID ids.TimelineID `json:"timeline_id"`
}

type jsonSender struct {
	TTID     jsonTTID       `json:"ttid"`
	Shard    *ShardIdentity `json:"shard,omitempty"`
	Addr     string         `json:"addr"`
	ConnID   uint32         `json:"conn_id"`
	AppName  *string        `json:"appname"`
	Feedback Feedback       `json:"feedback"`
}

// MarshalJSON implements json.Marshaler with Neon's externally tagged enum.
func (s SenderState) MarshalJSON() ([]byte, error) {
	j := jsonSender{
		TTID:     jsonTTID{s.TTID.Tenant, s.TTID.Timeline},
		Addr:     s.Addr,
		ConnID:   s.ConnID,
		Feedback: s.Feedback,
	}
	if s.AppName != "" {
		j.AppName = &s.AppName
	}
	if s.Kind == KindInterpreted {
		j.Shard = &s.Shard
	}
	return json.Marshal(map[string]jsonSender{s.Kind.String(): j})
}

type jsonPageserverFeedback struct {
	CurrentTimelineSize uint64    `json:"current_timeline_size"`
	LastReceivedLSN     pgwal.LSN `json:"last_received_lsn"`
	DiskConsistentLSN   pgwal.LSN `json:"disk_consistent_lsn"`
	RemoteConsistentLSN pgwal.LSN `json:"remote_consistent_lsn"`
	ReplyTime           string    `json:"replytime"`
	ShardNumber         uint32    `json:"shard_number"`
	CorruptionDetected  bool      `json:"corruption_detected"`
}

type jsonHotStandby struct {
	TS          int64  `json:"ts"`
	Xmin        uint64 `json:"xmin"`
	CatalogXmin uint64 `json:"catalog_xmin"`
}

type jsonStandby struct {
	Reply      StandbyReply   `json:"reply"`
	HSFeedback jsonHotStandby `json:"hs_feedback"`
}

// MarshalJSON implements json.Marshaler: {"Pageserver":{...}} or
// {"Standby":{"reply":{...},"hs_feedback":{...}}}, LSNs as "X/Y" strings
// and replytime in RFC 3339 as chrono prints it.
func (f Feedback) MarshalJSON() ([]byte, error) {
	if f.Kind == FeedbackStandby {
		hs := f.Standby.HotStandby
		return json.Marshal(map[string]jsonStandby{"Standby": {
			Reply:      f.Standby.Reply,
			HSFeedback: jsonHotStandby{TS: hs.TS, Xmin: hs.Xmin, CatalogXmin: hs.CatalogXmin},
		}})
	}
	return json.Marshal(map[string]jsonPageserverFeedback{"Pageserver": pageserverFeedbackJSON(f.Pageserver)})
}

func pageserverFeedbackJSON(p walproto.PageserverFeedback) jsonPageserverFeedback {
	return jsonPageserverFeedback{
		CurrentTimelineSize: p.CurrentTimelineSize,
		LastReceivedLSN:     p.LastReceivedLSN,
		DiskConsistentLSN:   p.DiskConsistentLSN,
		RemoteConsistentLSN: p.RemoteConsistentLSN,
		ReplyTime:           rfc3339Chrono(TimeFromPG(p.ReplyTime)),
		ShardNumber:         p.ShardNumber,
		CorruptionDetected:  p.CorruptionDetected,
	}
}

// rfc3339Chrono formats t (UTC) as chrono's DateTime<Utc>::to_rfc3339:
// "+00:00" for the zone and 0, 3, 6 or 9 fraction digits, whichever is the
// shortest exact form.
func rfc3339Chrono(t time.Time) string {
	t = t.UTC()
	ns := t.Nanosecond()
	base := t.Format("2006-01-02T15:04:05")
	switch {
	case ns == 0:
		return base + "+00:00"
	case ns%1_000_000 == 0:
		return fmt.Sprintf("%s.%03d+00:00", base, ns/1_000_000)
	case ns%1_000 == 0:
		return fmt.Sprintf("%s.%06d+00:00", base, ns/1_000)
	default:
		return fmt.Sprintf("%s.%09d+00:00", base, ns)
	}
}
