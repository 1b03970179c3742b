package crc32c

import (
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"testing"
)

// clmul is the carry-less product of a and b as a 128-bit (lo, hi) pair:
// what one VPCLMULQDQ lane computes.
func clmul(a, b uint64) (lo, hi uint64) {
	for i := range 64 {
		if b>>i&1 != 0 {
			lo ^= a << i
			if i > 0 {
				hi ^= a >> (64 - i)
			}
		}
	}
	return lo, hi
}

type lane struct{ lo, hi uint64 }

func (l lane) fold(k1, k2 uint64) lane {
	a, b := clmul(l.lo, k1)
	c, d := clmul(l.hi, k2)
	return lane{a ^ c, b ^ d}
}

func le64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// modelFold is foldBlocks in plain Go, lane by lane, with the same
// constants and the same order of folds: it checks the constants and the
// method independently of the assembly.
func modelFold(s uint32, p []byte, k *[16]uint64) [16]byte {
	var z [16]lane
	for i := range z {
		z[i] = lane{le64(p[16*i:]), le64(p[16*i+8:])}
	}
	z[0].lo ^= uint64(s)
	for p = p[256:]; len(p) >= 256; p = p[256:] {
		for i := range z {
			f := z[i].fold(k[0], k[1])
			z[i] = lane{f.lo ^ le64(p[16*i:]), f.hi ^ le64(p[16*i+8:])}
		}
	}
	for r := range 3 { // register r into register r+1
		for j := range 4 {
			f := z[4*r+j].fold(k[2], k[3])
			z[4*r+4+j].lo ^= f.lo
			z[4*r+4+j].hi ^= f.hi
		}
	}
	acc := z[15]
	for j := range 3 {
		f := z[12+j].fold(k[4+2*j], k[5+2*j])
		acc.lo ^= f.lo
		acc.hi ^= f.hi
	}
	var out [16]byte
	for i := range 8 {
		out[i] = byte(acc.lo >> (8 * i))
		out[8+i] = byte(acc.hi >> (8 * i))
	}
	return out
}

func TestModelFold(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{256, 512, 768, 4096} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		crc := r.Uint32()
		want := crc32.Update(crc, table, p)
		rem := modelFold(^crc, p, &consts)
		if got := crc32.Update(0xFFFFFFFF, table, rem[:]); got != want {
			t.Fatalf("model, %d bytes: %08x, want %08x", n, got, want)
		}
	}
}

// TestUpdate compares Update with hash/crc32 over every length up to 3 KiB
// and random longer ones, at every alignment mod 64, from random
// starting values.
func TestUpdate(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 1<<20+64)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	check := func(off, n int) {
		p := buf[off : off+n]
		crc := r.Uint32()
		if got, want := Update(crc, p), crc32.Update(crc, table, p); got != want {
			t.Fatalf("offset %d, %d bytes, crc %08x: %08x, want %08x", off, n, crc, got, want)
		}
	}
	for n := 0; n <= 3<<10; n++ {
		check(n%64, n)
	}
	for range 2000 {
		check(r.IntN(64), r.IntN(1<<20))
	}
	if got, want := Checksum([]byte("123456789")), uint32(0xE3069283); got != want {
		t.Fatalf("check value %08x, want %08x", got, want)
	}
	t.Logf("folding path in use: %v", useFold)
}

