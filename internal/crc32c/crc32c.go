// Package crc32c computes CRC-32C (Castagnoli), the checksum of every
// PostgreSQL WAL record, with the same results as hash/crc32 and its
// Castagnoli table, but faster on long inputs where the CPU allows it.
//
// hash/crc32 uses the SSE4.2 CRC32 instruction, three streams at a time
// (about 21 GB/s on the machines here). On CPUs with AVX-512 and
// VPCLMULQDQ, inputs of minFold bytes or more are instead folded 256
// bytes per step with carry-less multiplication: sixteen 128-bit lanes
// are each multiplied forward by x^2048 mod P and combined with the next
// block, the lanes are folded into one 16-byte remainder congruent to the
// whole input, and the CRC32 instruction finishes with that remainder.
// The fold reads whole aligned 64-byte lines only, as if zero bytes came
// before the input (back to a line start) and after it (up to a whole
// number of blocks), and takes their effect off by two multiplications
// (unpad): no tail is finished byte by byte, and no load straddles two
// cache lines.
// This is the folding method of Gopal et al., "Fast CRC Computation for
// Generic Polynomials Using PCLMULQDQ Instruction" (Intel, 2009), with
// constants computed at start-up (foldConstants) rather than tabulated.
package crc32c

import (
	"hash/crc32"
	"math"
	"math/bits"
)

// table is hash/crc32's Castagnoli table, for the short inputs and tails.
var table = crc32.MakeTable(crc32.Castagnoli)

// poly is the Castagnoli polynomial in normal form, x^32 included.
const poly = 0x11EDC6F41

// Update returns the CRC-32C of p appended to the data whose CRC-32C is
// crc: the same value as crc32.Update(crc, crc32.MakeTable(crc32.Castagnoli), p).
func Update(crc uint32, p []byte) uint32 {
	if useFold && len(p) >= minFold {
		return ^update(^crc, p, nil, minFold, &consts)
	}
	return crc32.Update(crc, table, p)
}

// Update2 is Update(Update(crc, p), q) in one call: a WAL record's CRC
// covers its body and then the first 20 bytes of its header, and for the
// short records of an OLTP workload the second call, and hash/crc32's own
// layers of calls, cost about as much as the checksum.
func Update2(crc uint32, p, q []byte) uint32 {
	if useScalar {
		return ^update(^crc, p, q, foldMin, &consts)
	}
	return crc32.Update(crc32.Update(crc, table, p), table, q)
}

// Record returns xl_crc for a PostgreSQL WAL record: the CRC-32C of its
// body, rec[24:], and then of its header without the CRC field, rec[:20]
// (XLogRecord is 24 bytes; xl_crc is its last 4). rec must hold at least
// 24 bytes. The result is Update2(0, rec[24:], rec[:20]); records too
// short to fold take recordScalar, which has no branch on the body's
// length modulo 8: on OLTP WAL, whose records are mostly under 300 bytes
// of every length, the mispredicted tail steps cost as much as the
// checksum itself.
func Record(rec []byte) uint32 {
	_ = rec[23]
	if !useScalar || len(rec)-24 >= foldMin {
		return Update2(0, rec[24:], rec[:20])
	}
	return ^recordScalar(rec, &padStates)
}

// padStates[k] is the CRC register that k zero bytes take to the initial
// register 0xFFFFFFFF. Feeding a zero byte multiplies the register by x^8
// mod P, which x being invertible mod P can be undone, so every k has one.
// recordScalar starts a body of n bytes k = -n mod 8 bytes early, from
// padStates[k], with those k bytes (the header's, before the body) masked
// to zero: that makes the body whole 8-byte words without changing its CRC.
var padStates = func() (s [8]uint32) {
	r := uint32(0xFFFFFFFF)
	for k := range s {
		s[k] = r
		for range 8 {
			r = unshiftZeroBit(r)
		}
	}
	return s
}()

