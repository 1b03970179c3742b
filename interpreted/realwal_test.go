package interpreted_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/walkeeper/walkeeper/interpreted"
	"github.com/walkeeper/walkeeper/interpreted/reader"
	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

const testStripe = 8 // small, so that small relations spread over the shards

// shardSets are the shard layouts checked against the unsharded stream.
func shardSets() map[int][]shard.Identity {
	sets := map[int][]shard.Identity{}
	for _, n := range []int{1, 4, 8} {
		for i := range n {
			sets[n] = append(sets[n], shard.Identity{Number: uint8(i), Count: uint8(n), StripeSize: testStripe})
		}
	}
	return sets
}

// interpreted is one real record and what the interpreter made of it.
type interpretedRec struct {
	rec       pgwal.Record
	unsharded interpreted.Record
	sharded   map[int][]interpreted.Record
}

// TestRealWAL interprets PostgreSQL 15 WAL and checks it against pg_waldump,
// the catalog and the sharding rules; then runs the batcher over it.
func TestRealWAL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	w := makeRealWAL(t)
	dump := pgWaldump(t, w)
	recs := interpretAll(t, w, dump)
	t.Run("pg_waldump", func(t *testing.T) {
		if len(recs) != len(dump) || len(recs) < 1000 {
			t.Fatalf("%d records, pg_waldump printed %d", len(recs), len(dump))
		}
		for i, r := range recs {
			if r.rec.StartLSN != dump[i].lsn || rmgrNames[r.rec.Header.RMID] != dump[i].rmgr {
				t.Fatalf("record %d at %s rmgr %d, pg_waldump: %s %s", i, r.rec.StartLSN, r.rec.Header.RMID, dump[i].lsn, dump[i].rmgr)
			}
			// pg_waldump prints the next record after its page header.
			next := r.rec.NextLSN
			switch {
			case next%pgwal.DefaultSegmentSize == 0:
				next += pgwal.SizeOfXLogLongPHD
			case next.PageOffset() == 0:
				next += pgwal.SizeOfXLogShortPHD
			}
			if r.unsharded.NextRecordLSN != r.rec.NextLSN || (i+1 < len(dump) && next != dump[i+1].lsn) {
				t.Fatalf("record %d: next_record_lsn %s, next record at %s", i, r.unsharded.NextRecordLSN, dump[min(i+1, len(dump)-1)].lsn)
			}
		}
	})
	t.Run("catalog", func(t *testing.T) { checkCatalog(t, w, recs) })
	t.Run("partition", func(t *testing.T) {
		for i, r := range recs {
			for n, out := range r.sharded {
				checkPartition(t, i, n, &r.unsharded, out)
			}
		}
	})
	t.Run("neon heap layout refuses vanilla WAL", func(t *testing.T) {
		in, err := interpreted.NewInterpreter(interpreted.Config{PGVersion: 15, HeapLayout: interpreted.HeapLayoutNeon})
		if err != nil {
			t.Fatal(err)
		}
		failed := 0
		for _, r := range recs {
			if _, err := in.Interpret(nil, r.rec.Data, r.rec.NextLSN, nil); errors.Is(err, interpreted.ErrBadWAL) {
				failed++
			}
		}
		if failed == 0 {
			t.Fatal("the Neon layout read every vanilla DELETE/LOCK record")
		}
		t.Logf("%d records need the vanilla heap layout", failed)
	})
	t.Run("batcher", func(t *testing.T) { checkBatcher(t, w, recs) })
	if *updateCorpus {
		writeCorpus(t, recs)
	}
}

var updateCorpus = flag.Bool("update-corpus", false, "write one real record of each kind to testdata/fuzz/FuzzInterpret")

