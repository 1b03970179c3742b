package crc32c

import "golang.org/x/sys/cpu"

// useFold selects the folding path: it needs AVX-512 (with the OS saving
// its registers, which cpu checks) and VPCLMULQDQ for the 512-bit folds,
// AVX-512BW and BMI2 for the byte-masked first and last lines, PCLMULQDQ
// for the 128-bit products and SSE4.2 for the CRC32 instruction.
var useFold = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VPCLMULQDQ &&
	cpu.X86.HasPCLMULQDQ && cpu.X86.HasBMI2 && cpu.X86.HasSSE42

// useScalar selects the assembly (update) for Update2: it needs the SSE4.2
// CRC32 instruction, and folds only where useFold allows.
var useScalar = cpu.X86.HasSSE42

// minFold is the shortest input folded: the four 512-bit registers the
// method starts from.
const minFold = foldBlock

// update returns the raw CRC register (not inverted) after p and then q
// from raw register s: p is folded first if it has foldMin bytes or more
// (foldMin at least foldBlock; only where useFold), and everything else
// goes through the CRC32 instruction.
//
//go:noescape
func update(s uint32, p, q []byte, foldMin int, k *[16]uint64) uint32

// recordScalar returns the raw CRC register after rec[24:] and then
// rec[:20], from the initial register 0xFFFFFFFF, using the CRC32
// instruction only; pad is padStates. len(rec) must be at least 24.
//
//go:noescape
func recordScalar(rec []byte, pad *[8]uint32) uint32
