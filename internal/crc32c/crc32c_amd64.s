#include "textflag.h"

// UNPAD(n) multiplies the CRC register in AX by unpad[n] mod P (DI points
// at unpad): the carry-less product of the two, reduced by the CRC32
// instruction from a zero register. Clobbers X9, X10 and R8.
#define UNPAD(n) \
	VMOVQ      (DI)(n*8), X9; \
	VMOVQ      AX, X10; \
	VPCLMULQDQ $0x00, X9, X10, X10; \
	VMOVQ      X10, R8; \
	XORL       AX, AX; \
	CRC32Q     R8, AX

// func update(s uint32, p, q []byte, foldMin int, k *[16]uint64) uint32
//
// Returns the raw CRC register after p and then q from raw register s.
// Inputs p shorter than foldMin go straight to the CRC32 instruction
// (scalar, below); longer ones (foldMin is at least 256) are folded first.
//
// Folding reads only whole, aligned 64-byte lines: a WAL record's body is
// rarely 64-byte aligned, and loads that straddle two lines cost a
// quarter of the throughput. So it folds lead zero bytes, p, and pad zero
// bytes: lead = p's distance past the line start below it, pad up to a
// whole number of 256-byte blocks. The first and the last line are read
// with byte masks (masked bytes read as zeros, and cannot fault). The
// zeros in front are made harmless by starting from the register that
// lead zero bytes take to s, s·x^(-8·lead); those behind are taken off the
// result by multiplying it by x^(-8·pad). unpad holds both multipliers;
// a carry-less product with one, reduced by the CRC32 instruction from a
// zero register, is the multiplication mod P.
//
// Z0..Z3 hold the first 256 bytes (sixteen 128-bit lanes) with the
// starting register xored into the first four; each step multiplies every
// lane's halves by k[0] and k[1] (2048 bits forward) and xors in the next
// 256 bytes. Then Z0, Z1 and Z2 are folded into Z3 (192, 128 and 64 bytes
// forward: k[12:14], k[14:16], k[2:4]), lanes 0..2 of Z3 into lane 3 (48,
// 32 and 16 bytes forward, k[4:12]), and the CRC32 instruction takes the
// lane's 16 bytes from a zero register. q follows through the CRC32
// instruction.
TEXT ·update(SB), NOSPLIT, $0-76
	MOVL s+0(FP), AX
	MOVQ p_base+8(FP), SI
	MOVQ p_len+16(FP), CX
	MOVQ q_base+32(FP), R10
	MOVQ q_len+40(FP), R11
	CMPQ CX, foldMin+56(FP)
	JB   scalar
	MOVQ k+64(FP), DX
	LEAQ ·unpad(SB), DI

	// Start lead bytes early, at the line p starts in, from s·x^(-8·lead).
	MOVQ SI, BX
	ANDQ $63, BX            // lead
	SUBQ BX, SI
	ADDQ BX, CX
	UNPAD(BX)
	MOVQ   $-1, R12
	SHLXQ  BX, R12, R13     // the first line's bytes from lead on
	KMOVQ  R13, K1
	MOVQ   CX, R9
	NEGQ   R9
	ANDQ   $255, R9         // pad

	VMOVDQU8.Z 0(SI), K1, Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	VMOVD     AX, X5          // zero-extends to all 512 bits
	VPXORQ    Z5, Z0, Z0
	ADDQ      $256, SI
	SUBQ      $256, CX
	VBROADCASTI32X4 0(DX), Z4

loop256:
	CMPQ CX, $256
	JB   last
	VMOVDQU64 0(SI), Z9
	VMOVDQU64 64(SI), Z10
	VMOVDQU64 128(SI), Z11
	VMOVDQU64 192(SI), Z12

step:
	// Every lane 256 bytes forward, plus the next block (Z9..Z12).
	VPCLMULQDQ $0x00, Z4, Z0, Z5
	VPCLMULQDQ $0x11, Z4, Z0, Z0
	VPCLMULQDQ $0x00, Z4, Z1, Z6
	VPCLMULQDQ $0x11, Z4, Z1, Z1
	VPCLMULQDQ $0x00, Z4, Z2, Z7
	VPCLMULQDQ $0x11, Z4, Z2, Z2
	VPCLMULQDQ $0x00, Z4, Z3, Z8
	VPCLMULQDQ $0x11, Z4, Z3, Z3
	VPTERNLOGD $0x96, Z9, Z5, Z0
	VPTERNLOGD $0x96, Z10, Z6, Z1
	VPTERNLOGD $0x96, Z11, Z7, Z2
	VPTERNLOGD $0x96, Z12, Z8, Z3
	ADDQ $256, SI
	SUBQ $256, CX
	JMP  loop256

