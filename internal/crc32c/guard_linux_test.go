package crc32c

import (
	"hash/crc32"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFoldStaysInBounds folds inputs that end right before, or start right
// after, a page the process may not read. The fold's masked loads reach
// past the input's end up to a whole 256-byte block (and back to the start
// of its first 64-byte line); masked-out bytes must not fault, which
// AVX-512 guarantees, and must read as zeros.
func TestFoldStaysInBounds(t *testing.T) {
	if !useFold {
		t.Skip("no AVX-512 VPCLMULQDQ on this CPU")
	}
	page := unix.Getpagesize()
	mem, err := unix.Mmap(-1, 0, 4*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	for _, g := range []int{0, 3} {
		if err := unix.Mprotect(mem[g*page:(g+1)*page], unix.PROT_NONE); err != nil {
			t.Fatal(err)
		}
	}
	data := mem[page : 3*page]
	for i := range data {
		data[i] = byte(i*31 + 7)
	}
	check := func(p []byte, where string) {
		t.Helper()
		s := uint32(len(p) * 0x9E3779B9)
		want := ^crc32.Update(^s, table, p)
		if got := update(s, p, nil, minFold, &consts); got != want {
			t.Fatalf("%d bytes %s a guard page: %08x, want %08x", len(p), where, got, want)
		}
	}
	for n := minFold; n <= minFold+320; n++ {
		check(data[len(data)-n:], "ending right before")
		check(data[:n], "starting right after")
		check(data[len(data)-n-1:len(data)-1], "ending a byte before")
	}
}
