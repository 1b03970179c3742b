//go:build !amd64

package crc32c

const (
	useFold   = false
	useScalar = false
	minFold   = 1 << 30
)

func update(s uint32, p, q []byte, foldMin int, k *[16]uint64) uint32 {
	panic("crc32c: no assembly on this architecture")
}

func recordScalar(rec []byte, pad *[8]uint32) uint32 {
	panic("crc32c: no assembly on this architecture")
}
