package radmodel

import (
	"testing"

	"github.com/radinpaint/rad/torch"
)

func loadFixtureModel(t *testing.T, name string) *UNet {
	t.Helper()
	m, err := Load(fixture(name+".pt"), fixtureConfig(t, name), torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// constantMap is a [B,1,H,W] map holding t[b] everywhere in sample b.
func constantMap(s *torch.Scope, t *torch.Tensor, h, w int64) *torch.Tensor {
	b := t.Size(0)
	tf := s.To(t, torch.Float32)
	return s.Contiguous(s.Expand(s.Reshape(tf, b, 1, 1, 1), b, 1, h, w))
}

// TestSpatialConstantEqualsScalar: a spatially constant timestep map gives
// the scalar-timestep ADM output (integer and fractional t), on the fast
// and on the per-pixel path.
func TestSpatialConstantEqualsScalar(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			m := loadFixtureModel(t, name)
			defer m.Close()
			s := torch.NewNoGradScope()
			defer s.Close()
			io := fixtureIO(t, s, name)
			x, y := io.Get("x"), io.Get("y")
			h, w := x.Size(2), x.Size(3)
			for _, tc := range []struct{ t, out string }{{"t", "out"}, {"tf", "out_tf"}} {
				tau := constantMap(s, io.Get(tc.t), h, w)
				for _, plain := range []bool{false, true} {
					out := m.ForwardWith(s, x, tau, y, ForwardOpts{PlainSpatial: plain})
					noErr(t, s)
					if d := maxAbsDiff(t, out, io.Get(tc.out)); d > 1e-5 {
						t.Fatalf("%s, plain=%v: spatial output differs from %s by %g", tc.t, plain, tc.out, d)
					}
				}
			}
		})
	}
}

// TestSpatialFastEqualsPlain: for a binary mask's two levels (and three
// levels), the fast path equals the per-pixel reference path.
func TestSpatialFastEqualsPlain(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			m := loadFixtureModel(t, name)
			defer m.Close()
			s := torch.NewNoGradScope()
			defer s.Close()
			io := fixtureIO(t, s, name)
			x, y := io.Get("x"), io.Get("y")
			// sample 0: a box hole at step 613.25 on clean (-1) pixels;
			// sample 1: three levels in bands
			tau := make([]float32, 2*32*32)
			for i := 0; i < 32; i++ {
				for j := 0; j < 32; j++ {
					v := float32(-1)
					if i >= 8 && i < 24 && j >= 4 && j < 20 {
						v = 613.25
					}
					tau[i*32+j] = v
					tau[1024+i*32+j] = []float32{999, 10, -1}[i*3/32]
				}
			}
			tm := torch.FromSlice(s, tau, 2, 1, 32, 32)
			fast := m.ForwardWith(s, x, tm, y, ForwardOpts{})
			plain := m.ForwardWith(s, x, tm, y, ForwardOpts{PlainSpatial: true})
			noErr(t, s)
			if d := maxAbsDiff(t, fast, plain); d > 1e-5 {
				t.Fatalf("fast and per-pixel spatial embedding differ by %g", d)
			}
			// many levels in the batch, few per sample: the per-sample fast path
			many := make([]float32, 2*32*32)
			for i := range many {
				many[i] = float32(i%5) * 97.5 // sample 0: 5 values
				if i >= 1024 {
					many[i] = 3 + float32(i%4)*11.25 // sample 1: 4 other values
				}
			}
			mm := torch.FromSlice(s, many, 2, 1, 32, 32)
			ps := m.ForwardWith(s, x, mm, y, ForwardOpts{})
			pp := m.ForwardWith(s, x, mm, y, ForwardOpts{PlainSpatial: true})
			noErr(t, s)
			if d := maxAbsDiff(t, ps, pp); d > 1e-5 {
				t.Fatalf("per-sample fast path and per-pixel path differ by %g", d)
			}
			hinted := m.ForwardWith(s, x, tm, y, ForwardOpts{TauLevels: []float64{-1, 10, 613.25, 999}})
			if d := maxAbsDiff(t, hinted, fast); d > 1e-6 {
				t.Fatalf("listing the levels changed the output by %g", d)
			}
			// channels-last, fast and per-pixel paths alike
			for _, plain := range []bool{false, true} {
				cl := m.ForwardWith(s, x, tm, y, ForwardOpts{ChannelsLast: true, PlainSpatial: plain})
				noErr(t, s)
				if d := maxAbsDiff(t, cl, fast); d > 1e-5 {
					t.Fatalf("channels-last (plain %v) differs by %g", plain, d)
				}
			}
			// and the map matters: it is not the scalar output
			scalar := m.Forward(s, x, torch.FromSlice(s, []float32{613.25, 10}), y)
			if d := maxAbsDiff(t, fast, scalar); d < 1e-3 {
				t.Fatalf("spatial output equals the scalar one (diff %g)", d)
			}
		})
	}
}

func TestSpatialBadMap(t *testing.T) {
	m := loadFixtureModel(t, "pub_a")
	defer m.Close()
	s := torch.NewNoGradScope()
	defer s.Close()
	x := s.Zeros(torch.Float32, torch.CPU, 1, 3, 32, 32)
	m.Forward(s, x, s.Zeros(torch.Float32, torch.CPU, 1, 1, 16, 16), nil)
	if s.Err() == nil {
		t.Fatal("a 16x16 timestep map for a 32x32 input was accepted")
	}
}