last:
	// CX (0..255) bytes are left: one more step, on them and the padding
	// (CX becomes 256 so that the step leaves 0). Register j's mask keeps
	// its first clamp(CX-64j, 0, 64) bytes (BZHI keeps them all from 64
	// up).
	TESTQ CX, CX
	JZ    reduce4
	XORL  BX, BX
	MOVQ  CX, R13
	BZHIQ R13, R12, R8
	KMOVQ R8, K1
	SUBQ  $64, R13
	CMOVQLT BX, R13
	BZHIQ R13, R12, R8
	KMOVQ R8, K2
	SUBQ  $64, R13
	CMOVQLT BX, R13
	BZHIQ R13, R12, R8
	KMOVQ R8, K3
	SUBQ  $64, R13
	CMOVQLT BX, R13
	BZHIQ R13, R12, R8
	KMOVQ R8, K4
	VMOVDQU8.Z 0(SI), K1, Z9
	VMOVDQU8.Z 64(SI), K2, Z10
	VMOVDQU8.Z 128(SI), K3, Z11
	VMOVDQU8.Z 192(SI), K4, Z12
	MOVQ $256, CX
	JMP  step

reduce4:
	// Z0, Z1 and Z2 move 192, 128 and 64 bytes forward at once, onto Z3.
	VBROADCASTI32X4 96(DX), Z9
	VBROADCASTI32X4 112(DX), Z10
	VBROADCASTI32X4 16(DX), Z4
	VPCLMULQDQ $0x00, Z9, Z0, Z5
	VPCLMULQDQ $0x11, Z9, Z0, Z0
	VPCLMULQDQ $0x00, Z10, Z1, Z6
	VPCLMULQDQ $0x11, Z10, Z1, Z1
	VPCLMULQDQ $0x00, Z4, Z2, Z7
	VPCLMULQDQ $0x11, Z4, Z2, Z2
	VPTERNLOGD $0x96, Z5, Z0, Z3
	VPTERNLOGD $0x96, Z6, Z1, Z3
	VPTERNLOGD $0x96, Z7, Z2, Z3

	// Lanes 0..2 move to lane 3's position and are added to it.
	VMOVDQU64  32(DX), Z4
	VPCLMULQDQ $0x00, Z4, Z3, Z5
	VPCLMULQDQ $0x11, Z4, Z3, Z6
	VPXORQ     Z6, Z5, Z5
	VEXTRACTI32X4 $1, Z5, X6
	VEXTRACTI32X4 $2, Z5, X7
	VEXTRACTI32X4 $3, Z3, X8
	VPXOR X5, X6, X6
	VPXOR X7, X8, X8
	VPXOR X6, X8, X8

	// The register after p and the padding, then the padding taken off.
	VMOVQ   X8, BX
	VPEXTRQ $1, X8, R8
	XORL   AX, AX
	CRC32Q BX, AX
	CRC32Q R8, AX
	UNPAD(R9)
	VZEROUPPER

	// Then q.
	XORQ CX, CX
	JMP  next

// scalar: CX bytes at SI, then R11 bytes at R10, into AX: 8 bytes a step,
// then 4, 2 and 1 (at most one each, so the last bytes of an input cost
// three steps, not seven).
scalar:
	SUBQ $8, CX
	JB   scalar8done

scalar8:
	CRC32Q 0(SI), AX
	ADDQ   $8, SI
	SUBQ   $8, CX
	JAE    scalar8

scalar8done:
	ADDQ $8, CX

scalar4:
	TESTQ  $4, CX
	JZ     scalar2
	CRC32L 0(SI), AX
	ADDQ   $4, SI

scalar2:
	TESTQ  $2, CX
	JZ     scalar1
	CRC32W 0(SI), AX
	ADDQ   $2, SI

scalar1:
	TESTQ  $1, CX
	JZ     next
	CRC32B 0(SI), AX

next:
	TESTQ R11, R11
	JZ    done
	MOVQ  R10, SI
	MOVQ  R11, CX
	XORQ  R11, R11
	JMP   scalar

done:
	MOVL AX, ret+72(FP)
	RET

// func recordScalar(rec []byte, pad *[8]uint32) uint32
//
// The body rec[24:] has n bytes. With k = -n mod 8, the 8-byte word at
// rec+24-k (its first k bytes are the header's last k) is masked to keep
// only the body's bytes and fed from register pad[k], as if the body
// started with k zero bytes (see padStates); then the body's remaining
// whole words, and the header's 20 bytes in three fixed steps. The loop is
// the only branch that depends on n.
TEXT ·recordScalar(SB), NOSPLIT, $0-36
	MOVQ rec_base+0(FP), SI
	MOVQ rec_len+8(FP), R10
	MOVQ pad+24(FP), DX
	SUBQ $24, R10           // n
	MOVQ R10, BX
	NEGQ BX
	ANDQ $7, BX             // k
	MOVL (DX)(BX*4), AX     // register pad[k]
	LEAQ 24(SI), DI
	SUBQ BX, DI             // the first word: rec+24-k
	ADDQ BX, R10            // n+k bytes, whole words
	JZ   rheader
	MOVQ BX, CX
	SHLQ $3, CX
	MOVQ $-1, R9
	SHLQ CL, R9             // zero the word's first k bytes
	ANDQ (DI), R9
	CRC32Q R9, AX
	ADDQ $8, DI
	SUBQ $8, R10
	JZ   rheader

rwords:
	CRC32Q (DI), AX
	ADDQ   $8, DI
	SUBQ   $8, R10
	JNZ    rwords

rheader:
	CRC32Q 0(SI), AX
	CRC32Q 8(SI), AX
	CRC32L 16(SI), AX
	MOVL   AX, ret+32(FP)
	RET
