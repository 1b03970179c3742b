package httpapi

import (
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/replication"
	"github.com/walkeeper/walkeeper/timeline"
)

// dumpArgs are debug_dump's query parameters (debug_dump.rs Args).
type dumpArgs struct {
	all, controlFile, memory, diskContent, termHistory, walLastModified bool
	tenant, timeline                                                    *ids.ID
}

var dumpBools = []string{"dump_all", "dump_control_file", "dump_memory", "dump_disk_content",
	"dump_term_history", "dump_wal_last_modified"}

func parseDumpArgs(r *http.Request) (dumpArgs, error) {
	a := dumpArgs{}
	q := r.URL.Query()
	known := map[string]bool{"tenant_id": true, "timeline_id": true}
	for _, k := range dumpBools {
		known[k] = true
	}
	for k := range q {
		if !known[k] {
			return a, badRequest("Unknown query parameter: %s", k)
		}
	}
	all, err := queryBool(r, "dump_all", false)
	if err != nil {
		return a, err
	}
	// An explicit value wins; an absent one defaults to dump_all, except
	// dump_term_history, which defaults to true (as in Neon).
	vals := make([]bool, len(dumpBools))
	for i, k := range dumpBools {
		def := all
		if k == "dump_term_history" {
			def = true
		}
		v, err := queryBool(r, k, def)
		if err != nil {
			return a, err
		}
		vals[i] = v
	}
	a.all, a.controlFile, a.memory, a.diskContent, a.termHistory, a.walLastModified =
		vals[0], vals[1], vals[2], vals[3], vals[4], vals[5]
	for _, p := range []struct {
		name string
		dst  **ids.ID
	}{{"tenant_id", &a.tenant}, {"timeline_id", &a.timeline}} {
		if v := q.Get(p.name); v != "" {
			id, err := ids.Parse(v)
			if err != nil {
				return a, badRequest("failed to parse %s: %v", p.name, err)
			}
			*p.dst = &id
		}
	}
	return a, nil
}

// dumpMemory is the in-memory part of a timeline dump (a subset of Neon's
// Memory: no peers, backup or eviction state exist here).
type dumpMemory struct {
	IsCancelled    bool                      `json:"is_cancelled"`
	Walsenders     []replication.SenderState `json:"walsenders"`
	Walreceivers   []walReceiverState        `json:"walreceivers"`
	NumComputes    int                       `json:"num_computes"`
	EpochStartLSN  pgwal.LSN                 `json:"epoch_start_lsn"`
	MemState       dumpMemState              `json:"mem_state"`
	WriteLSN       pgwal.LSN                 `json:"write_lsn"`
	WriteRecordLSN pgwal.LSN                 `json:"write_record_lsn"`
	FlushLSN       pgwal.LSN                 `json:"flush_lsn"`
	WrittenBytes   uint64                    `json:"written_wal_bytes"`
}

// dumpMemState is TimelineMemState, the control-file overlay.
type dumpMemState struct {
	CommitLSN           pgwal.LSN `json:"commit_lsn"`
	BackupLSN           pgwal.LSN `json:"backup_lsn"`
	PeerHorizonLSN      pgwal.LSN `json:"peer_horizon_lsn"`
	RemoteConsistentLSN pgwal.LSN `json:"remote_consistent_lsn"`
	ProposerUUID        ids.ID    `json:"proposer_uuid"`
}

type dumpFile struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
}

type dumpDisk struct {
	Files []dumpFile `json:"files"`
}

type dumpTimeline struct {
	TenantID        ids.ID             `json:"tenant_id"`
	TimelineID      ids.ID             `json:"timeline_id"`
	ControlFile     *controlfile.State `json:"control_file,omitempty"`
	Memory          *dumpMemory        `json:"memory,omitempty"`
	DiskContent     *dumpDisk          `json:"disk_content,omitempty"`
	WALLastModified *time.Time         `json:"wal_last_modified,omitempty"`
}

type dumpConfig struct {
	ID                   ids.NodeID `json:"id"`
	Workdir              string     `json:"workdir"`
	ListenPGAddr         string     `json:"listen_pg_addr"`
	ListenHTTPAddr       string     `json:"listen_http_addr"`
	NoSync               bool       `json:"no_sync"`
	MaxOffloaderLagBytes uint64     `json:"max_offloader_lag_bytes"`
	WALBackupEnabled     bool       `json:"wal_backup_enabled"`
}

