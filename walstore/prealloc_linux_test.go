package walstore

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/walkeeper/walkeeper/internal/pgtest"

	"github.com/walkeeper/walkeeper/pgwal"
)

// TestSegmentsPreallocated checks that new segments have their blocks
// allocated up front (fallocate), without the store writing zeros: the
// files are full size and fully allocated before any WAL is written.
func TestSegmentsPreallocated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openFake(t, dir, 0)
	start := pgwal.LSN(testSeg)
	if err := s.Truncate(start); err != nil {
		t.Fatal(err)
	}
	// Past half a segment, the next one is prepared in the background.
	if err := s.Write(start, fakeWAL(start, testSeg/2+fakeRecSize)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"000000010000000000000001.partial", tmpName} {
		path := filepath.Join(dir, name)
		var st os.FileInfo
		var err error
		pgtest.WaitFor(t, 5*time.Second, name, func() bool { st, err = os.Stat(path); return err == nil && st.Size() == testSeg })
		blocks := st.Sys().(*syscall.Stat_t).Blocks * 512
		if blocks < testSeg {
			t.Errorf("%s: %d bytes allocated of %d (fallocate unsupported here?)", name, blocks, testSeg)
		}
	}
}
