package torch

import (
	"testing"
)

// BenchmarkTinyAddGo is the per-call cost of a tiny op from Go: one cgo
// call, one libtorch add on 4 floats, a handle, and its release.
func BenchmarkTinyAddGo(b *testing.B) {
	s := NewNoGradScope()
	defer s.Close()
	x := FromSlice(s, []float32{1, 2, 3, 4})
	y := FromSlice(s, []float32{1, 2, 3, 4})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		z := s.Add(x, y)
		z.Free()
	}
}

// BenchmarkTinyAddCpp is the same op in a C++ loop inside the shim (same
// mode guard, handle and release), for comparison with BenchmarkTinyAddGo.
func BenchmarkTinyAddCpp(b *testing.B) {
	s := NewNoGradScope()
	defer s.Close()
	x := FromSlice(s, []float32{1, 2, 3, 4})
	y := FromSlice(s, []float32{1, 2, 3, 4})
	b.ResetTimer()
	if _, err := benchAddLoop(x, y, int64(b.N)); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkConv2dADM is a 3x3 convolution at an ADM shape: 128 channels at
// 64x64 (the ffhq_10m model's second level), batch 1.
func BenchmarkConv2dADM(b *testing.B) {
	g := NewGenerator(0)
	defer g.Close()
	s := NewNoGradScope()
	defer s.Close()
	x := s.Randn(g, Float32, CPU, 1, 128, 64, 64)
	w := s.Randn(g, Float32, CPU, 128, 128, 3, 3)
	bias := s.Randn(g, Float32, CPU, 128)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := s.Child()
		c.Conv2d(x, w, bias, ConvOpts{Padding: 1})
		if err := c.Err(); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.ReportMetric(2*128*128*9*64*64*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
