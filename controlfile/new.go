package controlfile

import (
	"errors"
	"fmt"
	"time"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
)

// ErrInvalidInitialState is returned by New for creation parameters Neon
// refuses.
var ErrInvalidInitialState = errors.New("invalid initial timeline state")

// New builds the state of a new timeline (TimelinePersistentState::new,
// §3.2): term 0; term history [(0, startLSN)] if commitLSN is set, else
// empty; timeline_start, local_start, backup and peer_horizon LSNs at
// startLSN; remote_consistent_lsn 0; Present; created at now. A timeline
// created by a compute passes an empty mconf and zero LSNs.
func New(ttid ids.TTID, mconf Configuration, server ServerInfo, startLSN, commitLSN pgwal.LSN, now time.Time) (*State, error) {
	switch {
	case server.WalSegSize == 0:
		return nil, fmt.Errorf("%w: timeline %s: wal_seg_size is not initialized", ErrInvalidInitialState, ttid)
	case !pgwal.ValidSegmentSize(uint64(server.WalSegSize)):
		return nil, fmt.Errorf("%w: timeline %s: wal_seg_size %d is not a power of two from 1 MiB to 1 GiB", ErrInvalidInitialState, ttid, server.WalSegSize)
	case server.PGVersion == 0:
		return nil, fmt.Errorf("%w: timeline %s: pg_version is not initialized", ErrInvalidInitialState, ttid)
	case commitLSN < startLSN:
		return nil, fmt.Errorf("%w: commit_lsn %s is smaller than start_lsn %s", ErrInvalidInitialState, commitLSN, startLSN)
	case !startLSN.CanBeRecordBoundary(uint64(server.WalSegSize)):
		// timeline_start_lsn: where the synthetic prefix ends and recovery
		// never decodes below.
		return nil, fmt.Errorf("%w: start_lsn %s is not a record boundary", ErrInvalidInitialState, startLSN)
	case !commitLSN.CanBeRecordBoundary(uint64(server.WalSegSize)):
		// The WAL store recovers from commit_lsn.
		return nil, fmt.Errorf("%w: commit_lsn %s is not a record boundary", ErrInvalidInitialState, commitLSN)
	}
	var th TermHistory
	if commitLSN != pgwal.InvalidLSN {
		th = TermHistory{{Term: 0, LSN: startLSN}}
	}
	return &State{
		TenantID:         ttid.Tenant,
		TimelineID:       ttid.Timeline,
		MConf:            mconf.Clone(),
		Acceptor:         AcceptorState{Term: 0, TermHistory: th},
		Server:           server,
		TimelineStartLSN: startLSN,
		LocalStartLSN:    startLSN,
		CommitLSN:        commitLSN,
		BackupLSN:        startLSN,
		PeerHorizonLSN:   startLSN,
		CreationTS:       now,
	}, nil
}
