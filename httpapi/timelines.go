package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/replication"
	"github.com/walkeeper/walkeeper/timeline"
)

// pathTTID parses the {tenant_id} and {timeline_id} wildcards; a bad id is 400.
func pathTTID(r *http.Request) (ids.TTID, error) {
	tenant, err := pathID(r, "tenant_id")
	if err != nil {
		return ids.TTID{}, err
	}
	tli, err := pathID(r, "timeline_id")
	if err != nil {
		return ids.TTID{}, err
	}
	return ids.TTID{Tenant: tenant, Timeline: tli}, nil
}

func pathID(r *http.Request, name string) (ids.ID, error) {
	id, err := ids.Parse(r.PathValue(name))
	if err != nil {
		return ids.ID{}, badRequest("failed to parse %s: %v", name, err)
	}
	return id, nil
}

// queryBool parses an optional boolean query parameter.
func queryBool(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("failed to parse query parameter %s: %v", name, err)
	}
	return b, nil
}

// timelineFor parses the path, checks the scope (the tenant's, or
// node-wide when nodeWide) and enters the timeline's gate, so that a
// deletion waits for the request and the timeline's files stay open until
// release. Unknown or deleted timelines are 404. body, if not nil, reads
// the request body once the timeline is found but before the gate is
// entered: a client slow to send it must not hold up a deletion.
func (a *API) timelineFor(r *http.Request, nodeWide bool, body func() error) (t *timeline.Timeline, release func(), err error) {
	ttid, err := pathTTID(r)
	if err != nil {
		return nil, nil, err
	}
	scope := &ttid.Tenant
	if nodeWide {
		scope = nil
	}
	if err := a.permit(r, scope); err != nil {
		return nil, nil, err
	}
	if t, err = a.cfg.Registry.Get(ttid); err != nil {
		return nil, nil, err
	}
	if body != nil {
		if err := body(); err != nil {
			return nil, nil, err
		}
	}
	if release, err = t.Enter(); err != nil {
		return nil, nil, err
	}
	return t, release, nil
}

func (a *API) status(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, struct {
		ID ids.NodeID `json:"id"`
	}{a.cfg.NodeID})
	return nil
}

func (a *API) utilization(w http.ResponseWriter, r *http.Request) error {
	if err := a.permit(r, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, utilization{TimelineCount: len(a.cfg.Registry.List())})
	return nil
}

