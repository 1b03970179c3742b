package walstore

import (
	"errors"
	"fmt"

	"github.com/walkeeper/walkeeper/pgwal"
)

var (
	// ErrGap is returned by Write when the data does not start at the
	// current write position: it would leave a hole in the WAL.
	ErrGap = errors.New("write would create a gap in WAL")
	// ErrRewrite is returned by Write when the data starts before the
	// current write position (a reconnecting proposer's stale packets).
	ErrRewrite = errors.New("write would rewrite WAL written before")
	// ErrTruncationPending is returned by Write until a Truncate succeeds
	// after Open or after a failed truncation.
	ErrTruncationPending = errors.New("WAL truncation pending, writes refused")
	// ErrCorrupt reports WAL that fails validation where valid WAL follows,
	// which a torn write cannot explain. Errors wrapping it carry the LSN.
	ErrCorrupt = errors.New("WAL corrupt")
	// ErrNotFound is returned by Reader.ReadAt when the segment holding the
	// LSN is not on local disk (removed, or before local_start_lsn).
	ErrNotFound = errors.New("WAL segment is not found")
	// ErrBeforeStart is returned by Reader.ReadAt for LSNs before the
	// segment that holds timeline_start_lsn.
	ErrBeforeStart = errors.New("LSN is before the start of the timeline")
	// ErrClosed is returned by methods of a closed Store.
	ErrClosed = errors.New("WAL store closed")
	// ErrBadTruncation is returned by Truncate for a position beyond the
	// written records.
	ErrBadTruncation = errors.New("truncation point beyond written WAL")
)

// CorruptError is the typed form of ErrCorrupt: the LSN of the first byte
// that does not decode, the segment file and why.
type CorruptError struct {
	LSN    pgwal.LSN
	Path   string
	Reason error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("WAL corrupt at %s in %s: %v (valid WAL follows, not a torn tail)", e.LSN, e.Path, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the decoder's error.
func (e *CorruptError) Unwrap() error { return e.Reason }
