package server

import (
	"os"
	"testing"
)

// TestMain runs every test of this package with recycled receive buffers
// zeroed (scribbleRecycled): a payload read after the session recycled it
// then shows up as wrong WAL bytes in the push tests.
func TestMain(m *testing.M) {
	scribbleRecycled = true
	os.Exit(m.Run())
}
