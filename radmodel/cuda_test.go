package radmodel

import (
	"testing"

	"github.com/radinpaint/rad/torch"
)

// TestCUDAForward runs the fixtures on CUDA (skips without it): float32
// against guided-diffusion's outputs, the spatial fast path against the
// per-pixel path, LoRA, and bfloat16/float16 models against float32.
func TestCUDAForward(t *testing.T) {
	if !torch.CUDAAvailable() {
		t.Skip("no CUDA device")
	}
	torch.SetAllowTF32(false)
	dev := torch.CUDA(0)
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			cfg := fixtureConfig(t, name)
			m, err := Load(fixture(name+".pt"), cfg, dev, torch.Float32)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			s := torch.NewNoGradScope()
			defer s.Close()
			io := fixtureIO(t, s, name)
			x, y := io.Get("x"), io.Get("y")
			for _, tc := range []struct{ t, out string }{{"t", "out"}, {"tf", "out_tf"}} {
				out := m.Forward(s, x, io.Get(tc.t), y)
				noErr(t, s)
				if out.Device() != dev {
					t.Fatalf("output on %s", out.Device())
				}
				if d := maxAbsDiff(t, out, io.Get(tc.out)); d > 1e-4 {
					t.Fatalf("%s: cuda output differs by %g", tc.out, d)
				}
				tau := constantMap(s, io.Get(tc.t), 32, 32)
				if d := maxAbsDiff(t, m.Forward(s, x, tau, y), io.Get(tc.out)); d > 1e-4 {
					t.Fatalf("%s: cuda spatial output differs by %g", tc.out, d)
				}
			}
			g := torch.NewGenerator(1)
			defer g.Close()
			if err := m.AddLoRA(DefaultLoRA, g); err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(t, m.Forward(s, x, io.Get("t"), y), io.Get("out")); d > 1e-4 {
				t.Fatalf("fresh LoRA on cuda changed the output by %g", d)
			}
			for _, dt := range []torch.DType{torch.BFloat16, torch.Float16} {
				lm, err := Load(fixture(name+".pt"), cfg, dev, dt)
				if err != nil {
					t.Fatal(err)
				}
				d := maxAbsDiff(t, lm.Forward(s, x, io.Get("t"), y), io.Get("out"))
				lm.Close()
				noErr(t, s)
				if d > 0.1 {
					t.Fatalf("%s model differs from float32 by %g", dt, d)
				}
				t.Logf("%s model: max |diff| %g", dt, d)
			}
		})
	}
}
