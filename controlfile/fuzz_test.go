package controlfile

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus under testdata/fuzz")

// normalized is what s becomes after Encode and Decode: generation-0 states
// are written as version 9, losing mconf and creation_ts.
func normalized(s *State) State {
	n := s.Clone()
	if n.MConf.Generation == InvalidGeneration {
		n.MConf = Configuration{}
		n.CreationTS = time.Unix(0, 0).UTC()
	}
	return n
}

// checkRoundTrip: an accepted state re-encodes to something that decodes to
// the same state and re-encodes to the same bytes.
func checkRoundTrip(t *testing.T, s *State) {
	enc := Encode(s)
	s2, err := Decode(enc)
	if err != nil {
		t.Fatalf("re-decode: %v", err)
	}
	if want := normalized(s); !s2.Equal(&want) {
		t.Fatalf("round trip changed the state\nfrom %+v\nto   %+v", want, s2)
	}
	if enc2 := Encode(s2); string(enc2) != string(enc) {
		t.Fatal("second encode differs")
	}
}

func seedFiles() [][]byte {
	seeds := [][]byte{handV10(), handV9(), Encode(minimalState()), {}, {0xEF, 0xCE, 0xFE, 0xCA}}
	for i := range uint64(6) {
		seeds = append(seeds, Encode(killState(i)))
	}
	return seeds
}

func FuzzDecode(f *testing.F) {
	for _, s := range seedFiles() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			if s != nil {
				t.Fatal("state with error")
			}
			return
		}
		checkRoundTrip(t, s)
	})
}

// FuzzParseBody skips the CRC so the fuzzer reaches every field.
func FuzzParseBody(f *testing.F) {
	for _, s := range seedFiles() {
		if len(s) >= 12 {
			f.Add(uint32(s[4]), s[8:len(s)-4])
		}
	}
	f.Fuzz(func(t *testing.T, version uint32, body []byte) {
		s, err := ParseBody(9+version%2, body)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		checkRoundTrip(t, s)
	})
}

// TestHugeDeclaredLengths: a corrupt length never turns into a large
// allocation.
func TestHugeDeclaredLengths(t *testing.T) {
	full := handV10()
	body := full[8 : len(full)-4]
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	for off := 0; off+8 <= len(body); off++ {
		c := append([]byte(nil), body...)
		for k := range 8 {
			c[off+k] = 0xFF
		}
		c[off+7] = 0x0F // 2^60-ish: any u64 read here is absurd as a length
		if s, err := ParseBody(Version, c); err == nil {
			checkRoundTrip(t, s) // the 8 bytes were a plain integer field
		}
	}
	runtime.ReadMemStats(&ms1)
	if d := ms1.TotalAlloc - ms0.TotalAlloc; d > 16<<20 {
		t.Fatalf("allocated %d bytes decoding corrupt lengths", d)
	}
}

// TestWriteSeedCorpus regenerates testdata/fuzz with -update-corpus.
func TestWriteSeedCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus")
	}
	for i, s := range seedFiles() {
		writeCorpus(t, "FuzzDecode", i, fmt.Sprintf("[]byte(%s)", strconv.Quote(string(s))))
		if len(s) >= 12 {
			writeCorpus(t, "FuzzParseBody", i, fmt.Sprintf("uint32(%d)\n[]byte(%s)", s[4], strconv.Quote(string(s[8:len(s)-4]))))
		}
	}
}

func writeCorpus(t *testing.T, target string, i int, body string) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, fmt.Sprintf("seed-%02d", i))
	if err := os.WriteFile(name, []byte("go test fuzz v1\n"+body+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
