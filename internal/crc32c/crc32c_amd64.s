#include "textflag.h"

// func update(s uint32, p, q []byte, foldMin int, k *[16]uint64) uint32
//
// Returns the raw CRC register after p and then q from raw register s.
// Inputs p shorter than foldMin go straight to the CRC32 instruction
// (scalar, below); longer ones (foldMin is at least 256) are folded first.
//
// Folding: Z0..Z3 hold 256 bytes (sixteen 128-bit lanes) with s xored into
// the first four; each step multiplies every lane's halves by k[0] and
// k[1] (2048 bits forward) and xors in the next 256 bytes. Then Z0, Z1 and
// Z2 are folded into Z3 (192, 128 and 64 bytes forward: k[12:14],
// k[14:16], k[2:4]), further 64-byte blocks are folded into Z3, lanes 0..2
// of Z3 go into lane 3 (48, 32 and 16 bytes forward, k[4:12]), further
// 16-byte blocks are folded into that lane (k[8:10]), and the CRC32
// instruction goes on from a zero register with the lane's 16 bytes, the
// last 0..15 bytes of p, and q.
TEXT ·update(SB), NOSPLIT, $0-76
	MOVL s+0(FP), AX
	MOVQ p_base+8(FP), SI
	MOVQ p_len+16(FP), CX
	MOVQ q_base+32(FP), R10
	MOVQ q_len+40(FP), R11
	CMPQ CX, foldMin+56(FP)
	JB   scalar
	MOVQ k+64(FP), DX

	VMOVDQU64 0(SI), Z0
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
	JB   reduce4
	VPCLMULQDQ $0x00, Z4, Z0, Z5
	VPCLMULQDQ $0x11, Z4, Z0, Z0
	VPCLMULQDQ $0x00, Z4, Z1, Z6
	VPCLMULQDQ $0x11, Z4, Z1, Z1
	VPCLMULQDQ $0x00, Z4, Z2, Z7
	VPCLMULQDQ $0x11, Z4, Z2, Z2
	VPCLMULQDQ $0x00, Z4, Z3, Z8
	VPCLMULQDQ $0x11, Z4, Z3, Z3
	VPTERNLOGD $0x96, 0(SI), Z5, Z0
	VPTERNLOGD $0x96, 64(SI), Z6, Z1
	VPTERNLOGD $0x96, 128(SI), Z7, Z2
	VPTERNLOGD $0x96, 192(SI), Z8, Z3
	ADDQ $256, SI
	SUBQ $256, CX
	JMP  loop256

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

loop64:
	CMPQ CX, $64
	JB   lanes
	VPCLMULQDQ $0x00, Z4, Z3, Z5
	VPCLMULQDQ $0x11, Z4, Z3, Z3
	VPTERNLOGD $0x96, 0(SI), Z5, Z3
	ADDQ $64, SI
	SUBQ $64, CX
	JMP  loop64

lanes:
	VMOVDQU64  32(DX), Z4
	VPCLMULQDQ $0x00, Z4, Z3, Z5
	VPCLMULQDQ $0x11, Z4, Z3, Z6
	VPXORQ     Z6, Z5, Z5     // lanes 0..2 moved to lane 3's position
	VEXTRACTI32X4 $1, Z5, X6
	VEXTRACTI32X4 $2, Z5, X7
	VEXTRACTI32X4 $3, Z3, X8
	VPXOR X5, X6, X6
	VPXOR X7, X8, X8
	VPXOR X6, X8, X8
	VMOVDQU 64(DX), X4

loop16:
	CMPQ CX, $16
	JB   finish
	VPCLMULQDQ $0x00, X4, X8, X5
	VPCLMULQDQ $0x11, X4, X8, X8
	VPXOR X5, X8, X8
	VPXOR 0(SI), X8, X8
	ADDQ $16, SI
	SUBQ $16, CX
	JMP  loop16

finish:
	VMOVQ   X8, BX
	VPEXTRQ $1, X8, R8
	VZEROUPPER
	XORL   AX, AX
	CRC32Q BX, AX
	CRC32Q R8, AX

	// The rest of p (0..15 bytes), then q.
	JMP scalar

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
