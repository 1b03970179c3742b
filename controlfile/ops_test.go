package controlfile

import "testing"

func TestTermBump(t *testing.T) {
	t.Parallel()
	st, obs := newTestStore(t) // term 7
	u := func(v uint64) *uint64 { return &v }
	for _, tc := range []struct {
		to        *uint64
		prev, cur uint64
		persisted int
	}{
		{nil, 7, 8, 1},
		{u(5), 8, 8, 1},
		{u(8), 8, 8, 1},
		{u(20), 8, 20, 2},
	} {
		prev, cur, err := st.TermBump(tc.to)
		if err != nil || prev != tc.prev || cur != tc.cur || obs.n != tc.persisted {
			t.Fatalf("bump to %v: %d -> %d (%v), %d persists", tc.to, prev, cur, err, obs.n)
		}
	}
	if onDisk(t, st).Acceptor.Term != 20 {
		t.Fatal("term not on disk")
	}
}

func TestSwitchMembership(t *testing.T) {
	t.Parallel()
	st, obs := newTestStore(t) // generation 3
	lower := Configuration{Generation: 2, Members: MemberSet{{ID: 9}}}
	prev, cur, err := st.SwitchMembership(lower)
	if err != nil || prev.Generation != 3 || cur.Generation != 3 || obs.n != 0 {
		t.Fatalf("lower generation: %+v %+v %v", prev, cur, err)
	}
	higher := Configuration{Generation: 4, Members: MemberSet{{ID: 9, Host: "n", PgPort: 1}}}
	prev, cur, err = st.SwitchMembership(higher)
	if err != nil || prev.Generation != 3 || !cur.Equal(&higher) || obs.n != 1 {
		t.Fatalf("higher generation: %+v %+v %v", prev, cur, err)
	}
	if d := onDisk(t, st); !d.MConf.Equal(&higher) {
		t.Fatalf("on disk: %+v", d.MConf)
	}
}
