//go:build !linux

package pgwire

import "os"

// fileSender is Linux only.
type fileSender struct{}

// sendFile is not implemented off Linux: callers copy.
func (w *writer) sendFile(header []byte, f *os.File, off int64, n int) error {
	return ErrNoSendfile
}
