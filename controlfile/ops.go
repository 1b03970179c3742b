package controlfile

// Operations Neon keeps on the state itself (state.rs) because they must work
// even when the timeline's WAL is offloaded.

// TermBump raises the term to at least to, or by one when to is nil, and
// persists it if it changed (HTTP term_bump). It returns the terms before
// and after.
func (st *Store) TermBump(to *uint64) (previous, current uint64, err error) {
	previous = st.persisted.Acceptor.Term
	next := previous + 1
	if to != nil {
		next = max(previous, *to)
	}
	if next > previous {
		if err := st.Update(func(s *State) { s.Acceptor.Term = next }); err != nil {
			return previous, previous, err
		}
	}
	return previous, st.persisted.Acceptor.Term, nil
}

// SwitchMembership moves to configuration to if its generation is higher
// than the current one, and persists it; otherwise nothing changes. It
// returns the configurations before and after.
func (st *Store) SwitchMembership(to Configuration) (previous, current Configuration, err error) {
	previous = st.persisted.MConf.Clone()
	if to.Generation > previous.Generation {
		if err := st.Update(func(s *State) { s.MConf = to.Clone() }); err != nil {
			return previous, previous.Clone(), err
		}
	}
	return previous, st.persisted.MConf.Clone(), nil
}
