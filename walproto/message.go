package walproto

import "fmt"

// ProposerMessage is a message the walproposer sends: ProposerGreeting,
// VoteRequest, ProposerElected or AppendRequest.
type ProposerMessage interface {
	Tag() byte
	proposerMessage()
}

// AcceptorMessage is a message a safekeeper sends: AcceptorGreeting,
// VoteResponse or AppendResponse.
type AcceptorMessage interface {
	Tag() byte
	acceptorMessage()
}

// PeekTag returns the tag of a message without parsing the rest, so a hot
// path can call ParseAppendRequest directly and avoid boxing.
func PeekTag(version uint32, b []byte) (byte, error) {
	if err := CheckVersion(version); err != nil {
		return 0, err
	}
	r := newReader(b, version, "message")
	t := r.tag()
	return t, r.err
}

// ParseProposerMessage parses one CopyData payload from a walproposer, as the
// reference safekeeper does: trailing bytes after a complete message are
// ignored (so a v2 VoteRequest needs only its tag and term), v3 greetings
// must carry 32-hex-character ids, a membership configuration that passes
// the safekeeper's checks and a pg_version of 0 or 140000..179999 (where the
// reference panics), a v2 ProposerElected must carry its trailing
// timeline_start_lsn. A v2 greeting's own protocol_version is returned, not
// checked. An AppendRequest's WAL aliases
// b (see ParseAppendRequest). The result holds one of the value types
// ProposerGreeting, VoteRequest, ProposerElected, AppendRequest.
func ParseProposerMessage(version uint32, b []byte) (ProposerMessage, error) {
	if err := CheckVersion(version); err != nil {
		return nil, err
	}
	r := newReader(b, version, "ProposerAcceptorMessage")
	t := r.tag()
	if r.err != nil {
		return nil, r.err
	}
	var m ProposerMessage
	switch t {
	case TagGreeting:
		r.msg = "ProposerGreeting"
		m = parseProposerGreeting(&r, version)
	case TagVote:
		r.msg = "VoteRequest"
		m = parseVoteRequest(&r, version)
	case TagProposerElected:
		r.msg = "ProposerElected"
		m = parseProposerElected(&r, version)
	case TagAppend:
		r.msg = "AppendRequest"
		m = parseAppendRequest(&r, version)
	default:
		return nil, fmt.Errorf("%w %q in proposer-acceptor message", ErrUnknownTag, t)
	}
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// AppendProposerMessage appends m (a value of one of the four proposer
// message types) in the given version. It panics on an unsupported version
// or message type; see CheckVersion.
func AppendProposerMessage(dst []byte, version uint32, m ProposerMessage) []byte {
	switch m := m.(type) {
	case ProposerGreeting:
		return AppendProposerGreeting(dst, version, m)
	case VoteRequest:
		return AppendVoteRequest(dst, version, m)
	case ProposerElected:
		return AppendProposerElected(dst, version, m)
	case AppendRequest:
		return AppendAppendRequest(dst, version, m)
	}
	panic(fmt.Sprintf("walproto: unexpected proposer message %T", m))
}

// ParseAcceptorMessage parses one CopyData payload from a safekeeper as the
// walproposer does (AsyncReadMessage): every byte must be consumed
// (ErrTrailingBytes otherwise), except that an AppendResponse's
// PageserverFeedback is parsed when, and only when, bytes remain after its
// fixed part. The result holds one of the value types AcceptorGreeting,
// VoteResponse, AppendResponse; it does not alias b.
func ParseAcceptorMessage(version uint32, b []byte) (AcceptorMessage, error) {
	if err := CheckVersion(version); err != nil {
		return nil, err
	}
	r := newReader(b, version, "AcceptorProposerMessage")
	t := r.tag()
	if r.err != nil {
		return nil, r.err
	}
	var m AcceptorMessage
	switch t {
	case TagGreeting:
		r.msg = "AcceptorGreeting"
		m = parseAcceptorGreeting(&r, version)
	case TagVote:
		r.msg = "VoteResponse"
		m = parseVoteResponse(&r, version)
	case TagAppend:
		r.msg = "AppendResponse"
		m = parseAppendResponse(&r, version)
	default:
		return nil, fmt.Errorf("%w %q in acceptor-proposer message", ErrUnknownTag, t)
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return m, nil
}

// AppendAcceptorMessage appends m (a value of one of the three acceptor
// message types) in the given version with the exact length the walproposer
// expects. It panics on an unsupported version or message type; see
// CheckVersion.
func AppendAcceptorMessage(dst []byte, version uint32, m AcceptorMessage) []byte {
	switch m := m.(type) {
	case AcceptorGreeting:
		return AppendAcceptorGreeting(dst, version, m)
	case VoteResponse:
		return AppendVoteResponse(dst, version, m)
	case AppendResponse:
		return AppendAppendResponse(dst, version, m)
	}
	panic(fmt.Sprintf("walproto: unexpected acceptor message %T", m))
}
