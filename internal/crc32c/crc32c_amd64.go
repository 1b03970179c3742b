package crc32c

import "golang.org/x/sys/cpu"

// useFold selects the folding path: it needs AVX-512 (with the OS saving
// its registers, which cpu checks) and VPCLMULQDQ for the 512-bit folds,
// PCLMULQDQ for the 128-bit ones and SSE4.2 for the CRC32 instruction.
var useFold = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VPCLMULQDQ && cpu.X86.HasPCLMULQDQ && cpu.X86.HasSSE42

// useScalar selects scalarCRC for short inputs: the SSE4.2 CRC32
// instruction.
var useScalar = cpu.X86.HasSSE42

// minFold is the shortest input folded: the four 512-bit registers the
// method starts from.
const minFold = foldBlock

// foldCRC returns the raw CRC register (not inverted) after p, at least
// foldBlock bytes, and then q (any length), from raw register s.
//
//go:noescape
func foldCRC(s uint32, p, q []byte, k *[16]uint64) uint32

// scalarCRC returns the raw CRC register after p and then q from raw
// register s, with the CRC32 instruction alone.
//
//go:noescape
func scalarCRC(s uint32, p, q []byte) uint32
