package gerrittest

import "testing"

func BenchmarkNewSandbox(b *testing.B) {
	for b.Loop() {
		sb, err := NewSandbox(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		sb.Close()
	}
}