func (a *API) listTimelines(w http.ResponseWriter, r *http.Request) error {
	if err := a.permit(r, nil); err != nil {
		return err
	}
	out := []ttidJSON{}
	for _, t := range a.cfg.Registry.List() {
		out = append(out, ttidJSON{TenantID: t.TTID.Tenant, TimelineID: t.TTID.Timeline})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// createTimeline is POST /v1/tenant/timeline (§3.2); creating an existing
// timeline succeeds without changing it.
func (a *API) createTimeline(w http.ResponseWriter, r *http.Request) error {
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return badRequest("reading body: %v", err)
	}
	req, err := decodeCreateRequest(raw)
	if err != nil {
		return err
	}
	if err := a.permit(r, &req.TenantID); err != nil {
		return err
	}
	st, err := req.state(time.Now())
	if err != nil {
		return err
	}
	if _, err := a.cfg.Registry.Create(st); err != nil {
		if errors.Is(err, timeline.ErrDeleted) || errors.Is(err, timeline.ErrCreationInProgress) {
			return errorf(http.StatusConflict, "%v", err)
		}
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	writeJSON(w, http.StatusOK, nil)
	return nil
}

func (a *API) timelineStatus(w http.ResponseWriter, r *http.Request) error {
	t, release, err := a.timelineFor(r, false, nil)
	if err != nil {
		return err
	}
	defer release()
	var st controlfile.State
	var flush pgwal.LSN
	_ = t.Core().Do(func() error {
		st, flush = t.Control().State(), t.WAL().FlushRecordLSN()
		return nil
	})
	out := timelineStatus{
		TenantID:   st.TenantID,
		TimelineID: st.TimelineID,
		MConf:      st.MConf,
		AcceptorState: acceptorStateStatus{
			Term:        st.Acceptor.Term,
			Epoch:       st.Acceptor.TermHistory.LastLogTerm(flush),
			TermHistory: []termSwitchEntry{},
		},
		PGInfo:              serverInfo(st.Server),
		FlushLSN:            flush,
		TimelineStartLSN:    st.TimelineStartLSN,
		LocalStartLSN:       st.LocalStartLSN,
		CommitLSN:           st.CommitLSN,
		BackupLSN:           st.BackupLSN,
		PeerHorizonLSN:      st.PeerHorizonLSN,
		RemoteConsistentLSN: st.RemoteConsistentLSN,
		Peers:               []peerInfo{},
		Walsenders:          walsenders(t),
		Walreceivers:        walreceivers(t),
	}
	for _, e := range st.Acceptor.TermHistory {
		out.AcceptorState.TermHistory = append(out.AcceptorState.TermHistory, termSwitchEntry(e))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// walsenders is the timeline's replication connections in Neon's JSON
// shape ({"Vanilla": {…}} or {"Interpreted": {…}}).
func walsenders(t *timeline.Timeline) []replication.SenderState {
	out := t.WalSenders().Snapshot()
	if out == nil {
		out = []replication.SenderState{}
	}
	return out
}

func walreceivers(t *timeline.Timeline) []walReceiverState {
	out := []walReceiverState{}
	for _, rc := range t.WALReceivers() {
		id := rc.ConnID
		out = append(out, walReceiverState{ConnID: &id, Status: string(rc.Status)})
	}
	return out
}

// deleteTimeline is DELETE …/timeline/{id} (§3.4): everything on the
// timeline is cancelled and awaited, its directory removed and a tombstone
// left. only_local is accepted; there is no remote storage to clean.
func (a *API) deleteTimeline(w http.ResponseWriter, r *http.Request) error {
	ttid, err := pathTTID(r)
	if err != nil {
		return err
	}
	if _, err := queryBool(r, "only_local", false); err != nil {
		return err
	}
	if err := a.permit(r, &ttid.Tenant); err != nil {
		return err
	}
	if err := ensureNoBody(r); err != nil {
		return err
	}
	existed, err := a.cfg.Registry.Delete(r.Context(), ttid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, deleteResult{DirExisted: existed})
	return nil
}

// deleteTenant is DELETE /v1/tenant/{id}: every timeline of the tenant.
func (a *API) deleteTenant(w http.ResponseWriter, r *http.Request) error {
	tenant, err := pathID(r, "tenant_id")
	if err != nil {
		return err
	}
	if _, err := queryBool(r, "only_local", false); err != nil {
		return err
	}
	if err := a.permit(r, &tenant); err != nil {
		return err
	}
	if err := ensureNoBody(r); err != nil {
		return err
	}
	res, err := a.cfg.Registry.DeleteTenant(r.Context(), tenant)
	if err != nil {
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	out := make(map[string]deleteResult, len(res))
	for tli, existed := range res {
		out[tli.String()] = deleteResult{DirExisted: existed}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// decodeCreateRequest decodes a create request; a malformed one, or one
// missing a field serde requires, is 400. It does not retain raw.
func decodeCreateRequest(raw []byte) (*timelineCreateRequest, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, badRequest("Failed to parse json request: %v", err)
	}
	for _, f := range createRequired {
		if _, ok := fields[f]; !ok {
			return nil, badRequest("Failed to parse json request: missing field `%s`", f)
		}
	}
	var req timelineCreateRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, badRequest("Failed to parse json request: %v", err)
	}
	return &req, nil
}

// state is the initial state of the timeline the request creates (§3.2);
// parameters Neon refuses are 400.
func (req *timelineCreateRequest) state(now time.Time) (*controlfile.State, error) {
	ttid := ids.TTID{Tenant: req.TenantID, Timeline: req.TimelineID}
	server := controlfile.ServerInfo{PGVersion: req.PGVersion, WalSegSize: pgwal.DefaultSegmentSize}
	if req.SystemID != nil {
		server.SystemID = *req.SystemID
	}
	if req.WalSegSize != nil {
		server.WalSegSize = *req.WalSegSize
	}
	commit := req.StartLSN
	if req.CommitLSN != nil {
		commit = *req.CommitLSN
	}
	st, err := controlfile.New(ttid, req.MConf, server, req.StartLSN, commit, now)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	return st, nil
}
