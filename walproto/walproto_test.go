package walproto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
)

func TestProposerVectors(t *testing.T) {
	t.Parallel()
	for _, tv := range proposerVectors {
		t.Run(tv.name, func(t *testing.T) {
			want := unhex(tv.hex)
			got := AppendProposerMessage(nil, tv.version, tv.msg)
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded\n%s\nwant\n%s", hex.Dump(got), hex.Dump(want))
			}
			m, err := ParseProposerMessage(tv.version, want)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !reflect.DeepEqual(m, tv.msg) {
				t.Fatalf("parsed %+v\nwant   %+v", m, tv.msg)
			}
			// The safekeeper ignores trailing bytes...
			if m2, err := ParseProposerMessage(tv.version, append(want[:len(want):len(want)], 0xee)); err != nil || !reflect.DeepEqual(m2, tv.msg) {
				t.Errorf("with a trailing byte: %+v, %v", m2, err)
			}
			// ...but every shorter prefix is an error, never a panic
			// (a v2 VoteRequest needs only tag and term: the safekeeper's
			// VoteRequestV2 struct has no proposer_id).
			need := len(want)
			if tv.version == Version2 && tv.msg.Tag() == TagVote {
				need = 16
			}
			for n := range need {
				if _, err := ParseProposerMessage(tv.version, want[:n]); !errors.Is(err, ErrShortMessage) {
					t.Fatalf("prefix of %d bytes: err = %v, want ErrShortMessage", n, err)
				}
			}
		})
	}
}

func TestAcceptorVectors(t *testing.T) {
	t.Parallel()
	for _, tv := range acceptorVectors {
		t.Run(tv.name, func(t *testing.T) {
			want := unhex(tv.hex)
			got := AppendAcceptorMessage(nil, tv.version, tv.msg)
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded\n%s\nwant\n%s", hex.Dump(got), hex.Dump(want))
			}
			m, err := ParseAcceptorMessage(tv.version, want)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !reflect.DeepEqual(m, tv.msg) {
				t.Fatalf("parsed %+v\nwant   %+v", m, tv.msg)
			}
			// The walproposer is strict: any prefix is short (except the
			// fixed part of an AppendResponse with feedback)...
			fixed := -1
			if r, ok := tv.msg.(AppendResponse); ok && r.PageserverFeedback != nil {
				fixed = appendResponseV3Size
				if tv.version == Version2 {
					fixed = appendResponseV2Size
				}
			}
			for n := range len(want) {
				if n == fixed {
					continue
				}
				if _, err := ParseAcceptorMessage(tv.version, want[:n]); !errors.Is(err, ErrShortMessage) {
					t.Fatalf("prefix of %d bytes: err = %v, want ErrShortMessage", n, err)
				}
			}
			// ...and one byte too many is an error (for an AppendResponse the
			// byte is read as a feedback block whose keys are missing).
			extra := append(want[:len(want):len(want)], 0x01)
			if _, err := ParseAcceptorMessage(tv.version, extra); !errors.Is(err, ErrTrailingBytes) && !errors.Is(err, ErrShortMessage) {
				t.Fatalf("one byte more: err = %v", err)
			}
		})
	}
}

func TestAppendResponseSizes(t *testing.T) {
	t.Parallel()
	m := AppendResponse{Term: 1}
	if n := len(AppendAppendResponse(nil, Version3, m)); n != 53 {
		t.Errorf("v3 fixed part = %d", n)
	}
	if n := len(AppendAppendResponse(nil, Version2, m)); n != 56 {
		t.Errorf("v2 fixed part = %d", n)
	}
	m.PageserverFeedback = &tvFeedback
	if n := len(AppendAppendResponse(nil, Version3, m)); n != 185 {
		t.Errorf("v3 with feedback = %d, want 185", n)
	}
	if n := len(AppendAppendRequest(nil, Version3, AppendRequest{})); n != appendRequestHeaderV3Size {
		t.Errorf("v3 append header = %d", n)
	}
	if n := len(AppendAppendRequest(nil, Version2, AppendRequest{})); n != appendRequestHeaderV2Size {
		t.Errorf("v2 append header = %d", n)
	}
	if n := len(AppendProposerGreeting(nil, Version2, ProposerGreeting{})); n != proposerGreetingV2Size {
		t.Errorf("v2 greeting = %d", n)
	}
}

// TestEmptyFeedbackIsPresent: an AppendResponse followed by a zero nkeys byte
// carries an empty (present) feedback, as the walproposer would see it.
func TestEmptyFeedbackIsPresent(t *testing.T) {
	t.Parallel()
	b := append(unhex(tv5AppendResponseV2), 0)
	m, err := ParseAcceptorMessage(Version2, b)
	if err != nil {
		t.Fatal(err)
	}
	if f := m.(AppendResponse).PageserverFeedback; f == nil || *f != (PageserverFeedback{}) {
		t.Fatalf("feedback = %+v", f)
	}
}

func TestCheckVersion(t *testing.T) {
	t.Parallel()
	for _, v := range []uint32{0, 1, 4, 1 << 31} {
		if err := CheckVersion(v); !errors.Is(err, ErrUnsupportedVersion) {
			t.Errorf("CheckVersion(%d) = %v", v, err)
		}
		if _, err := ParseProposerMessage(v, unhex(tv2GreetingV3)); !errors.Is(err, ErrUnsupportedVersion) {
			t.Errorf("ParseProposerMessage(%d) = %v", v, err)
		}
		if _, err := ParseAcceptorMessage(v, unhex(tv3AcceptorGreetingV3)); !errors.Is(err, ErrUnsupportedVersion) {
			t.Errorf("ParseAcceptorMessage(%d) = %v", v, err)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("AppendVoteRequest with version 4 did not panic")
		}
	}()
	AppendVoteRequest(nil, 4, VoteRequest{})
}

func TestPeekTag(t *testing.T) {
	t.Parallel()
	for _, tv := range proposerVectors {
		if tag, err := PeekTag(tv.version, unhex(tv.hex)); err != nil || tag != tv.msg.Tag() {
			t.Errorf("%s: PeekTag = %q, %v", tv.name, tag, err)
		}
	}
	if _, err := PeekTag(Version2, []byte{'a', 0, 0}); !errors.Is(err, ErrShortMessage) {
		t.Errorf("short v2 tag: %v", err)
	}
}

// TestAppendResponseV2Feedback: the v2 fixed part is little-endian, but the
// feedback block after it is the same big-endian block as in v3.
func TestAppendResponseV2Feedback(t *testing.T) {
	t.Parallel()
	want := append(unhex(tv5AppendResponseV2), unhex(tv5AppendResponseV3Feedback)[53:]...)
	m := AppendResponse{Term: 6, FlushLSN: lsn158, CommitLSN: lsn150, PageserverFeedback: &tvFeedback}
	if got := AppendAppendResponse(nil, Version2, m); !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%s\nwant\n%s", hex.Dump(got), hex.Dump(want))
	}
	got, err := ParseAcceptorMessage(Version2, want)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("parsed %+v, %v", got, err)
	}
}
