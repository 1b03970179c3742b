package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/walkeeper/walkeeper/auth"
	"github.com/walkeeper/walkeeper/controlfile"
	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/internal/pgtest"
	"github.com/walkeeper/walkeeper/pgwal"
	"github.com/walkeeper/walkeeper/proposer"
	"github.com/walkeeper/walkeeper/walproto"
)

// apiGet fetches an HTTP API path and returns status and body.
func apiGet(t *testing.T, method, url string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// apiElected dials, greets, votes term 1 and elects a proposer on ttid.
func apiElected(t *testing.T, ctx context.Context, addr string, ttid ids.TTID, start pgwal.LSN, pgVersion uint32, sysID uint64) *proposer.Conn {
	t.Helper()
	c, err := proposer.Dial(ctx, proposer.Config{Addr: addr, TenantID: ttid.Tenant, TimelineID: ttid.Timeline,
		ProtoVersion: 3, AllowTimelineCreation: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Greet(ctx, walproto.ProposerGreeting{PgVersion: pgVersion, SystemID: sysID}); err != nil {
		t.Fatal(err)
	}
	if vr, err := c.Vote(ctx, 1); err != nil || !vr.VoteGiven {
		t.Fatalf("vote = %+v, %v", vr, err)
	}
	if err := c.Elect(start, walproto.TermHistory{{Term: 1, LSN: start}}); err != nil {
		t.Fatal(err)
	}
	return c
}

// apiSendSegment appends seg[start:end) in 128 KiB pieces, pausing between
// them, and reports the first error.
func apiSendSegment(c *proposer.Conn, seg []byte, start, end pgwal.LSN, pause time.Duration) <-chan error {
	sent := make(chan error, 1)
	go func() {
		defer close(sent)
		for pos := start; pos < end; {
			n := min(pgwal.LSN(walproto.MaxWALPerAppend), end-pos)
			off := pos - (start - 40)
			if err := c.Append(pos, seg[off:off+n], 0, 0); err != nil {
				sent <- err
				return
			}
			pos += n
			time.Sleep(pause)
		}
	}()
	return sent
}

// metricValue finds one sample in Prometheus text output.
func metricValue(t *testing.T, text, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %s in /metrics", series)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestHTTPAPIWithRealWAL streams a real PostgreSQL 15 segment into one
// timeline and checks /metrics, TimelineStatus and digest against
// TIMELINE_STATUS and PostgreSQL's own WAL file; then deletes a second
// timeline while a proposer streams into it.
func TestHTTPAPIWithRealWAL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	seg, start, pgVersion, sysID := pgSegment(t)
	end := start - 40 + pgwal.DefaultSegmentSize
	dataDir := t.TempDir()
	ttA := ids.TTID{Tenant: ids.MustParse("cf0480929707ee75372337efaa5ecf96"), Timeline: ids.MustParse("112ded66422aa5e953e5440fa5427ac4")}
	ttB := ids.TTID{Tenant: ttA.Tenant, Timeline: ids.MustParse("212ded66422aa5e953e5440fa5427ac4")}
	const saveInterval = 300 * time.Millisecond
	addrs, _ := startRun(t, Config{DataDir: dataDir, ID: 1, Logger: testLogger(t), ControlFileSaveInterval: saveInterval})
	pg, base := addrs.PG.String(), "http://"+addrs.HTTP.String()
	tlURL := func(tt ids.TTID) string {
		return base + "/v1/tenant/" + tt.Tenant.String() + "/timeline/" + tt.Timeline.String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Ingest into A and let the proposer announce the commit.
	c := apiElected(t, ctx, pg, ttA, start, pgVersion, sysID)
	sent := apiSendSegment(c, seg, start, end, 0)
	for flush := pgwal.LSN(0); flush < end; {
		m, err := c.Receive(ctx)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if ar, ok := m.(walproto.AppendResponse); ok {
			flush = ar.FlushLSN
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if err := c.Append(end, nil, end, start); err != nil {
		t.Fatal(err)
	}
	want := end.String() + "|" + end.String()
	pgtest.WaitFor(t, 10*time.Second, "commit_lsn "+end.String(), func() bool { return psqlStatus(t, pg, ttA) == want })

	t.Run("manager persists commit_lsn", func(t *testing.T) {
		// commit_lsn moved less than a segment past the persisted value, so
		// only the save interval makes the manager write it (with an hour's
		// interval this subtest fails: nothing else persists it).
		dir := filepath.Join(dataDir, ttA.Tenant.String(), ttA.Timeline.String())
		pgtest.WaitFor(t, 10*saveInterval, "persisted commit_lsn "+end.String(), func() bool {
			st, err := controlfile.Load(dir)
			return err == nil && st.CommitLSN == end
		})
	})

	t.Run("metrics equal TIMELINE_STATUS", func(t *testing.T) {
		flush, commit, _ := strings.Cut(psqlStatus(t, pg, ttA), "|")
		status, body := apiGet(t, "GET", base+"/metrics")
		if status != 200 {
			t.Fatalf("/metrics = %d", status)
		}
		text := string(body)
		labels := `{tenant_id="` + ttA.Tenant.String() + `",timeline_id="` + ttA.Timeline.String() + `"}`
		for name, lsn := range map[string]string{"safekeeper_flush_lsn": flush, "safekeeper_commit_lsn": commit} {
			l, err := pgwal.ParseLSN(lsn)
			if err != nil {
				t.Fatal(err)
			}
			if got := metricValue(t, text, name+labels); got != float64(l) {
				t.Errorf("%s = %v, TIMELINE_STATUS says %s (%d)", name, got, lsn, uint64(l))
			}
		}
		for _, h := range []string{"safekeeper_write_wal_seconds_count", "safekeeper_flush_wal_seconds_count",
			"safekeeper_write_wal_bytes_count", "safekeeper_persist_control_file_seconds_count"} {
			if metricValue(t, text, h) == 0 {
				t.Errorf("%s is 0 after an ingest", h)
			}
		}
		if got := metricValue(t, text, "safekeeper_written_wal_bytes_total"+labels); got != float64(end-start) {
			t.Errorf("written bytes %v, want %d", got, end-start)
		}
		for _, s := range []string{"safekeeper_written_wal_seconds_total", "safekeeper_flushed_wal_seconds_total"} {
			if metricValue(t, text, s+labels) <= 0 {
				t.Errorf("%s is 0 after an ingest", s)
			}
		}
		if got := metricValue(t, text, "safekeeper_connected_computes"+labels); got != 1 {
			t.Errorf("connected computes %v with the proposer connected", got)
		}
		if got := metricValue(t, text, "safekeeper_acceptor_term"+labels); got != 1 {
			t.Errorf("acceptor term %v", got)
		}
		if got := metricValue(t, text, "safekeeper_epoch_start_lsn"+labels); got != float64(start) {
			t.Errorf("epoch_start_lsn %v, want %d", got, uint64(start))
		}
		if metricValue(t, text, `safekeeper_pg_queries_received_total{query="START_WAL_PUSH"}`) < 1 {
			t.Error("START_WAL_PUSH not counted")
		}
	})

	t.Run("timeline status", func(t *testing.T) {
		status, body := apiGet(t, "GET", tlURL(ttA))
		if status != 200 {
			t.Fatalf("status %d %s", status, body)
		}
		var ts struct {
			FlushLSN         string `json:"flush_lsn"`
			CommitLSN        string `json:"commit_lsn"`
			TimelineStartLSN string `json:"timeline_start_lsn"`
			Walreceivers     []struct {
				Status string `json:"status"`
			} `json:"walreceivers"`
			AcceptorState struct {
				Term  uint64 `json:"term"`
				Epoch uint64 `json:"epoch"`
			} `json:"acceptor_state"`
		}
		if err := json.Unmarshal(body, &ts); err != nil {
			t.Fatal(err)
		}
		if ts.FlushLSN != end.String() || ts.CommitLSN != end.String() || ts.TimelineStartLSN != start.String() ||
			len(ts.Walreceivers) != 1 || ts.AcceptorState.Term != 1 || ts.AcceptorState.Epoch != 1 {
			t.Fatalf("TimelineStatus %s", body)
		}
	})

	t.Run("digest equals PostgreSQL's WAL", func(t *testing.T) {
		off := func(l pgwal.LSN) int { return int(l - (start - 40)) }
		for _, r := range [][2]pgwal.LSN{{start, end}, {start + 1000, start + 3*pgwal.MaxSendSize + 17}, {end - 8, end}} {
			url := tlURL(ttA) + "/digest?from_lsn=" + r[0].String() + "&until_lsn=" + r[1].String()
			status, body := apiGet(t, "GET", url)
			sum := sha256.Sum256(seg[off(r[0]):off(r[1])])
			if want := `{"sha256":"` + hex.EncodeToString(sum[:]) + `"}`; status != 200 || strings.TrimSpace(string(body)) != want {
				t.Errorf("digest %s..%s = %d %s, want %s", r[0], r[1], status, body, want)
			}
		}
	})
	c.Close()
	pgtest.WaitFor(t, 5*time.Second, "the closed push to leave walreceivers", func() bool {
		_, body := apiGet(t, "GET", tlURL(ttA))
		return strings.Contains(string(body), `"walreceivers":[]`)
	})

	t.Run("delete while streaming", func(t *testing.T) {
		cb := apiElected(t, ctx, pg, ttB, start, pgVersion, sysID)
		sending := apiSendSegment(cb, seg, start, end, 20*time.Millisecond)
		for {
			m, err := cb.Receive(ctx)
			if err != nil {
				t.Fatalf("receive: %v", err)
			}
			if ar, ok := m.(walproto.AppendResponse); ok && ar.FlushLSN > start {
				break
			}
		}
		// A replication reader streams the same timeline (a standby's view:
		// commit mode from the timeline start).
		host, port, _ := strings.Cut(pg, ":")
		rcfg, err := pgconn.ParseConfig(fmt.Sprintf("host=%s port=%s user=x dbname=x sslmode=disable "+
			"application_name=standby options='-c tenant_id=%s timeline_id=%s'", host, port, ttB.Tenant, ttB.Timeline))
		if err != nil {
			t.Fatal(err)
		}
		rcfg.RuntimeParams["replication"] = "true"
		rc, err := pgconn.ConnectConfig(ctx, rcfg)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close(context.Background())
		if err := startStream(ctx, rc, "START_REPLICATION PHYSICAL "+start.String()); err != nil {
			t.Fatalf("START_REPLICATION: %v", err)
		}
		readerDone := make(chan error, 1)
		go func() {
			for {
				if _, err := rc.ReceiveMessage(ctx); err != nil {
					readerDone <- err
					return
				}
			}
		}()

		deleted := time.Now()
		status, body := apiGet(t, "DELETE", tlURL(ttB))
		if status != 200 || strings.TrimSpace(string(body)) != `{"dir_existed":true}` {
			t.Fatalf("DELETE = %d %s", status, body)
		}
		// The proposer sees its connection closed.
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		defer rcancel()
		var rerr error
		for rerr == nil {
			_, rerr = cb.Receive(rctx)
		}
		if errors.Is(rerr, context.DeadlineExceeded) || time.Since(deleted) > 2*time.Second {
			t.Fatalf("push connection still open %v after delete: %v", time.Since(deleted), rerr)
		}
		t.Logf("proposer saw %q %v after DELETE was sent", rerr, time.Since(deleted))
		select {
		case err := <-readerDone:
			t.Logf("replication reader saw %q %v after DELETE was sent", err, time.Since(deleted))
		case <-time.After(2*time.Second - time.Since(deleted)):
			t.Fatal("replication connection still open 2 s after delete")
		}
		select {
		case err := <-sending:
			if err == nil {
				t.Log("sender had finished before the delete")
			}
		case <-time.After(2 * time.Second):
			t.Fatal("sender still appending 2 s after delete")
		}
		if _, err := os.Stat(filepath.Join(dataDir, ttB.Tenant.String(), ttB.Timeline.String())); !os.IsNotExist(err) {
			t.Fatalf("timeline directory still there: %v", err)
		}
		// A late compute cannot recreate it.
		late, err := proposer.Dial(ctx, proposer.Config{Addr: pg, TenantID: ttB.Tenant, TimelineID: ttB.Timeline,
			ProtoVersion: 3, AllowTimelineCreation: true})
		if err != nil {
			t.Fatal(err)
		}
		defer late.Close()
		if ag, err := late.Greet(ctx, walproto.ProposerGreeting{PgVersion: pgVersion, SystemID: sysID}); err == nil {
			t.Fatalf("greeting for a deleted timeline answered %+v", ag)
		} else {
			t.Logf("late greeting refused: %v", err)
		}
		if status, _ := apiGet(t, "GET", tlURL(ttB)); status != 404 {
			t.Fatalf("status of the deleted timeline = %d", status)
		}
		// A is untouched.
		if got := psqlStatus(t, pg, ttA); got != want {
			t.Fatalf("other timeline after delete: %q, want %q", got, want)
		}
		if status, _ := apiGet(t, "GET", tlURL(ttA)); status != 200 {
			t.Fatalf("other timeline status %d", status)
		}
		// No file of B stays open in this process.
		if fds := openFilesUnder(t, filepath.Join(dataDir, ttB.Tenant.String(), ttB.Timeline.String())); len(fds) > 0 {
			t.Fatalf("files of the deleted timeline still open: %v", fds)
		}
	})
}

// openFilesUnder lists this process's open descriptors pointing below dir
// (Linux /proc; skipped elsewhere).
func openFilesUnder(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Logf("cannot list open files: %v", err)
		return nil
	}
	var out []string
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(strings.TrimSuffix(target, " (deleted)"), dir) {
			out = append(out, target)
		}
	}
	return out
}

// TestHTTPAuthWired: --http-auth-public-key-path protects the API but not
// the allow-list, and a safekeeperdata token opens it.
func TestHTTPAuthWired(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := auth.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(t.TempDir(), "auth.pem")
	if err := os.WriteFile(keyPath, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	addrs, _ := startRun(t, Config{DataDir: t.TempDir(), ID: 1, NoSync: true, HTTPAuthKeyPath: keyPath, LogOutput: io.Discard})
	base := "http://" + addrs.HTTP.String()
	for path, want := range map[string]int{"/v1/status": 200, "/metrics": 200, "/v1/tenant/timeline": 401, "/v1/tenant/timeline?x=/metrics": 401} {
		if status, body := apiGet(t, "GET", base+path); status != want {
			t.Errorf("GET %s = %d %s, want %d", path, status, body, want)
		}
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"scope": "safekeeperdata"}).SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", base+"/v1/tenant/timeline", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("with a safekeeperdata token: %d %s", resp.StatusCode, body)
	}
}
