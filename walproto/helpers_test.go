package walproto

import (
	"reflect"
	"testing"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
)

func TestMembershipContains(t *testing.T) {
	t.Parallel()
	c := MembershipConfiguration{Generation: 2, Members: []Member{{ID: 1}, {ID: 2}}, NewMembers: []Member{{ID: 3}}}
	for id, want := range map[uint64]bool{1: true, 2: true, 3: true, 4: false, 0: false} {
		if got := c.Contains(idOf(id)); got != want {
			t.Errorf("Contains(%d) = %t", id, got)
		}
	}
	if c.IsJoint() != true || (MembershipConfiguration{NewMembers: []Member{}}).IsJoint() {
		t.Error("IsJoint")
	}
}

func TestTermHistoryUpTo(t *testing.T) {
	t.Parallel()
	h := TermHistory{{1, 10}, {2, 20}, {3, 20}, {4, 30}}
	tests := []struct {
		lsn  uint64
		want TermHistory
	}{
		{0, nil},
		{10, TermHistory{{1, 10}}},
		{25, TermHistory{{1, 10}, {2, 20}, {3, 20}}},
		{30, h},
	}
	for _, tt := range tests {
		if got := h.UpTo(lsnOf(tt.lsn)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("UpTo(%d) = %v, want %v", tt.lsn, got, tt.want)
		}
	}
	got := h.UpTo(100)
	got[0].Term = 99
	if h[0].Term != 1 {
		t.Error("UpTo aliases the history")
	}
}

func idOf(v uint64) ids.NodeID { return ids.NodeID(v) }
func lsnOf(v uint64) pgwal.LSN { return pgwal.LSN(v) }