// unshiftZeroBit returns the register r' from which one zero bit gives r.
// With the reflected polynomial (crc32.Castagnoli), a zero bit takes r' to
// r'>>1, xored with the polynomial when the bit shifted out was 1; the
// polynomial's top bit is set and r'>>1's is clear, so r's top bit tells
// which happened.
func unshiftZeroBit(r uint32) uint32 {
	if r&0x80000000 != 0 {
		return (r^crc32.Castagnoli)<<1 | 1
	}
	return r << 1
}

// Checksum returns the CRC-32C of p.
func Checksum(p []byte) uint32 { return Update(0, p) }

// foldBlock is how many bytes one main folding step consumes: four
// 512-bit registers.
const foldBlock = 256

// foldMin is the shortest input update folds: minFold where the CPU can
// fold, never where it cannot.
var foldMin = func() int {
	if useFold {
		return minFold
	}
	return math.MaxInt
}()

// consts are the folding multipliers (see foldConstants).
var consts = foldConstants()

// unpad[n] accounts for n zero bytes around a folded input. A register r
// multiplied by unpad[n] (carry-less, both reflected) and reduced by the
// CRC32 instruction from a zero register is r·x^(-8n) mod P: the register
// from which n zero bytes lead to r. The fold uses it twice: to start n
// zero bytes before the input so that it arrives at the input with the
// given register, and to take off n zero bytes it went on over after it.
// unpad[n] is x^(-8n) mod P less 33 more powers of x: 32 that the CRC32
// instruction multiplies by, and 1 for the product of two reflected
// values landing one bit low.
var unpad = func() (u [256]uint64) {
	for n := range u {
		u[n] = uint64(reflectedXNegPow(8*n + 33))
	}
	return u
}()

// reflectedXNegPow returns x^(-e) mod P as a reflected 32-bit value (the
// coefficient of x^i at bit 31-i). x is invertible mod P because P's
// constant term is 1: a·x^-1 is a/x when a's constant term is 0, else
// (a+P)/x.
func reflectedXNegPow(e int) uint32 {
	a := uint64(1)
	for range e {
		if a&1 != 0 {
			a ^= poly
		}
		a >>= 1
	}
	return bits.Reverse32(uint32(a))
}

// foldConstants returns, for each folding distance, the pair of 64-bit
// multipliers that move a 128-bit lane forward by that many bytes: the
// lane's first 8 bytes (its higher-degree half, bits being reflected) are
// multiplied by x^(8d+64-1) mod P and its last 8 bytes by x^(8d-1) mod P.
// The -1 makes up for the carry-less product of two reflected 64-bit
// values landing one bit low in the 128-bit result. Layout, as the
// assembly reads it: [0:2] d=256 (main loop), [2:4] d=64 (register to
// register), [4:12] d=48, 32, 16 and zero for lanes 0..3 of the last
// register, [12:14] d=192, [14:16] d=128.
func foldConstants() [16]uint64 {
	pair := func(d int) (uint64, uint64) {
		return reflectedXPow(8*d + 64 - 1), reflectedXPow(8*d - 1)
	}
	var k [16]uint64
	k[0], k[1] = pair(256)
	k[2], k[3] = pair(64)
	k[4], k[5] = pair(48)
	k[6], k[7] = pair(32)
	k[8], k[9] = pair(16)
	k[12], k[13] = pair(192)
	k[14], k[15] = pair(128)
	return k
}

// reflectedXPow returns x^e mod P as a reflected 64-bit operand: the
// coefficient of x^i at bit 63-i.
func reflectedXPow(e int) uint64 {
	r := uint64(1)
	for range e {
		r <<= 1
		if r&(1<<32) != 0 {
			r ^= poly
		}
	}
	var out uint64
	for i := range 32 {
		if r>>i&1 != 0 {
			out |= 1 << (63 - i)
		}
	}
	return out
}