// writeCorpus stores the first record of each (rmgr, info) kind, shortest
// first, as FuzzInterpret seeds (mode 13: PostgreSQL 15, vanilla heap, four
// shards).
func writeCorpus(t *testing.T, recs []interpretedRec) {
	dir := filepath.Join("testdata", "fuzz", "FuzzInterpret")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	seen := map[[2]uint8]bool{}
	for _, r := range recs {
		h := r.rec.Header
		k := [2]uint8{h.RMID, h.Info}
		if seen[k] || len(r.rec.Data) > 4*pgwal.XLogBlockSize {
			continue
		}
		seen[k] = true
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nbyte(%d)\n", strconv.Quote(string(r.rec.Data)), 13)
		name := fmt.Sprintf("real-pg15-rmgr%d-info%02x", h.RMID, h.Info)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d corpus files", len(seen))
}

func interpretAll(t *testing.T, w *realWAL, dump []waldumpRecord) []interpretedRec {
	t.Helper()
	in, err := interpreted.NewInterpreter(interpreted.Config{PGVersion: 150004, HeapLayout: interpreted.HeapLayoutVanilla})
	if err != nil {
		t.Fatal(err)
	}
	sets := shardSets()
	dec := pgwal.NewDecoder(w.start, 15)
	dec.Feed(w.stream)
	var out []interpretedRec
	for {
		rec, ok, err := dec.Next()
		if err != nil {
			t.Fatalf("decode after %d records: %v", len(out), err)
		}
		if !ok {
			break
		}
		rec.Data = bytes.Clone(rec.Data)
		u, err := in.Interpret(nil, rec.Data, rec.NextLSN, []shard.Identity{shard.Unsharded()})
		if err != nil {
			t.Fatalf("record at %s (rmgr %d info %#x): %v", rec.StartLSN, rec.Header.RMID, rec.Header.Info, err)
		}
		ir := interpretedRec{rec: rec, unsharded: u[0], sharded: map[int][]interpreted.Record{}}
		for n, set := range sets {
			if ir.sharded[n], err = in.Interpret(nil, rec.Data, rec.NextLSN, set); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, ir)
	}
	return out
}

// checkPartition: over n shards, every value of the unsharded record is on
// exactly the shard that owns its key, byte for byte and in order; shard 0
// observes the rest; metadata is shared (ClearVMBits split by VM page owner,
// AUX files on shard 0).
func checkPartition(t *testing.T, i, n int, u *interpreted.Record, out []interpreted.Record) {
	t.Helper()
	next := make([]int, n)
	for _, m := range u.Batch.Metadata {
		owner := -1
		for s := range n {
			if (shard.Identity{Number: uint8(s), Count: uint8(n), StripeSize: testStripe}).IsKeyLocal(m.Key.Key()) {
				if owner >= 0 {
					t.Fatalf("record %d: key %s local to shards %d and %d of %d", i, m.Key.Key(), owner, s, n)
				}
				owner = s
			}
		}
		if owner < 0 {
			t.Fatalf("record %d: key %s has no shard of %d", i, m.Key.Key(), n)
		}
		for s := range n {
			if s != owner && s != 0 {
				continue
			}
			b := &out[s].Batch
			if next[s] >= len(b.Metadata) {
				t.Fatalf("record %d: shard %d/%d lacks key %s", i, s, n, m.Key.Key())
			}
			got := b.Metadata[next[s]]
			next[s]++
			if s != owner {
				if got.Kind != interpreted.Observed || got.Key != m.Key || got.LSN != m.LSN {
					t.Fatalf("record %d: shard 0/%d has %+v, want Observed %s", i, n, got, m.Key.Key())
				}
				continue
			}
			if got.Kind != interpreted.Serialized || got.Key != m.Key || got.WillInit != m.WillInit ||
				!bytes.Equal(b.Raw[got.BatchOffset:got.BatchOffset+got.Len], u.Batch.Raw[m.BatchOffset:m.BatchOffset+m.Len]) {
				t.Fatalf("record %d: shard %d/%d value for %s differs", i, s, n, m.Key.Key())
			}
		}
	}
	var vm []interpreted.Option[uint32]
	for s := range n {
		r := &out[s]
		if next[s] != len(r.Batch.Metadata) {
			t.Fatalf("record %d: shard %d/%d has %d extra values", i, s, n, len(r.Batch.Metadata)-next[s])
		}
		if r.NextRecordLSN != u.NextRecordLSN || r.XID != u.XID || r.FlushUncommitted != u.FlushUncommitted {
			t.Fatalf("record %d: shard %d/%d header differs", i, s, n)
		}
		switch m := u.Metadata.(type) {
		case *interpreted.ClearVMBits:
			if c, ok := r.Metadata.(*interpreted.ClearVMBits); ok {
				vm = append(vm, c.NewHeapBlkno, c.OldHeapBlkno)
			}
		case *interpreted.LogicalMessagePut:
			if (r.Metadata != nil) != (s == 0) {
				t.Fatalf("record %d: AUX file on shard %d/%d: %v", i, s, n, r.Metadata)
			}
		default:
			if !reflect.DeepEqual(r.Metadata, m) {
				t.Fatalf("record %d: shard %d/%d metadata %#v, want %#v", i, s, n, r.Metadata, m)
			}
		}
	}
	if m, ok := u.Metadata.(*interpreted.ClearVMBits); ok {
		for _, want := range []interpreted.Option[uint32]{m.NewHeapBlkno, m.OldHeapBlkno} {
			found := 0
			for _, o := range vm {
				if want.Valid && o == want {
					found++
				}
			}
			if want.Valid && found == 0 {
				t.Fatalf("record %d: VM bits of heap block %d on no shard of %d", i, want.Value, n)
			}
		}
	}
	if n == 1 && !reflect.DeepEqual(out[0], *u) {
		t.Fatalf("record %d: one shard differs from unsharded", i)
	}
}

func checkCatalog(t *testing.T, w *realWAL, recs []interpretedRec) {
	relnodes := map[uint32]int{}
	seen := map[string]bool{}
	for _, r := range recs {
		u := &r.unsharded
		for _, m := range u.Batch.Metadata {
			k := m.Key.Key()
			if k.F2 == 1663 && k.F3 == w.dbOID {
				relnodes[k.F4]++
			}
		}
		if r.rec.Header.RMID == pgwal.RMXLogID && r.rec.Header.Info&0xF0 == 0xA0 {
			seen["fpi for hint"] = true
		}
		vals, err := reader.Values(&u.Batch)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if v != nil && v.Image != nil {
				seen["image"] = true
				if binary.LittleEndian.Uint16(v.Image[14:]) != 0 {
					lsn := pgwal.LSN(binary.LittleEndian.Uint32(v.Image[0:]))<<32 | pgwal.LSN(binary.LittleEndian.Uint32(v.Image[4:]))
					if lsn != u.NextRecordLSN {
						t.Fatalf("image at %s has page LSN %s", r.rec.StartLSN, lsn)
					}
				}
			}
		}
		switch m := u.Metadata.(type) {
		case *interpreted.ClearVMBits:
			if m.VMRel.RelNode == w.filenodes["vmt"] && m.VMRel.ForkNum == 2 && m.VMRel.DBNode == w.dbOID {
				seen["clear vm "+string(rune('0'+m.Flags))] = true
			}
		case *interpreted.SmgrCreate:
			if m.Rel.RelNode == w.filenodes["tt"] {
				seen["smgr create truncated tt"] = true
			}
		case *interpreted.XactRecord:
			for _, n := range m.Parsed.XNodes {
				if n.RelNode == w.filenodes["tt"] && m.Kind == interpreted.XactCommit {
					seen["commit drops tt"] = true
				}
			}
			if m.Kind == interpreted.XactCommitPrepared && m.Parsed.XID != m.XLXID {
				seen["commit prepared"] = true
			}
			if m.Kind == interpreted.XactAbortPrepared {
				seen["abort prepared"] = true
			}
		case *interpreted.XactPrepare:
			seen["prepare"] = true
		case *interpreted.DbaseCreate:
			if m.DBID == w.copyDBOID && u.FlushUncommitted {
				seen["create database file_copy"] = true
			}
		case *interpreted.DbaseDrop:
			if m.DBID == w.copyDBOID {
				seen["drop database"] = true
			}
		case *interpreted.LogicalMessagePut:
			if m.Path == "pg_logical/mappings/test" && string(m.Buf) == "hello" {
				seen["aux file"] = true
			}
			if m.Path == "big" && len(m.Buf) == 20000 && r.rec.Header.TotLen > pgwal.XLogBlockSize {
				seen["aux file longer than a page"] = true
			}
		case *interpreted.SmgrTruncate, *interpreted.RelmapUpdate, *interpreted.StandbyRunningXacts, *interpreted.ClogZeroPage:
			seen[reflect.TypeOf(m).Elem().Name()] = true
		}
	}
	for _, rel := range []string{"pgbench_accounts", "pgbench_branches", "pgbench_tellers", "vmt", "vmt_a"} {
		if relnodes[w.filenodes[rel]] == 0 {
			t.Errorf("no block of %s (filenode %d)", rel, w.filenodes[rel])
		}
	}
	for _, what := range []string{"fpi for hint", "image", "clear vm 3", "clear vm 2", "smgr create truncated tt", "commit drops tt",
		"commit prepared", "abort prepared", "prepare", "create database file_copy", "drop database", "aux file",
		"aux file longer than a page", "SmgrTruncate", "RelmapUpdate", "StandbyRunningXacts"} {
		if !seen[what] {
			t.Errorf("workload produced no %s", what)
		}
	}
	t.Logf("%d records, %d relations in database %d", len(recs), len(relnodes), w.dbOID)
}
