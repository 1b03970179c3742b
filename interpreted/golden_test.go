package interpreted

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the real records of the FuzzInterpret corpus")

// readCorpusBytes returns the []byte argument of a Go fuzz corpus file.
func readCorpusBytes(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "[]byte("); ok {
			b, err := strconv.Unquote(strings.TrimSuffix(s, ")"))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			return []byte(b)
		}
	}
	t.Fatalf("%s: no []byte line", path)
	return nil
}

// describe prints what each shard receives, with values as digests.
func describe(out []Record) string {
	var b strings.Builder
	for i, r := range out {
		fmt.Fprintf(&b, "shard %d: next=%s xid=%d flush=%v empty=%v\n", i, r.NextRecordLSN, r.XID, r.FlushUncommitted, r.IsEmpty())
		if r.Metadata != nil {
			fmt.Fprintf(&b, "  metadata %T %x\n", r.Metadata, AppendMetadataRecord(nil, r.Metadata))
		}
		for _, m := range r.Batch.Metadata {
			if m.Kind == Observed {
				fmt.Fprintf(&b, "  observed %s\n", m.Key.Key())
				continue
			}
			sum := sha256.Sum256(r.Batch.Raw[m.BatchOffset : m.BatchOffset+m.Len])
			fmt.Fprintf(&b, "  value %s off=%d len=%d will_init=%v sha256=%x\n", m.Key.Key(), m.BatchOffset, m.Len, m.WillInit, sum[:8])
		}
		fmt.Fprintf(&b, "  max_lsn=%s len=%d raw=%d\n", r.Batch.MaxLSN, r.Batch.Len, len(r.Batch.Raw))
	}
	return b.String()
}

// TestGolden interprets the real PostgreSQL 15 records of the fuzz corpus
// (one of each kind, vanilla heap layout, four shards) and compares with
// testdata/golden; `go test ./interpreted -run Golden -update` rewrites it.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzInterpret", "real-pg15-*"))
	if err != nil || len(files) < 20 {
		t.Fatalf("%d real records in the corpus: %v", len(files), err)
	}
	in, err := NewInterpreter(Config{PGVersion: 15, HeapLayout: HeapLayoutVanilla})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			out, err := in.Interpret(nil, readCorpusBytes(t, f), 0x1234568, fourShards())
			got := describe(out)
			if err != nil {
				got = "error: " + err.Error() + "\n"
			}
			path := filepath.Join("testdata", "golden", name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal([]byte(got), want) {
				t.Fatalf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