// TestUpdateAsm calls the assembly directly, so that each of its paths is
// tested whatever the CPU would choose, each input followed by a second
// one of up to 99 bytes, from random raw registers:
//   - folding, where the CPU has it: every length from 256 to 1100 bytes
//     at every position in a 64-byte line (the fold reads from the line
//     start before the input up to a whole 256-byte block after it, and
//     each pair of the two amounts takes its own masks and multipliers),
//     and every length to 2 KiB at the line start;
//   - the CRC32 instruction alone (folding disabled), every length to 1000.
func TestUpdateAsm(t *testing.T) {
	if !useScalar {
		t.Skip("no SSE4.2 on this CPU")
	}
	r := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, 64+2048+100)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	check := func(path string, lead, n, foldMin int) {
		t.Helper()
		p := buf[lead : lead+n]
		s, m := r.Uint32(), r.IntN(100)
		q := buf[len(buf)-m:]
		want := ^crc32.Update(crc32.Update(^s, table, p), table, q)
		if got := update(s, p, q, foldMin, &consts); got != want {
			t.Fatalf("%s: %d bytes at line offset %d, then %d: %08x, want %08x", path, n, lead, m, got, want)
		}
	}
	if useFold {
		for lead := range 64 {
			for n := minFold; n <= 1100; n++ {
				check("fold", lead, n, minFold)
			}
		}
		for n := 1101; n <= 2048; n++ {
			check("fold", 0, n, minFold)
		}
	} else {
		t.Log("no AVX-512 VPCLMULQDQ on this CPU: folding not tested")
	}
	for n := 0; n <= 1000; n++ {
		check("scalar", 0, n, math.MaxInt)
	}
}

// TestUnpad checks the multipliers against their definition: n zero bytes
// from register unpad(r, n) lead to r.
func TestUnpad(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for n := range unpad {
		reg := r.Uint32()
		lo, _ := clmul(uint64(reg), unpad[n])
		var w [8]byte
		for i := range w {
			w[i] = byte(lo >> (8 * i))
		}
		start := ^crc32.Update(0xFFFFFFFF, table, w[:]) // CRC32 instruction from 0
		if got := ^crc32.Update(^start, table, make([]byte, n)); got != reg {
			t.Fatalf("unpad[%d]: %d zero bytes from %08x give %08x, want %08x", n, n, start, got, reg)
		}
	}
}

// TestUpdate2 checks Update2 against two hash/crc32 updates, through the
// folding and the scalar assembly: every first length up to 600 (both
// paths, every tail) with second inputs of 0 to 40 bytes (a record
// header's 20 among them), and random lengths and alignments.
func TestUpdate2(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	buf := make([]byte, 8192)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	check := func(crc uint32, p, q []byte) {
		t.Helper()
		if got, want := Update2(crc, p, q), crc32.Update(crc32.Update(crc, table, p), table, q); got != want {
			t.Fatalf("lengths %d, %d from %08x: %08x, want %08x", len(p), len(q), crc, got, want)
		}
	}
	for n := 0; n <= 600; n++ {
		for m := 0; m <= 40; m++ {
			check(r.Uint32(), buf[3:3+n], buf[4000+m%7:4000+m%7+m])
		}
	}
	for range 20000 {
		n, m := r.IntN(4096), r.IntN(300)
		po, qo := r.IntN(64), 4096+r.IntN(64)
		check(r.Uint32(), buf[po:po+n], buf[qo:qo+m])
	}
}

func FuzzUpdate2(f *testing.F) {
	f.Add(uint32(0), []byte("123456789"), make([]byte, 20))
	f.Add(uint32(0xFFFFFFFF), make([]byte, 2048), []byte{1})
	f.Fuzz(func(t *testing.T, crc uint32, p, q []byte) {
		if got, want := Update2(crc, p, q), crc32.Update(crc32.Update(crc, table, p), table, q); got != want {
			t.Fatalf("%d + %d bytes: %08x, want %08x", len(p), len(q), got, want)
		}
	})
}

func FuzzUpdate(f *testing.F) {
	f.Add(uint32(0), []byte("123456789"))
	f.Add(uint32(0xFFFFFFFF), make([]byte, 2048))
	f.Fuzz(func(t *testing.T, crc uint32, p []byte) {
		if got, want := Update(crc, p), crc32.Update(crc, table, p); got != want {
			t.Fatalf("%d bytes: %08x, want %08x", len(p), got, want)
		}
	})
}

