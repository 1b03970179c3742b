package pgwal

import (
	"errors"
	"fmt"
)

// Sentinel errors of the WAL decoder. They reach callers wrapped in a
// *DecodeError that carries the LSN; test with errors.Is.
var (
	// ErrBadPageHeader: a page header with invalid flags or of short length.
	ErrBadPageHeader = errors.New("invalid WAL page header")
	// ErrBadMagic: xlp_magic is not XLOG_PAGE_MAGIC of the expected version.
	ErrBadMagic = errors.New("invalid WAL page magic")
	// ErrBadPageAddr: xlp_pageaddr differs from the page's LSN.
	ErrBadPageAddr = errors.New("unexpected WAL page address")
	// ErrBadContRecord: XLP_FIRST_IS_CONTRECORD/xlp_rem_len disagree with
	// whether a record continues onto the page.
	ErrBadContRecord = errors.New("invalid WAL continuation record")
	// ErrBadRecordLength: xl_tot_len is below SizeOfXLogRecord or too large.
	// Zero-filled WAL ends up here.
	ErrBadRecordLength = errors.New("invalid xl_tot_len")
	// ErrBadCRC: the record's CRC32C does not match xl_crc.
	ErrBadCRC = errors.New("WAL record crc mismatch")
	// ErrUnsupportedVersion: the decoder was built for an unknown PostgreSQL
	// version or segment size.
	ErrUnsupportedVersion = errors.New("unsupported WAL version")
	// ErrBadRecord: a record body that DecodeRecord cannot parse.
	ErrBadRecord = errors.New("invalid WAL record body")
)

// DecodeError is a WAL decoding failure at LSN: the page start for page
// header errors, the record start for record errors.
type DecodeError struct {
	LSN LSN
	Err error
}

func (e *DecodeError) Error() string { return fmt.Sprintf("WAL at %s: %v", e.LSN, e.Err) }

// Unwrap returns the underlying (sentinel-wrapping) error.
func (e *DecodeError) Unwrap() error { return e.Err }

func decodeErr(lsn LSN, sentinel error, format string, args ...any) *DecodeError {
	if format == "" {
		return &DecodeError{LSN: lsn, Err: sentinel}
	}
	return &DecodeError{LSN: lsn, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}
