package interpreted

import (
	"encoding/binary"
	"fmt"

	"github.com/walkeeper/walkeeper/interpreted/shard"
	"github.com/walkeeper/walkeeper/pgwal"
)

// HeapLayout selects how PostgreSQL 14 and 15 heap records are laid out.
// Neon's patched 14/15 servers add t_cid to xl_heap_delete, xl_heap_update
// and xl_heap_lock, which moves the flags byte of DELETE and LOCK; upstream
// PostgreSQL does not. PostgreSQL 16 and 17 are unaffected (Neon logs its
// variants under RM_NEON_ID there). The setting is per timeline: it must
// match the server that wrote the WAL.
type HeapLayout uint8

const (
	// HeapLayoutNeon is Neon's compute (the reference's only layout).
	HeapLayoutNeon HeapLayout = iota
	// HeapLayoutVanilla is upstream PostgreSQL 14/15.
	HeapLayoutVanilla
)

func (l HeapLayout) String() string {
	if l == HeapLayoutVanilla {
		return "vanilla"
	}
	return "neon"
}

// ParseHeapLayout accepts "neon" and "vanilla".
func ParseHeapLayout(s string) (HeapLayout, error) {
	switch s {
	case "neon":
		return HeapLayoutNeon, nil
	case "vanilla":
		return HeapLayoutVanilla, nil
	}
	return 0, fmt.Errorf("heap layout %q: want neon or vanilla", s)
}

// HEAP / HEAP2 / NEON record kinds (xl_info & XLOG_HEAP_OPMASK), from
// access/heapam_xlog.h and Neon's neon_xlog.h.
const (
	heapOpMask          uint8 = 0x70
	heapInitPage        uint8 = 0x80
	heapInsert          uint8 = 0x00
	heapDelete          uint8 = 0x10
	heapUpdate          uint8 = 0x20
	heapHotUpdate       uint8 = 0x40
	heapLock            uint8 = 0x60
	heap2MultiInsert    uint8 = 0x50
	heap2LockUpdated    uint8 = 0x60
	neonHeapInsert      uint8 = 0x00
	neonHeapDelete      uint8 = 0x10
	neonHeapUpdate      uint8 = 0x20
	neonHeapHotUpdate   uint8 = 0x30
	neonHeapLock        uint8 = 0x40
	neonHeapMultiInsert uint8 = 0x50
)

// vmEffect says what a set "all visible/frozen cleared" bit means.
type vmEffect uint8

const (
	vmNone       vmEffect = iota
	vmNewFirst            // flag 0x01 → new = blocks[0] (INSERT, DELETE, MULTI_INSERT)
	vmUpdate              // 0x01 → old = last block, 0x02 → new = blocks[0]
	vmLockFrozen          // 0x01 → old = blocks[0], VM flags ALL_FROZEN
)

// heapShape is one heap record's main-data layout as the reference reads
// it: the struct size it decodes, the flags offset, whether the size must
// be exact, and for MULTI_INSERT that 2×ntuples offsets follow.
type heapShape struct {
	size, flagsOff int
	exact, multi   bool
	effect         vmEffect
}

// heapShapeFor returns the shape of a HEAP/HEAP2 record, or effect vmNone
// for records that never clear VM bits.
func heapShapeFor(rmid, op uint8, major uint32, layout HeapLayout) heapShape {
	neon := major <= 15 && layout == HeapLayoutNeon
	if rmid == pgwal.RMHeap2ID {
		switch op {
		case heap2MultiInsert:
			return heapShape{size: 4, flagsOff: 0, multi: true, effect: vmNewFirst}
		case heap2LockUpdated:
			return heapShape{size: 8, flagsOff: 7, effect: vmLockFrozen}
		}
		return heapShape{}
	}
	switch op {
	case heapInsert:
		return heapShape{size: 3, flagsOff: 2, exact: true, effect: vmNewFirst}
	case heapDelete:
		if neon { // xl_heap_delete with _padding and t_cid before infobits_set
			return heapShape{size: 14, flagsOff: 13, effect: vmNewFirst}
		}
		return heapShape{size: 8, flagsOff: 7, effect: vmNewFirst}
	case heapUpdate, heapHotUpdate:
		if neon { // t_cid after flags
			return heapShape{size: 18, flagsOff: 7, effect: vmUpdate}
		}
		return heapShape{size: 14, flagsOff: 7, effect: vmUpdate}
	case heapLock:
		if neon {
			return heapShape{size: 14, flagsOff: 13, effect: vmLockFrozen}
		}
		return heapShape{size: 8, flagsOff: 7, effect: vmLockFrozen}
	}
	return heapShape{}
}

