package infer

import (
	"context"
	"testing"

	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
)

// TestSamplingMemoryFlat: the live tensor count seen from the callback is
// the same at step 10 and step 100 of a 100-step run (RAD ancestral, DDIM)
// and at RePaint's 10th and 100th model call: a run holds one sample at a
// time, not one per step.
func TestSamplingMemoryFlat(t *testing.T) {
	m := pubA(t)
	defer m.Close()
	base, err := diffusion.NewNamedBase("linear", 1000)
	if err != nil {
		t.Fatal(err)
	}
	s := torch.NewNoGradScope()
	defer s.Close()
	g := torch.NewGenerator(4)
	defer g.Close()
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
