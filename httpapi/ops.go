package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/pgwal"
)

// checkpoint is POST …/checkpoint: persist the in-memory control-file
// values now (node-wide scope, as in Neon).
func (a *API) checkpoint(w http.ResponseWriter, r *http.Request) error {
	t, release, err := a.timelineFor(r, true, nil)
	if err != nil {
		return err
	}
	defer release()
	if err := t.Core().Do(func() error { return t.Control().Flush() }); err != nil {
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	writeJSON(w, http.StatusOK, nil)
	return nil
}

// termBump is POST …/term_bump: {"term": n} raises the term to at least n,
// {"term": null} (or an empty body) by one; persisted before the answer.
func (a *API) termBump(w http.ResponseWriter, r *http.Request) error {
	var req termBumpRequest
	t, release, err := a.timelineFor(r, false, func() error {
		if r.ContentLength == 0 {
			return nil
		}
		return readJSON(r, &req)
	})
	if err != nil {
		return err
	}
	defer release()
	var resp termBumpResponse
	err = t.Core().Do(func() (err error) {
		resp.PreviousTerm, resp.CurrentTerm, err = t.Control().TermBump(req.Term)
		return err
	})
	if err != nil {
		return errorf(http.StatusInternalServerError, "%v", err)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// membership is PUT …/membership: switch to a configuration of a higher
// generation that includes this node (403 if it does not); 409 when the
// switch was ignored because the current generation is not lower.
func (a *API) membership(w http.ResponseWriter, r *http.Request) error {
	var conf controlfile.Configuration
	t, release, err := a.timelineFor(r, false, func() error { return readJSON(r, &conf) })
	if err != nil {
		return err
	}
	defer release()
	if !conf.Contains(a.cfg.NodeID) {
		return errorf(http.StatusForbidden, "refused to switch into %s, node %d is not a member of it",
			confString(&conf), a.cfg.NodeID)
	}
	var resp membershipResponse
	err = t.Core().Do(func() error {
		if t.Cancelled() {
			return errorf(http.StatusNotFound, "timeline %s is being deleted", t.TTID)
		}
		prev, cur, err := t.Control().SwitchMembership(conf)
		if err != nil {
			return err
		}
		flush := t.WAL().FlushRecordLSN()
		resp = membershipResponse{PreviousConf: prev, CurrentConf: cur, FlushLSN: flush,
			LastLogTerm: t.Control().State().Acceptor.TermHistory.LastLogTerm(flush)}
		return nil
	})
	if err != nil {
		return err
	}
	if resp.CurrentConf.Generation != conf.Generation {
		return errorf(http.StatusConflict, "request to switch into %s ignored, current generation %d",
			confString(&conf), resp.CurrentConf.Generation)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// confString shows a configuration in error messages (as its JSON).
func confString(c *controlfile.Configuration) string {
	b, _ := c.MarshalJSON()
	return string(b)
}

// digest is GET …/digest?from_lsn=X/Y&until_lsn=X/Y: the sha256 of the WAL
// bytes [from_lsn, until_lsn), read from the timeline's segment files.
func (a *API) digest(w http.ResponseWriter, r *http.Request) error {
	from, err := queryLSN(r, "from_lsn")
	if err != nil {
		return err
	}
	until, err := queryLSN(r, "until_lsn")
	if err != nil {
		return err
	}
	t, release, err := a.timelineFor(r, false, nil)
	if err != nil {
		return err
	}
	defer release()
	if from > until {
		return badRequest("from_lsn is greater than until_lsn")
	}
	var st controlfile.State
	var flush pgwal.LSN
	_ = t.Core().Do(func() error {
		st, flush = t.Control().State(), t.WAL().FlushRecordLSN()
		return nil
	})
	if from < st.TimelineStartLSN {
		return badRequest("requested LSN is before the start of the timeline")
	}
	if until > flush {
		return badRequest("until_lsn %s is beyond flush_lsn %s", until, flush)
	}
	rd := t.WAL().NewReader(st.TimelineStartLSN, st.LocalStartLSN)
	defer rd.Close()
	h := sha256.New()
	buf := make([]byte, pgwal.MaxSendSize)
	for pos := from; pos < until; {
		// Deletion waits for this request: stop when it starts, or when
		// the client goes away.
		if t.Cancelled() {
			return errorf(http.StatusNotFound, "timeline %s was deleted during the digest", t.TTID)
		}
		if err := r.Context().Err(); err != nil {
			return err
		}
		n, err := rd.ReadAt(buf[:min(uint64(len(buf)), uint64(until-pos))], pos)
		if n == 0 {
			if err == nil {
				err = errors.New("no bytes")
			}
			return errorf(http.StatusInternalServerError, "reading WAL at %s: %v", pos, err)
		}
		h.Write(buf[:n])
		pos += pgwal.LSN(n)
	}
	writeJSON(w, http.StatusOK, digestResponse{SHA256: hex.EncodeToString(h.Sum(nil))})
	return nil
}

// queryLSN parses a required LSN query parameter.
func queryLSN(r *http.Request, name string) (pgwal.LSN, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, badRequest("%s is required", name)
	}
	l, err := pgwal.ParseLSN(v)
	if err != nil {
		return 0, badRequest("failed to parse query parameter %s: %v", name, err)
	}
	return l, nil
}
