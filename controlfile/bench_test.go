package controlfile

import "testing"

func BenchmarkPersist(b *testing.B) {
	for _, tc := range []struct {
		name   string
		noSync bool
	}{{"sync", false}, {"nosync", true}} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			s := layoutState()
			b.SetBytes(int64(len(Encode(s))))
			b.ReportAllocs()
			for b.Loop() {
				s.CommitLSN += 8
				if err := Persist(dir, s, tc.noSync); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	s := layoutState()
	b.SetBytes(int64(len(Encode(s))))
	b.ReportAllocs()
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		buf = AppendState(buf[:0], s)
	}
}

func BenchmarkDecode(b *testing.B) {
	enc := Encode(layoutState())
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}
