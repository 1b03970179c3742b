package acceptor

import "errors"

// Sentinel errors of the consensus rules. Each is wrapped into a message
// whose text follows the reference safekeeper, because the text ends up in
// the ErrorResponse the walproposer logs; callers match with errors.Is.
var (
	// ErrGenerationMismatch: a message carries a membership generation
	// other than the timeline's.
	ErrGenerationMismatch = errors.New("generation mismatch")
	// ErrServerVersion: the greeting's PostgreSQL major version differs
	// from the stored one, or either is outside PG14–17.
	ErrServerVersion = errors.New("incompatible server version")
	// ErrWrongTimeline: the greeting names another tenant or timeline.
	ErrWrongTimeline = errors.New("wrong tenant or timeline")
	// ErrWalSegSize: the greeting's wal_seg_size differs from the stored one.
	ErrWalSegSize = errors.New("invalid wal_seg_size")
	// ErrNotMember: the greeting asks to switch into a configuration this
	// node is not a member of.
	ErrNotMember = errors.New("not a member")
	// ErrAppendBeforeElected: an AppendRequest carries a term higher than
	// the acceptor's, so no ProposerElected of that term was processed.
	ErrAppendBeforeElected = errors.New("got AppendRequest before ProposerElected")
	// ErrRewrite: an AppendRequest starts below the written end of WAL.
	ErrRewrite = errors.New("rewrites WAL written before")
	// ErrGap: an AppendRequest starts above the written end of WAL.
	ErrGap = errors.New("creates gap in written WAL")
	// ErrBadAppend: an AppendRequest whose bounds and payload disagree or
	// whose payload exceeds MAX_SEND_SIZE.
	ErrBadAppend = errors.New("malformed append request")
	// ErrUnexpectedTruncationPoint: ProposerElected's start_streaming_at is
	// not the common point of the two term histories. Transient: the
	// proposer reconnects and recomputes it.
	ErrUnexpectedTruncationPoint = errors.New("refusing ProposerElected with unexpected truncation point")
	// ErrTruncateCommitted: ProposerElected would truncate committed WAL.
	// Fatal: it means a consensus bug or corrupted state.
	ErrTruncateCommitted = errors.New("attempt to truncate committed data")
	// ErrTermHistory: an empty proposer term history, or two histories
	// that give one term different start LSNs (fatal corruption).
	ErrTermHistory = errors.New("invalid term history")
	// ErrNotRecordBoundary: an LSN that must be a record boundary
	// (start_streaming_at, a term start, commit_lsn) is misaligned or
	// inside a page header.
	ErrNotRecordBoundary = errors.New("not a record boundary")
)

// ErrTimelineNoCreate is what Session.Open returns (wrapped) when the
// timeline does not exist and the proposer did not allow creating it. The
// session then ends without an ErrorResponse (§3.2 step 4).
var ErrTimelineNoCreate = errors.New("timeline does not exist and creation is not allowed")
