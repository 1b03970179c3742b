package httpapi

import (
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// FuzzCreateRequest: any body decodes or is refused with 400, never panics;
// an accepted request yields a state Neon would accept.
func FuzzCreateRequest(f *testing.F) {
	f.Add([]byte(createBody))
	f.Add([]byte(`{"tenant_id":"cf0480929707ee75372337efaa5ecf96","timeline_id":"112ded66422aa5e953e5440fa5427ac4","mconf":{"generation":0,"members":[],"new_members":null},"pg_version":170000,"start_lsn":"0/0"}`))
	f.Add([]byte(`{"mconf":null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := decodeCreateRequest(raw)
		if err != nil {
			if statusOf(err) != 400 {
				t.Fatalf("decode error with status %d: %v", statusOf(err), err)
			}
			return
		}
		st, err := req.state(time.Unix(0, 0))
		if err != nil {
			if statusOf(err) != 400 {
				t.Fatalf("state error with status %d: %v", statusOf(err), err)
			}
			return
		}
		if st.CommitLSN < st.TimelineStartLSN || st.Server.WalSegSize == 0 || st.Server.PGVersion == 0 {
			t.Fatalf("accepted an invalid state %+v", st)
		}
	})
}

// FuzzDebugDumpArgs: any query string parses or is refused with 400.
func FuzzDebugDumpArgs(f *testing.F) {
	f.Add("dump_all=true&tenant_id=cf0480929707ee75372337efaa5ecf96")
	f.Add("dump_term_history=false&dump_memory=1")
	f.Add("bogus=1")
	f.Fuzz(func(t *testing.T, q string) {
		r := httptest.NewRequest("GET", "/v1/debug_dump", nil)
		r.URL.RawQuery = q
		if _, err := url.ParseQuery(q); err != nil {
			return
		}
		if _, err := parseDumpArgs(r); err != nil && statusOf(err) != 400 {
			t.Fatalf("status %d: %v", statusOf(err), err)
		}
	})
}
