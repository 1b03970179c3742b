package walproto

import (
	"encoding/hex"
	"strings"

	"github.com/walkeeper/walkeeper/ids"
	"github.com/walkeeper/walkeeper/pgwal"
)

// Test vectors of walproposer-protocol.md §9, as hex dumps ("0000: 67 00 ..").

func unhex(dump string) []byte {
	var sb strings.Builder
	for _, line := range strings.Split(dump, "\n") {
		if _, rest, ok := strings.Cut(line, ":"); ok {
			line = rest
		}
		sb.WriteString(strings.ReplaceAll(strings.TrimSpace(line), " ", ""))
	}
	b, err := hex.DecodeString(sb.String())
	if err != nil {
		panic(err)
	}
	return b
}

var (
	tvTenant   = ids.MustParse("cf0480929707ee75372337efaa5ecf96")
	tvTimeline = ids.MustParse("112ded66422aa5e953e5440fa5427ac4")
)

const (
	tvPgVersion  = 170004
	tvSystemID   = 0x1234567887654321
	tvWalSegSize = 16 << 20
	lsn28        = pgwal.LSN(0x01000028)
	lsn150       = pgwal.LSN(0x01000150)
	lsn158       = pgwal.LSN(0x01000158)
)

const tv1GreetingV2 = `
0000: 67 00 00 00 00 00 00 00 02 00 00 00 14 98 02 00
0010: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0020: 21 43 65 87 78 56 34 12 11 2d ed 66 42 2a a5 e9
0030: 53 e5 44 0f a5 42 7a c4 cf 04 80 92 97 07 ee 75
0040: 37 23 37 ef aa 5e cf 96 01 00 00 00 00 00 00 01`

const tv2GreetingV3 = `
0000: 67 63 66 30 34 38 30 39 32 39 37 30 37 65 65 37
0010: 35 33 37 32 33 33 37 65 66 61 61 35 65 63 66 39
0020: 36 00 31 31 32 64 65 64 36 36 34 32 32 61 61 35
0030: 65 39 35 33 65 35 34 34 30 66 61 35 34 32 37 61
0040: 63 34 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0050: 02 98 14 12 34 56 78 87 65 43 21 01 00 00 00`

const tv3AcceptorGreetingV3 = `
0000: 67 00 00 00 00 00 00 00 01 00 00 00 01 00 00 00
0010: 01 00 00 00 00 00 00 00 01 73 6b 2d 31 00 15 4e
0020: 00 00 00 00 00 00 00 00 00 00 00 05`

const tv4VoteRequestV3 = `76 00 00 00 01 00 00 00 00 00 00 00 06`

const tv4VoteResponseV3 = `
0000: 76 00 00 00 01 00 00 00 00 00 00 00 06 01 00 00
0010: 00 00 01 00 01 50 00 00 00 00 01 00 00 28 00 00
0020: 00 01 00 00 00 00 00 00 00 05 00 00 00 00 01 00
0030: 00 28`

const tv4VoteResponseV2 = `
0000: 76 00 00 00 00 00 00 00 06 00 00 00 00 00 00 00
0010: 01 00 00 00 00 00 00 00 50 01 00 01 00 00 00 00
0020: 28 00 00 01 00 00 00 00 01 00 00 00 05 00 00 00
0030: 00 00 00 00 28 00 00 01 00 00 00 00 00 00 00 00
0040: 00 00 00 00`

const tv4ElectedV3 = `
0000: 65 00 00 00 01 00 00 00 00 00 00 00 06 00 00 00
0010: 00 01 00 01 50 00 00 00 02 00 00 00 00 00 00 00
0020: 05 00 00 00 00 01 00 00 28 00 00 00 00 00 00 00
0030: 06 00 00 00 00 01 00 01 50`

const tv5AppendRequestV3 = `
0000: 61 00 00 00 01 00 00 00 00 00 00 00 06 00 00 00
0010: 00 01 00 01 50 00 00 00 00 01 00 01 58 00 00 00
0020: 00 01 00 01 50 00 00 00 00 01 00 00 28 01 02 03
0030: 04 05 06 07 08`

const tv5AppendRequestV2 = `
0000: 61 00 00 00 00 00 00 00 06 00 00 00 00 00 00 00
0010: 00 00 00 00 00 00 00 00 50 01 00 01 00 00 00 00
0020: 58 01 00 01 00 00 00 00 50 01 00 01 00 00 00 00
0030: 28 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00
0040: 00 00 00 00 00 00 00 00 01 02 03 04 05 06 07 08`

const tv5AppendResponseV3Feedback = `
0000: 61 00 00 00 01 00 00 00 00 00 00 00 06 00 00 00
0010: 00 01 00 01 58 00 00 00 00 01 00 01 50 00 00 00
0020: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0030: 00 00 00 00 00 05 63 75 72 72 65 6e 74 5f 74 69
0040: 6d 65 6c 69 6e 65 5f 73 69 7a 65 00 00 00 00 08
0050: 00 00 00 00 00 10 00 00 70 73 5f 77 72 69 74 65
0060: 6c 73 6e 00 00 00 00 08 00 00 00 00 01 00 01 58
0070: 70 73 5f 66 6c 75 73 68 6c 73 6e 00 00 00 00 08
0080: 00 00 00 00 01 00 01 50 70 73 5f 61 70 70 6c 79
0090: 6c 73 6e 00 00 00 00 08 00 00 00 00 01 00 00 28
00a0: 70 73 5f 72 65 70 6c 79 74 69 6d 65 00 00 00 00
00b0: 08 00 02 c0 c0 c0 c0 c0 c0`

