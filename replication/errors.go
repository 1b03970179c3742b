package replication

import (
	"errors"
	"fmt"
)

// ErrTermChanged matches every TermError.
var ErrTermChanged = errors.New("replication: term changed")

// TermError ends a Flush-mode stream (§3.5). Its text is Neon's exactly.
type TermError struct {
	Requested uint64 // the client's term
	Current   uint64 // last_log_term while waiting, or the acceptor's term around a read
	// Acquire is true for the check around a read ("failed to acquire
	// term"), false for the check while waiting ("term changed").
	Acquire bool
}

func (e *TermError) Error() string {
	if e.Acquire {
		return fmt.Sprintf("failed to acquire term %d, current term %d", e.Requested, e.Current)
	}
	return fmt.Sprintf("term changed: requested %d, now %d", e.Requested, e.Current)
}

// Is makes errors.Is(err, ErrTermChanged) true.
func (e *TermError) Is(target error) bool { return target == ErrTermChanged }
