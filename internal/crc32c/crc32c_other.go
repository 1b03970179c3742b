//go:build !amd64

package crc32c

const (
	useFold   = false
	useScalar = false
	minFold   = 1 << 30
)

func foldCRC(s uint32, p, q []byte, k *[16]uint64) uint32 {
	panic("crc32c: no folding on this architecture")
}

func scalarCRC(s uint32, p, q []byte) uint32 {
	panic("crc32c: no CRC32 instruction on this architecture")
}
