package walproposer

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/pgtest"
)

// TestHigherTermElection: a walkeeper's term is raised behind the
// walproposer's back (the HTTP term_bump), so its next AppendResponse
// carries a higher term; the walproposer runs a new election above it and
// commits go on, with every acknowledged insert in the table.
func TestHigherTermElection(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pg := pgtest.Start(t, pgtest.Options{Conf: syncConf})
	ks := startKeepers(t, 3)
	p, _ := runProposer(t, Config{Safekeepers: addrs(ks), Primary: pg.ConnString("postgres"), ReconnectTimeout: 500 * time.Millisecond})
	first := waitElected(t, p)
	waitSyncStandby(t, pg)
	pg.Psql(t, "CREATE TABLE t (w int, i int)")
	ins := startInserters(t, pg, 2)
	before := ins.total.Load()
	pgtest.WaitFor(t, 10*time.Second, "commits", func() bool { return ins.total.Load() >= before+20 })

	url := fmt.Sprintf("http://%s/v1/tenant/%s/timeline/%s/term_bump", ks[0].http, testTenant, testTimeline)
	resp, err := http.Post(url, "application/json", strings.NewReader(`{"term": 10}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("term_bump: %s %s", resp.Status, body)
	}
	pgtest.WaitFor(t, 15*time.Second, "an election above term 10", func() bool {
		s := p.Status()
		return s.Elected && s.Term > 10
	})
	before = ins.total.Load()
	pgtest.WaitFor(t, 15*time.Second, "commits in the new term", func() bool { return ins.total.Load() >= before+20 })
	ins.finish()
	if got, want := pg.Psql(t, "SELECT count(*) FROM t"), strconv.FormatInt(ins.total.Load(), 10); got != want {
		t.Fatalf("rows = %s, acknowledged inserts = %s", got, want)
	}
	t.Logf("term %d → %d after term_bump (%s)", first.Term, p.Status().Term, strings.TrimSpace(string(body)))
}
