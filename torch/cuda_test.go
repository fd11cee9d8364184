package torch

import (
	"math"
	"testing"
)

// The tests in this file run only where CUDA is available (they skip
// elsewhere); they compare CUDA results with the CPU's.

func needCUDA(t *testing.T) Device {
	t.Helper()
	if !CUDAAvailable() {
		t.Skip("no CUDA device")
	}
	SetAllowTF32(false)
	return CUDA(0)
}

func closeCPU(t *testing.T, name string, s *Scope, gpu, cpu *Tensor, tol float64) {
	t.Helper()
	if gpu == nil || cpu == nil {
		t.Fatalf("%s: nil (%v)", name, s.Err())
	}
	if gpu.Device() != CUDA(0) {
		t.Fatalf("%s: result on %s", name, gpu.Device())
	}
	g, c := vals(t, gpu), vals(t, cpu)
	for i := range g {
		if math.Abs(g[i]-c[i]) > tol*(1+math.Abs(c[i])) {
			t.Fatalf("%s[%d]: cuda %v, cpu %v", name, i, g[i], c[i])
		}
	}
}

func TestCUDAOpsMatchCPU(t *testing.T) {
	dev := needCUDA(t)
	name, err := CUDADeviceName(0)
	if err != nil || name == "" {
		t.Fatalf("device name %q %v", name, err)
	}
	t.Logf("cuda:0 is %s, %d device(s)", name, CUDADeviceCount())
	s := NewScope()
	defer s.Close()
	g := NewGenerator(1)
	defer g.Close()
	x := s.Randn(g, Float32, CPU, 2, 8, 16, 16)
	w := s.Randn(g, Float32, CPU, 8, 4, 3, 3)
	b := s.Randn(g, Float32, CPU, 8)
	xg, wg, bg := s.ToDevice(x, dev, Float32), s.ToDevice(w, dev, Float32), s.ToDevice(b, dev, Float32)
	noErr(t, s)
	// same seed, same numbers on every device
	g2 := NewGenerator(1)
	defer g2.Close()
	closeCPU(t, "randn", s, s.Randn(g2, Float32, dev, 2, 8, 16, 16), x, 0)
	o := ConvOpts{Padding: 1, Groups: 2}
	closeCPU(t, "conv2d", s, s.Conv2d(xg, wg, bg, o), s.Conv2d(x, w, b, o), 1e-4)
	closeCPU(t, "group_norm", s, s.GroupNorm(xg, 4, nil, nil, 1e-5), s.GroupNorm(x, 4, nil, nil, 1e-5), 1e-4)
	closeCPU(t, "softmax", s, s.Softmax(xg, 1), s.Softmax(x, 1), 1e-5)
	closeCPU(t, "interp", s, s.Interpolate(xg, 7, 9, Bilinear, true), s.Interpolate(x, 7, 9, Bilinear, true), 1e-5)
	m := s.Reshape(x, 64, 64)
	closeCPU(t, "matmul", s, s.Matmul(s.ToDevice(m, dev, Float32), s.Transpose(s.ToDevice(m, dev, Float32), 0, 1)),
		s.Matmul(m, s.Transpose(m, 0, 1)), 1e-4)
	closeCPU(t, "silu+sum", s, s.Sum(s.SiLU(xg), 1), s.Sum(s.SiLU(x), 1), 1e-5)
	u, inv := s.Unique(s.Round(xg))
	uc, ic := s.Unique(s.Round(x))
	closeCPU(t, "unique", s, u, uc, 0)
	closeCPU(t, "unique-inverse", s, inv, ic, 0)
	// autograd on CUDA equals CPU
	for _, p := range []*Tensor{xg, wg, x, w} {
		p.SetRequiresGrad(true)
	}
	lg := s.Sum(s.Square(s.Conv2d(xg, wg, nil, o)))
	lc := s.Sum(s.Square(s.Conv2d(x, w, nil, o)))
	if err := lg.Backward(); err != nil {
		t.Fatal(err)
	}
	if err := lc.Backward(); err != nil {
		t.Fatal(err)
	}
	closeCPU(t, "grad w", s, s.Grad(wg), s.Grad(w), 1e-4)
	// AdamW on CUDA equals CPU
	oc, _ := NewAdamW([]*Tensor{w}, DefaultAdamW)
	og, _ := NewAdamW([]*Tensor{wg}, DefaultAdamW)
	defer oc.Close()
	defer og.Close()
	if err := oc.Step(); err != nil {
		t.Fatal(err)
	}
	if err := og.Step(); err != nil {
		t.Fatal(err)
	}
	closeCPU(t, "adamw", s, s.Detach(wg), s.Detach(w), 1e-5)
	// autocast bf16 on CUDA
	ac := s.Child().SetAutocast(BFloat16)
	if y := ac.Matmul(s.ToDevice(m, dev, Float32), s.Transpose(s.ToDevice(m, dev, Float32), 0, 1)); y == nil || y.DType() != BFloat16 {
		t.Fatalf("autocast matmul: %v %v", y, ac.Err())
	}
	ac.Close()
	if err := CUDASynchronize(0); err != nil {
		t.Fatal(err)
	}
	st, err := CUDAMemoryStats(0)
	if err != nil || st.Allocated <= 0 || st.PeakAllocated < st.Allocated {
		t.Fatalf("memory stats %+v %v", st, err)
	}
	t.Logf("memory: %+v", st)
}

func TestCUDAScopesFreeDeviceMemory(t *testing.T) {
	dev := needCUDA(t)
	CUDASynchronize(0)
	before, _ := CUDAMemoryStats(0)
	for i := 0; i < 200; i++ {
		s := NewNoGradScope()
		a := s.Ones(Float32, dev, 1024, 1024) // 4 MiB
		for j := 0; j < 10; j++ {
			a = s.AddScalar(a, 1)
		}
		s.Close()
	}
	CUDASynchronize(0)
	after, _ := CUDAMemoryStats(0)
	if after.Allocated != before.Allocated {
		t.Fatalf("allocated %d -> %d bytes", before.Allocated, after.Allocated)
	}
	if err := CUDAEmptyCache(); err != nil {
		t.Fatal(err)
	}
}