func BenchmarkUpdate(b *testing.B) {
	for _, n := range []int{256, 512, 1024, 2048, 8 << 10, 128 << 10} {
		p := make([]byte, n)
		b.Run(fmt.Sprintf("size=%d/crc32c", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				Update(0, p)
			}
		})
		b.Run(fmt.Sprintf("size=%d/hash-crc32", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				crc32.Update(0, table, p)
			}
		})
	}
}

// BenchmarkUpdateOffset folds random bytes that start 0 or 24 bytes into
// a 64-byte line (24: a WAL record's body, after its 24-byte header, when
// the record starts a line; records are 8-byte aligned).
func BenchmarkUpdateOffset(b *testing.B) {
	r := rand.New(rand.NewPCG(13, 14))
	buf := make([]byte, 128<<10+64)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for _, n := range []int{8 << 10, 128 << 10} {
		for _, off := range []int{0, 24} {
			p := buf[off : off+n]
			b.Run(fmt.Sprintf("size=%d/offset=%d", n, off), func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					Update(0, p)
				}
			})
		}
	}
}

// recordRef is xl_crc computed with hash/crc32.
func recordRef(rec []byte) uint32 {
	return crc32.Update(crc32.Update(0, table, rec[24:]), table, rec[:20])
}

// TestPadStates checks that k zero bytes take padStates[k] to the initial
// register.
func TestPadStates(t *testing.T) {
	for k, s := range padStates {
		// crc32.Update inverts the register on the way in and out.
		if got := ^crc32.Update(^s, table, make([]byte, k)); got != 0xFFFFFFFF {
			t.Errorf("%d zero bytes from %08x give %08x", k, s, got)
		}
	}
}

// TestRecord checks Record against hash/crc32 for every record length up
// to 700 (the scalar path, every length modulo 8, and the folding path
// from 280) at every alignment modulo 8, and random longer ones.
func TestRecord(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	buf := make([]byte, 16<<10)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	check := func(rec []byte) {
		t.Helper()
		if got, want := Record(rec), recordRef(rec); got != want {
			t.Fatalf("record of %d bytes: %08x, want %08x", len(rec), got, want)
		}
	}
	for n := 24; n <= 700; n++ {
		for off := range 8 {
			check(buf[off : off+n])
		}
	}
	for range 5000 {
		n, off := 24+r.IntN(9000), r.IntN(64)
		check(buf[off : off+n])
	}
}

func FuzzRecord(f *testing.F) {
	f.Add(make([]byte, 24))
	f.Add([]byte("0123456789abcdefghijklmnopqrstuvwxyz"))
	f.Fuzz(func(t *testing.T, rec []byte) {
		if len(rec) < 24 {
			return
		}
		if got, want := Record(rec), recordRef(rec); got != want {
			t.Fatalf("record of %d bytes: %08x, want %08x", len(rec), got, want)
		}
	})
}

// BenchmarkRecord measures Record against Update2 on records laid out one
// after another as in WAL, 8-aligned: all of one length (120-byte bodies),
// or with bodies of random lengths from 10 to 229 bytes (OLTP WAL).
func BenchmarkRecord(b *testing.B) {
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 13)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, shape := range []string{"fixed", "random"} {
		var recs [][]byte
		for off := 0; off+300 < len(buf); {
			n := 24 + 120
			if shape == "random" {
				n = 24 + 10 + r.IntN(220)
			}
			recs = append(recs, buf[off:off+n])
			off += (n + 7) &^ 7
		}
		for _, fn := range []string{"Record", "Update2"} {
			b.Run(shape+"/"+fn, func(b *testing.B) {
				var x uint32
				for b.Loop() {
					for _, rec := range recs {
						if fn == "Record" {
							x += Record(rec)
						} else {
							x += Update2(0, rec[24:], rec[:20])
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
				_ = x
			})
		}
	}
}