// neonShapeFor returns the shape of an RM_NEON record (PostgreSQL 16+).
func neonShapeFor(op uint8) (heapShape, bool) {
	switch op {
	case neonHeapInsert:
		return heapShape{size: 3, flagsOff: 2, exact: true, effect: vmNewFirst}, true
	case neonHeapDelete:
		return heapShape{size: 12, flagsOff: 7, effect: vmNewFirst}, true
	case neonHeapUpdate, neonHeapHotUpdate:
		return heapShape{size: 18, flagsOff: 7, effect: vmUpdate}, true
	case neonHeapLock:
		return heapShape{size: 12, flagsOff: 11, effect: vmLockFrozen}, true
	case neonHeapMultiInsert:
		return heapShape{size: 8, flagsOff: 0, multi: true, effect: vmNewFirst}, true
	}
	return heapShape{}, false
}

// heapRecord interprets HEAP, HEAP2 and NEON records: the VM bits they
// clear implicitly (spec §6.9).
func (in *Interpreter) heapRecord() (MetadataRecord, error) {
	d := &in.dec
	op := d.Header.Info & heapOpMask
	var sh heapShape
	if d.Header.RMID == pgwal.RMNeonID {
		if in.major < 16 {
			return nil, fmt.Errorf("%w: NEON rmgr record in PostgreSQL %d WAL", ErrBadWAL, in.major)
		}
		var ok bool
		if sh, ok = neonShapeFor(op); !ok {
			return nil, fmt.Errorf("%w: unknown NEON rmgr record %#x", ErrBadWAL, op)
		}
	} else {
		sh = heapShapeFor(d.Header.RMID, op, in.major, in.layout)
	}
	if sh.effect == vmNone {
		return nil, nil
	}
	main := d.MainData
	if len(main) < sh.size || (sh.exact && len(main) != sh.size) {
		return nil, fmt.Errorf("%w: rmgr %d record %#x with %d bytes of main data, want %d (heap layout %s)",
			ErrBadWAL, d.Header.RMID, op, len(main), sh.size, in.layout)
	}
	if sh.multi {
		want := 2 * int(binary.LittleEndian.Uint16(main[2:]))
		if d.Header.Info&heapInitPage != 0 {
			want = 0
		}
		if len(main)-sh.size != want {
			return nil, fmt.Errorf("%w: multi-insert with %d offset bytes, want %d", ErrBadWAL, len(main)-sh.size, want)
		}
	}
	flags := main[sh.flagsOff]
	// A value until it is returned: most records clear nothing, and
	// they should not allocate.
	m := ClearVMBits{Neon: d.Header.RMID == pgwal.RMNeonID, Flags: VMValidBits}
	switch sh.effect {
	case vmNewFirst:
		if flags&0x01 != 0 {
			m.NewHeapBlkno = Some(uint32(0))
		}
	case vmUpdate:
		if flags&0x01 != 0 {
			m.OldHeapBlkno = Some(uint32(0))
		}
		if flags&0x02 != 0 {
			m.NewHeapBlkno = Some(uint32(0))
		}
	case vmLockFrozen:
		if flags&0x01 != 0 {
			m.OldHeapBlkno, m.Flags = Some(uint32(0)), VMAllFrozen
		}
	}
	if !m.NewHeapBlkno.Valid && !m.OldHeapBlkno.Valid {
		return nil, nil
	}
	if len(d.Blocks) == 0 {
		return nil, fmt.Errorf("%w: heap record %#x clears VM bits but has no block", ErrBadWAL, op)
	}
	first, last := &d.Blocks[0], &d.Blocks[len(d.Blocks)-1]
	if m.NewHeapBlkno.Valid {
		m.NewHeapBlkno.Value = first.BlkNo
	}
	if m.OldHeapBlkno.Valid {
		m.OldHeapBlkno.Value = first.BlkNo
		if sh.effect == vmUpdate {
			m.OldHeapBlkno.Value = last.BlkNo
		}
	}
	m.VMRel = RelTag{ForkNum: shard.VisibilityMapFork, SpcNode: first.Rel.SpcNode, DBNode: first.Rel.DBNode, RelNode: first.Rel.RelNode}
	out := new(ClearVMBits)
	*out = m
	return out, nil
}

// forShard returns the copy of m that shard s receives: heap block numbers
// whose VM page is not local to s become None, and nil if none is left.
func (m *ClearVMBits) forShard(s shard.Identity) *ClearVMBits {
	local := func(o Option[uint32]) Option[uint32] {
		if o.Valid && s.IsKeyLocal(shard.RelBlockKey(m.VMRel.SpcNode, m.VMRel.DBNode, m.VMRel.RelNode,
			m.VMRel.ForkNum, o.Value/heapBlocksPerVMPage)) {
			return o
		}
		return Option[uint32]{}
	}
	n, o := local(m.NewHeapBlkno), local(m.OldHeapBlkno)
	switch {
	case !n.Valid && !o.Valid:
		return nil
	case n == m.NewHeapBlkno && o == m.OldHeapBlkno:
		return m
	}
	c := *m
	c.NewHeapBlkno, c.OldHeapBlkno = n, o
	return &c
}