type dumpResponse struct {
	StartTime      time.Time      `json:"start_time"`
	FinishTime     time.Time      `json:"finish_time"`
	Timelines      []dumpTimeline `json:"timelines"`
	TimelinesCount int            `json:"timelines_count"`
	Config         dumpConfig     `json:"config"`
}

// defaultMaxOffloaderLag is Neon's --max-offloader-lag default, reported
// for compatibility (there is no offloader yet).
const defaultMaxOffloaderLag = 128 << 20

// debugDump is GET /v1/debug_dump (node-wide scope).
func (a *API) debugDump(w http.ResponseWriter, r *http.Request) error {
	if err := a.permit(r, nil); err != nil {
		return err
	}
	args, err := parseDumpArgs(r)
	if err != nil {
		return err
	}
	resp := dumpResponse{StartTime: time.Now().UTC(), Timelines: []dumpTimeline{}}
	for _, t := range a.cfg.Registry.List() {
		if (args.tenant != nil && *args.tenant != t.TTID.Tenant) || (args.timeline != nil && *args.timeline != t.TTID.Timeline) {
			continue
		}
		resp.Timelines = append(resp.Timelines, a.dumpTimeline(t, &args))
	}
	resp.TimelinesCount = len(resp.Timelines)
	i := a.cfg.Info
	resp.Config = dumpConfig{ID: a.cfg.NodeID, Workdir: i.Workdir, ListenPGAddr: i.ListenPGAddr,
		ListenHTTPAddr: i.ListenHTTPAddr, NoSync: i.NoSync, MaxOffloaderLagBytes: defaultMaxOffloaderLag}
	resp.FinishTime = time.Now().UTC()
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (a *API) dumpTimeline(t *timeline.Timeline, args *dumpArgs) dumpTimeline {
	out := dumpTimeline{TenantID: t.TTID.Tenant, TimelineID: t.TTID.Timeline}
	release, err := t.Enter()
	if err != nil { // deleted meanwhile: ids only
		return out
	}
	defer release()
	var st controlfile.State
	var mem dumpMemory
	_ = t.Core().Do(func() error {
		st = t.Control().State()
		wal := t.WAL()
		mem.WriteLSN, mem.WriteRecordLSN, mem.FlushLSN = wal.WriteLSN(), wal.WriteRecordLSN(), wal.FlushRecordLSN()
		return nil
	})
	if args.controlFile {
		if !args.termHistory {
			st.Acceptor.TermHistory = nil
		}
		out.ControlFile = &st
	}
	if args.memory {
		mem.IsCancelled = t.Cancelled()
		mem.Walsenders = walsenders(t)
		mem.Walreceivers = walreceivers(t)
		mem.NumComputes = len(mem.Walreceivers)
		mem.EpochStartLSN = t.Status().TermStartLSN
		mem.MemState = dumpMemState{CommitLSN: st.CommitLSN, BackupLSN: st.BackupLSN, PeerHorizonLSN: st.PeerHorizonLSN,
			RemoteConsistentLSN: st.RemoteConsistentLSN, ProposerUUID: st.ProposerUUID}
		mem.WrittenBytes = t.WrittenBytes()
		out.Memory = &mem
	}
	if args.diskContent || args.walLastModified {
		files, last := diskContent(t.Dir, uint64(st.Server.WalSegSize))
		if args.diskContent {
			out.DiskContent = &dumpDisk{Files: files}
		}
		if args.walLastModified && !last.IsZero() {
			out.WALLastModified = &last
		}
	}
	return out
}

// diskContent lists the timeline directory, and the newest modification
// time of a WAL segment.
func diskContent(dir string, segSize uint64) (files []dumpFile, walLast time.Time) {
	files = []dumpFile{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return files, walLast
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		mod := info.ModTime().UTC()
		files = append(files, dumpFile{Name: e.Name(), Size: info.Size(), Modified: mod})
		if _, _, err := pgwal.ParseSegmentName(e.Name(), segSize); err == nil && mod.After(walLast) {
			walLast = mod
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, walLast
}
