package walproto

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/; regenerate them from the
// test vectors with: go test ./walproto -run TestWriteFuzzCorpus -update-corpus
var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz seed corpora from the test vectors")

func proposerSeeds(version uint32) [][]byte {
	var seeds [][]byte
	for _, tv := range proposerVectors {
		if tv.version == version {
			seeds = append(seeds, unhex(tv.hex))
		}
	}
	return seeds
}

func acceptorSeeds(version uint32) [][]byte {
	var seeds [][]byte
	for _, tv := range acceptorVectors {
		if tv.version == version {
			seeds = append(seeds, unhex(tv.hex))
		}
	}
	return seeds
}

func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite testdata/fuzz")
	}
	corpora := map[string][][]byte{
		"FuzzParseProposerMessageV2":  proposerSeeds(Version2),
		"FuzzParseProposerMessageV3":  proposerSeeds(Version3),
		"FuzzParseAcceptorMessageV2":  acceptorSeeds(Version2),
		"FuzzParseAcceptorMessageV3":  acceptorSeeds(Version3),
		"FuzzParsePageserverFeedback": {unhex(tv5AppendResponseV3Feedback)[53:]},
	}
	for name, seeds := range corpora {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, b := range seeds {
			data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("vector%d", i)), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParseStartWALPush")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, q := range []string{StartWALPushQuery(3, true), StartWALPushQuery(2, false), "START_WAL_PUSH"} {
		data := fmt.Sprintf("go test fuzz v1\nstring(%q)\n", q)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("query%d", i)), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fuzzProposer checks that parsing never panics, that an accepted AppendRequest
// obeys the limits, and that a parsed message re-encodes to one that parses
// back equal.
func fuzzProposer(f *testing.F, version uint32) {
	for _, s := range proposerSeeds(version) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseProposerMessage(version, b)
		if err != nil {
			if m != nil {
				t.Fatalf("message with error %v", err)
			}
			return
		}
		if a, ok := m.(AppendRequest); ok {
			if a.EndLSN < a.BeginLSN || len(a.WAL) != int(a.EndLSN-a.BeginLSN) || len(a.WAL) > MaxWALPerAppend {
				t.Fatalf("bad append accepted: %+v", a)
			}
		}
		again, err := ParseProposerMessage(version, AppendProposerMessage(nil, version, m))
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip: %+v -> %+v, %v", m, again, err)
		}
	})
}

func FuzzParseProposerMessageV2(f *testing.F) { fuzzProposer(f, Version2) }
func FuzzParseProposerMessageV3(f *testing.F) { fuzzProposer(f, Version3) }

func fuzzAcceptor(f *testing.F, version uint32) {
	for _, s := range acceptorSeeds(version) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseAcceptorMessage(version, b)
		if err != nil {
			if m != nil {
				t.Fatalf("message with error %v", err)
			}
			return
		}
		again, err := ParseAcceptorMessage(version, AppendAcceptorMessage(nil, version, m))
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip: %+v -> %+v, %v", m, again, err)
		}
	})
}

func FuzzParseAcceptorMessageV2(f *testing.F) { fuzzAcceptor(f, Version2) }
func FuzzParseAcceptorMessageV3(f *testing.F) { fuzzAcceptor(f, Version3) }

func FuzzParsePageserverFeedback(f *testing.F) {
	f.Add(unhex(tv5AppendResponseV3Feedback)[53:])
	f.Fuzz(func(t *testing.T, b []byte) {
		fb, n, err := ParsePageserverFeedback(b)
		if err != nil {
			return
		}
		if n < 1 || n > len(b) {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		again, _, err := ParsePageserverFeedback(AppendPageserverFeedback(nil, fb))
		if err != nil || again != fb {
			t.Fatalf("round trip: %+v -> %+v, %v", fb, again, err)
		}
	})
}

func FuzzParseStartWALPush(f *testing.F) {
	f.Add(StartWALPushQuery(3, true))
	f.Fuzz(func(t *testing.T, q string) {
		v, allow, err := ParseStartWALPush(q)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("error %v is not ErrBadCommand", err)
			}
			return
		}
		v2, allow2, err := ParseStartWALPush(StartWALPushQuery(v, allow))
		if err != nil || v2 != v || allow2 != allow {
			t.Fatalf("round trip (%d, %t) -> (%d, %t), %v", v, allow, v2, allow2, err)
		}
	})
}
