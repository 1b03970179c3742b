package pgwire

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walkeeper/walkeeper/pgwal"
)

// SQLSTATE codes walkeeper sends.
const (
	SQLStateInternalError = "XX000"
	SQLStateAdminShutdown = "57P01"
	SQLStateConnFailure   = "08006"
	SQLStateSuccess       = "00000"
)

// Message texts fixed by the spec (walproposer-protocol §1.3, §1.4).
const (
	MsgJWTError         = "JWT authentication error"
	MsgTenantRequired   = "tenantid is required"
	MsgTimelineRequired = "timelineid is required"
)

// Type OIDs used in RowDescriptions.
const (
	oidText = 25
	oidInt4 = 23
)

// encoder is any backend message; pgproto3's messages satisfy it.
type encoder interface {
	Encode(dst []byte) ([]byte, error)
}

// errorResponse is the safekeeper's ErrorResponse: S, C and M fields only
// (no V), always with an M field even when empty.
type errorResponse struct {
	code, msg string
}

// Encode implements encoder.
func (e errorResponse) Encode(dst []byte) ([]byte, error) {
	return AppendErrorResponse(dst, e.code, e.msg), nil
}

// AppendErrorResponse appends 'E', length, S "ERROR", C code, M msg and the
// terminating zero.
func AppendErrorResponse(dst []byte, code, msg string) []byte {
	start := len(dst)
	dst = append(dst, 'E', 0, 0, 0, 0)
	dst = append(dst, 'S')
	dst = append(dst, "ERROR\x00"...)
	dst = append(dst, 'C')
	dst = append(dst, code...)
	dst = append(dst, 0, 'M')
	dst = append(dst, msg...)
	dst = append(dst, 0, 0)
	binary.BigEndian.PutUint32(dst[start+1:], uint32(len(dst)-start-1))
	return dst
}

// IdentifySystemRow is IDENTIFY_SYSTEM's answer; the timeline column is
// always 1 and dbname is NULL.
type IdentifySystemRow struct {
	SystemID uint64
	XLogPos  pgwal.LSN
}

// TimelineStatusRow is TIMELINE_STATUS's answer for an existing timeline.
type TimelineStatusRow struct {
	FlushLSN  pgwal.LSN
	CommitLSN pgwal.LSN
}

func textField(name string) pgproto3.FieldDescription {
	return pgproto3.FieldDescription{Name: []byte(name), DataTypeOID: oidText, DataTypeSize: -1, TypeModifier: -1}
}

// identifySystemMessages is RowDescription, DataRow, CommandComplete.
func identifySystemMessages(row IdentifySystemRow) []encoder {
	return []encoder{
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
			textField("systemid"),
			{Name: []byte("timeline"), DataTypeOID: oidInt4, DataTypeSize: 4, TypeModifier: -1},
			textField("xlogpos"),
			textField("dbname"),
		}},
		&pgproto3.DataRow{Values: [][]byte{
			[]byte(strconv.FormatUint(row.SystemID, 10)),
			[]byte("1"),
			[]byte(row.XLogPos.String()),
			nil,
		}},
		&pgproto3.CommandComplete{CommandTag: []byte("IDENTIFY_SYSTEM")},
	}
}

// timelineStatusMessages is RowDescription, a DataRow only when row is not
// nil, and CommandComplete.
func timelineStatusMessages(row *TimelineStatusRow) []encoder {
	msgs := []encoder{&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
		textField("flush_lsn"), textField("commit_lsn"),
	}}}
	if row != nil {
		msgs = append(msgs, &pgproto3.DataRow{Values: [][]byte{
			[]byte(row.FlushLSN.String()), []byte(row.CommitLSN.String()),
		}})
	}
	return append(msgs, &pgproto3.CommandComplete{CommandTag: []byte("TIMELINE_STATUS")})
}

// showMessages answers SHOW name with one text column named name, as
// PostgreSQL's walsender does.
func showMessages(name, value string) []encoder {
	return []encoder{
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{textField(name)}},
		&pgproto3.DataRow{Values: [][]byte{[]byte(value)}},
		&pgproto3.CommandComplete{CommandTag: []byte("SHOW")},
	}
}

// FormatBytesGUC formats a byte count as PostgreSQL shows a GUC_UNIT_BYTE
// setting: in the largest unit that divides it exactly ("16MB", "8192").
func FormatBytesGUC(n uint64) string {
	units := []struct {
		name string
		size uint64
	}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"kB", 1 << 10}}
	for _, u := range units {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatUint(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatUint(n, 10) + "B"
}

// FormatFileMode formats permission bits as data_directory_mode ("0700").
func FormatFileMode(m os.FileMode) string {
	return fmt.Sprintf("%04o", uint32(m.Perm()))
}

// Startup sequences (walproposer-protocol §1.3).
var (
	readyForQuery = &pgproto3.ReadyForQuery{TxStatus: 'I'}
	clientEnc     = &pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"}
)

// trustStartupMessages follow a StartupMessage when auth is disabled.
func trustStartupMessages() []encoder {
	return []encoder{
		&pgproto3.AuthenticationOk{},
		clientEnc,
		&pgproto3.ParameterStatus{Name: "integer_datetimes", Value: "on"},
		&pgproto3.ParameterStatus{Name: "server_version", Value: "14.1"},
		readyForQuery,
	}
}

// jwtOKMessages follow an accepted token.
func jwtOKMessages() []encoder {
	return []encoder{&pgproto3.AuthenticationOk{}, clientEnc, readyForQuery}
}
