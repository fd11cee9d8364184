package infer

import (
	"context"
	"math"
	"testing"

	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
)

// samplingSetup is the pub_a fixture model, the linear 1000-step chain, a
// no-grad scope and a generator seeded with seed, closed with the test.
func samplingSetup(t *testing.T, seed uint64) (*radmodel.UNet, *diffusion.Base, *torch.Scope, *torch.Generator) {
	t.Helper()
	m := pubA(t)
	t.Cleanup(m.Close)
	base, err := diffusion.NewNamedBase("linear", 1000)
	if err != nil {
		t.Fatal(err)
	}
	s := torch.NewNoGradScope()
	t.Cleanup(s.Close)
	g := torch.NewGenerator(seed)
	t.Cleanup(g.Close)
	return m, base, s, g
}

// TestSamplingMemoryFlat: the live tensor count seen from the callback is
// the same at step 10 and step 100 of a 100-step run (RAD ancestral, DDIM)
// and at RePaint's 10th and 100th model call: a run holds one sample at a
// time, not one per step.
func TestSamplingMemoryFlat(t *testing.T) {
	m, base, s, g := samplingSetup(t, 4)
	x0 := s.Rand(g, torch.Float32, torch.CPU, 1, 3, 32, 32)
	mask := s.To(s.GtScalar(s.Rand(g, torch.Float32, torch.CPU, 1, 1, 32, 32), 0.5), torch.Float32)
	watch := func(name string, run func(o SampleOptions) error) {
		live := map[int]int64{}
		o := SampleOptions{Callback: func(i, total int, _, _ *torch.Tensor) {
			if i == 10 || i == 100 {
				live[i] = torch.LiveTensors()
			}
		}}
		if err := run(o); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if live[10] == 0 || live[10] != live[100] {
			t.Fatalf("%s: live tensors %d at step 10, %d at step 100", name, live[10], live[100])
		}
	}
	den := UNetDenoiser{Model: m}
	for _, ddim := range []bool{false, true} {
		p, err := NewProcess(base, "100", 0)
		if err != nil {
			t.Fatal(err)
		}
		p.DDIM, p.Eta = ddim, 1
		name := map[bool]string{false: "rad", true: "rad-ddim"}[ddim]
		watch(name, func(o SampleOptions) error {
			c := s.Child()
			defer c.Close()
			_, err := p.Sample(context.Background(), c, den, x0, mask, g, o)
			return err
		})
	}
	watch("repaint", func(o SampleOptions) error {
		c := s.Child()
		defer c.Close()
		_, err := RePaintSample(context.Background(), c, den, x0, mask, base, RePaintOpts{Respacing: "50", JumpLength: 5, JumpNSample: 3}, g, o)
		return err
	})
}

// TestKnownPixelsExactEveryStep: the sampler itself keeps the known pixels
// (m = 0) bit for bit equal to the input at every step, before the final
// paste: RAD ancestral, DDIM with eta 0 and 1, binary and soft masks.
func TestKnownPixelsExactEveryStep(t *testing.T) {
	m, base, s, g := samplingSetup(t, 5)
	x0 := s.SubScalar(s.MulScalar(s.Rand(g, torch.Float32, torch.CPU, 2, 3, 32, 32), 2), 1)
	r := s.Rand(g, torch.Float32, torch.CPU, 2, 1, 32, 32)
	binary := s.To(s.GtScalar(r, 0.5), torch.Float32)
	// soft: a third known (0), a third hole (1), a third gray levels
	soft := s.Where(s.LtScalar(r, 0.33), s.ZerosLike(r), s.Where(s.GtScalar(r, 0.66), s.OnesLike(r), r))
	bits := func(x *torch.Tensor) []uint32 {
		v, err := torch.ToSlice[float32](x)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]uint32, len(v))
		for i, f := range v {
			out[i] = math.Float32bits(f)
		}
		return out
	}
	want := bits(x0)
	den := UNetDenoiser{Model: m}
	for _, c := range []struct {
		name string
		ddim bool
		eta  float64
		mask *torch.Tensor
	}{
		{"ancestral", false, 0, binary}, {"ddim-eta0", true, 0, binary}, {"ddim-eta1", true, 1, binary},
		{"ancestral-soft", false, 0, soft}, {"ddim-eta1-soft", true, 1, soft},
	} {
		p, err := NewProcess(base, "20", 0)
		if err != nil {
			t.Fatal(err)
		}
		p.DDIM, p.Eta = c.ddim, c.eta
		mv, err := torch.ToSlice[float32](c.mask)
		if err != nil {
			t.Fatal(err)
		}
		steps, known := 0, 0
		o := SampleOptions{Callback: func(i, total int, x, _ *torch.Tensor) {
			steps++
			got := bits(x)
			known = 0
			for j := range got {
				px := (j/(3*32*32))*32*32 + j%(32*32) // [B,C,H,W] -> [B,1,H,W]
				if mv[px] != 0 {
					continue
				}
				known++
				if got[j] != want[j] {
					t.Fatalf("%s: step %d of %d: known value %d is %v, input %v", c.name, i, total, j,
						math.Float32frombits(got[j]), math.Float32frombits(want[j]))
				}
			}
		}}
		cs := s.Child()
		if _, err := p.Sample(context.Background(), cs, den, x0, c.mask, g, o); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		cs.Close()
		if steps != 20 || known < 500 {
			t.Fatalf("%s: %d steps seen, %d known values checked", c.name, steps, known)
		}
	}
}
