package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/walkeeper/walkeeper/pgwal"
)

// errStreamEnded is what both stream goroutines return, so that errgroup
// cancels the other one; the real outcome is in outStream.
var errStreamEnded = errors.New("replication stream ended")

// sender is the half that streams WAL (§3.3). It owns pos and buf.
type sender struct {
	cfg    *Config
	slot   *Sender
	out    *outStream
	reader WALReader
	pos    pgwal.LSN // start_pos: the next LSN to send
	buf    []byte    // XLogData header followed by up to MaxSendSize WAL bytes

	// The current read, kept here so that readFn, made once, does not
	// allocate a closure per chunk.
	data   []byte
	n      int
	readFn func() error

	interp *interpState // set for an interpreted stream (§6)
	yield  yielder

	// Set when raw WAL goes out with sendfile (see zeroCopy).
	fileStream FileStream
	files      WALFileReader
}

func (s *sender) run(ctx context.Context) error {
	if m := s.cfg.WALReaders; m != nil {
		g := m.WithLabelValues("future", s.cfg.readerTarget())
		g.Inc()
		defer g.Dec()
	}
	s.buf = make([]byte, XLogDataHeaderSize+pgwal.MaxSendSize)
	s.readFn = s.read
	s.yield = newYielder(s.cfg)
	for {
		end, r := s.waitWAL(ctx)
		if r == nil {
			s.yield.wait(ctx)
			if err := ctx.Err(); err != nil {
				r = internalError(err)
			}
		}
		switch {
		case r != nil:
		case s.interp != nil:
			r = s.sendInterpreted(end)
		default:
			r = s.sendChunk(end)
		}
		if r != nil {
			return s.stop(ctx, *r)
		}
	}
}

// stop ends the stream with r unless the context is already done (the
// timeline was cancelled or the reply reader ended the stream first).
func (s *sender) stop(ctx context.Context, r endReason) error {
	if ctx.Err() == nil {
		s.out.finish(r)
	}
	return errStreamEnded
}

func internalError(err error) *endReason {
	return &endReason{kind: endError, sqlstate: SQLStateInternal, msg: err.Error(), err: err}
}

// waitWAL returns an end of WAL beyond pos, sending a keepalive after each
// idle period and applying the stop rule in Commit mode (§3.3 step 1).
func (s *sender) waitWAL(ctx context.Context) (pgwal.LSN, *endReason) {
	for {
		end, _, _ := s.cfg.end()
		if end > s.pos {
			return end, nil
		}
		s.yield.caughtUp()
		end, ok, err := s.waitForLSN(ctx)
		if err != nil {
			return 0, internalError(err)
		}
		if ok {
			return end, nil
		}
		if r := s.checkStop(); r != nil {
			return 0, r
		}
		k := AppendKeepalive(s.buf[:0], Keepalive{WALEnd: end, SendTime: PGTimestamp(s.cfg.Now()), ReplyRequested: true})
		if err := s.out.send(k); err != nil {
			return 0, &endReason{kind: endSilent, err: err}
		}
	}
}

// waitForLSN waits up to the idle timeout for the end watch to pass pos.
// It returns the end and whether it passed; in Flush mode it fails as soon
// as last_log_term differs from the client's term (§3.5).
func (s *sender) waitForLSN(ctx context.Context) (pgwal.LSN, bool, error) {
	timer := time.NewTimer(s.cfg.IdleTimeout)
	defer timer.Stop()
	for {
		end, term, changed := s.cfg.end()
		if end > s.pos {
			return end, true, nil
		}
		if s.cfg.Command.Mode() == ModeFlush && term != s.cfg.Command.Term {
			return 0, false, &TermError{Requested: s.cfg.Command.Term, Current: term}
		}
		select {
		case <-changed:
		case <-timer.C:
			return end, false, nil
		case <-ctx.Done():
			return 0, false, ctx.Err()
		}
	}
}

// checkStop applies §5.2 after an idle wait in Commit mode. Only a slot
// whose feedback is pageserver-type (or still empty) can stop.
func (s *sender) checkStop() *endReason {
	if s.cfg.Command.Mode() != ModeCommit && s.interp == nil {
		return nil // interpreted streams check on every idle tick, any mode (§2.4)
	}
	rcl, ok := s.slot.RemoteConsistentLSN()
	if !ok || !ShouldStop(s.cfg.Computes(), s.cfg.CommitLSN.Get(), rcl) {
		return nil
	}
	// The pageserver looks for "ending streaming" to treat this as a
	// normal completion. The receiver is shown as Rust's Debug of
	// Option<String>, as Neon prints it.
	who := "None"
	if s.cfg.Info.AppName != "" {
		who = fmt.Sprintf("Some(%q)", s.cfg.Info.AppName)
	}
	return &endReason{kind: endError, sqlstate: SQLStateSuccess,
		msg: fmt.Sprintf("ending streaming to %s at %s, receiver is caughtup and there is no computes", who, s.pos)}
}

// chunkEnd is where the next XLogData stops (§3.3 step 2): at most
// MaxSendSize bytes, rounded down to a page boundary unless it reaches end,
// and never past the end of pos's segment.
func chunkEnd(pos, end pgwal.LSN, segSize uint64) pgwal.LSN {
	ce := pos + pgwal.MaxSendSize
	if ce >= end {
		ce = end
	} else {
		ce -= ce % pgwal.XLogBlockSize
	}
	if segEnd := pgwal.LSN((uint64(pos)/segSize + 1) * segSize); ce > segEnd {
		ce = segEnd
	}
	return ce
}

// read fills s.data from s.pos; a short read ending in io.EOF counts.
func (s *sender) read() error {
	var err error
	s.n, err = s.reader.ReadAt(s.data, s.pos)
	if errors.Is(err, io.EOF) && s.n > 0 {
		err = nil
	}
	return err
}

// sendChunk reads and sends one XLogData (§3.3 steps 2–4).
func (s *sender) sendChunk(end pgwal.LSN) *endReason {
	if s.files != nil {
		if r, sent := s.sendFileChunk(end); sent {
			return r
		}
	}
	n, r := s.readChunk(end)
	if r != nil {
		return r
	}
	putXLogDataHeader(s.buf, XLogDataHeader{WALStart: s.pos, WALEnd: end, SendTime: PGTimestamp(s.cfg.Now())})
	if err := s.out.send(s.buf[:XLogDataHeaderSize+n]); err != nil {
		return &endReason{kind: endSilent, err: err}
	}
	s.pos += pgwal.LSN(n)
	return nil
}

// readChunk reads the next chunk (§3.3 step 2, with the term check of
// Flush mode) into s.data, which starts XLogDataHeaderSize bytes into
// s.buf, and returns its length. It does not advance pos.
func (s *sender) readChunk(end pgwal.LSN) (int, *endReason) {
	s.data = s.buf[XLogDataHeaderSize : XLogDataHeaderSize+int(chunkEnd(s.pos, end, s.cfg.SegmentSize)-s.pos)]
	s.n = 0
	var err error
	if s.cfg.Command.Mode() == ModeFlush {
		err = s.cfg.WithTerm(s.cfg.Command.Term, s.readFn)
	} else {
		err = s.read()
	}
	n := s.n
	switch {
	case err != nil:
		return 0, internalError(err)
	case n <= 0 || n > len(s.data):
		return 0, internalError(fmt.Errorf("WAL reader returned %d bytes at %s for a read of %d", n, s.pos, len(s.data)))
	}
	return n, nil
}
