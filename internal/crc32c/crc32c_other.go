//go:build !amd64

package crc32c

const (
	useFold = false
	minFold = 1 << 30
)

func foldCRC(s uint32, p []byte, k *[16]uint64) uint32 {
	panic("crc32c: no folding on this architecture")
}
