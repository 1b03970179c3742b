package ids

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	const s = "cf0480929707ee75372337efaa5ecf96"
	id, err := Parse("CF0480929707EE75372337EFAA5ECF96")
	if err != nil || id.String() != s || id[0] != 0xcf || id[15] != 0x96 {
		t.Fatalf("Parse = %v, %v", id, err)
	}
	for _, bad := range []string{"", "cf04", s + "0", "zf0480929707ee75372337efaa5ecf96"} {
		if _, err := Parse(bad); !errors.Is(err, ErrBadID) {
			t.Errorf("Parse(%q) err = %v", bad, err)
		}
	}
	b, _ := json.Marshal(TTID{Tenant: id}.Tenant)
	if string(b) != `"`+s+`"` {
		t.Errorf("json = %s", b)
	}
}