// tv5AppendResponseV3 is TV5 without feedback: the first 53 bytes of the above.
const tv5AppendResponseV3 = `
0000: 61 00 00 00 01 00 00 00 00 00 00 00 06 00 00 00
0010: 00 01 00 01 58 00 00 00 00 01 00 01 50 00 00 00
0020: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0030: 00 00 00 00 00`

// The spec gives no v2 vectors for these; they are written by hand from the
// v2 layouts of §2.4–2.5 (LE, u64 tags) with TV4's values.
const derivedVoteRequestV2 = `
0000: 76 00 00 00 00 00 00 00 06 00 00 00 00 00 00 00
0010: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00`

const derivedElectedV2 = `
0000: 65 00 00 00 00 00 00 00 06 00 00 00 00 00 00 00
0010: 50 01 00 01 00 00 00 00 02 00 00 00 05 00 00 00
0020: 00 00 00 00 28 00 00 01 00 00 00 00 06 00 00 00
0030: 00 00 00 00 50 01 00 01 00 00 00 00 28 00 00 01
0040: 00 00 00 00`

const derivedAcceptorGreetingV2 = `
0000: 67 00 00 00 00 00 00 00 05 00 00 00 00 00 00 00
0010: 01 00 00 00 00 00 00 00`

const tv5AppendResponseV2 = `
0000: 61 00 00 00 00 00 00 00 06 00 00 00 00 00 00 00
0010: 58 01 00 01 00 00 00 00 50 01 00 01 00 00 00 00
0020: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
0030: 00 00 00 00 00 00 00 00`

// tvFeedback is the PageserverFeedback of TV5.
var tvFeedback = PageserverFeedback{
	CurrentTimelineSize: 0x100000,
	LastReceivedLSN:     lsn158,
	DiskConsistentLSN:   lsn150,
	RemoteConsistentLSN: lsn28,
	ReplyTime:           0x0002C0C0C0C0C0C0,
}

type proposerVector struct {
	name    string
	version uint32
	hex     string
	msg     ProposerMessage
}

type acceptorVector struct {
	name    string
	version uint32
	hex     string
	msg     AcceptorMessage
}

var history = TermHistory{{Term: 5, LSN: lsn28}}

var proposerVectors = []proposerVector{
	{"TV1 greeting v2", Version2, tv1GreetingV2, ProposerGreeting{
		TenantID: tvTenant, TimelineID: tvTimeline, PgVersion: tvPgVersion,
		SystemID: tvSystemID, WalSegSize: tvWalSegSize, ProtocolVersion: 2, TLI: 1}},
	{"TV2 greeting v3", Version3, tv2GreetingV3, ProposerGreeting{
		TenantID: tvTenant, TimelineID: tvTimeline, PgVersion: tvPgVersion,
		SystemID: tvSystemID, WalSegSize: tvWalSegSize}},
	{"TV4 vote request v3", Version3, tv4VoteRequestV3, VoteRequest{Generation: 1, Term: 6}},
	{"TV4 elected v3", Version3, tv4ElectedV3, ProposerElected{
		Generation: 1, Term: 6, StartStreamingAt: lsn150,
		TermHistory: TermHistory{{5, lsn28}, {6, lsn150}}}},
	{"TV5 append request v3", Version3, tv5AppendRequestV3, AppendRequest{
		Generation: 1, Term: 6, BeginLSN: lsn150, EndLSN: lsn158, CommitLSN: lsn150,
		TruncateLSN: lsn28, WAL: []byte{1, 2, 3, 4, 5, 6, 7, 8}}},
	{"TV5 append request v2", Version2, tv5AppendRequestV2, AppendRequest{
		Term: 6, BeginLSN: lsn150, EndLSN: lsn158, CommitLSN: lsn150,
		TruncateLSN: lsn28, WAL: []byte{1, 2, 3, 4, 5, 6, 7, 8}}},
	{"derived vote request v2", Version2, derivedVoteRequestV2, VoteRequest{Term: 6}},
	{"derived elected v2", Version2, derivedElectedV2, ProposerElected{
		Term: 6, StartStreamingAt: lsn150, TimelineStartLSN: lsn28,
		TermHistory: TermHistory{{5, lsn28}, {6, lsn150}}}},
}

var acceptorVectors = []acceptorVector{
	{"TV3 acceptor greeting v3", Version3, tv3AcceptorGreetingV3, AcceptorGreeting{
		NodeID: 1, Term: 5, MConf: MembershipConfiguration{
			Generation: 1, Members: []Member{{ID: 1, Host: "sk-1", PgPort: 5454}}}}},
	{"derived acceptor greeting v2", Version2, derivedAcceptorGreetingV2, AcceptorGreeting{NodeID: 1, Term: 5}},
	{"TV4 vote response v3", Version3, tv4VoteResponseV3, VoteResponse{
		Generation: 1, Term: 6, VoteGiven: true, FlushLSN: lsn150, TruncateLSN: lsn28,
		TermHistory: history}},
	{"TV4 vote response v2", Version2, tv4VoteResponseV2, VoteResponse{
		Term: 6, VoteGiven: true, FlushLSN: lsn150, TruncateLSN: lsn28, TermHistory: history}},
	{"TV5 append response v3", Version3, tv5AppendResponseV3, AppendResponse{
		Generation: 1, Term: 6, FlushLSN: lsn158, CommitLSN: lsn150}},
	{"TV5 append response v3 feedback", Version3, tv5AppendResponseV3Feedback, AppendResponse{
		Generation: 1, Term: 6, FlushLSN: lsn158, CommitLSN: lsn150, PageserverFeedback: &tvFeedback}},
	{"TV5 append response v2", Version2, tv5AppendResponseV2, AppendResponse{
		Term: 6, FlushLSN: lsn158, CommitLSN: lsn150}},
}
