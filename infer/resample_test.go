package infer

import (
	"context"
	"math"
	"sync/atomic"
	"testing"

	"github.com/radinpaint/rad/internal/tensortest"
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
)

// TestSampleResampled: with one pass per jump it is Sample exactly; with
// resampling it makes RePaint's number of calls over RAD's steps, keeps
// every known pixel exact (binary and soft masks) and changes the fill;
// bad options are errors.
func TestSampleResampled(t *testing.T) {
	m, err := radmodel.NewRandom(tinyConfig(t), torch.CPU, torch.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	den := UNetDenoiser{Model: m}
	base, _ := diffusion.NewNamedBase("linear", 1000)
	p, err := NewProcess(base, "20", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s := torch.NewNoGradScope()
	defer s.Close()
	g := torch.NewGenerator(3)
	x0 := s.Tanh(s.Randn(g, torch.Float32, torch.CPU, 2, 3, 16, 16))
	g.Close()
	binary := s.Zeros(torch.Float32, torch.CPU, 2, 1, 16, 16)
	s.Narrow(s.Narrow(binary, 2, 4, 8), 3, 3, 9).Fill(1)
	soft := s.Add(s.MulScalar(binary, 0.75), s.Zeros(torch.Float32, torch.CPU, 2, 1, 16, 16))
	s.Narrow(s.Narrow(soft, 2, 6, 3), 3, 5, 4).Fill(1)
	run := func(mask *torch.Tensor, ro *ResampleOpts, calls *atomic.Int64) *torch.Tensor {
		t.Helper()
		g := torch.NewGenerator(7)
		defer g.Close()
		o := SampleOptions{Calls: calls}
		var out *torch.Tensor
		var err error
		if ro == nil {
			out, err = p.Sample(context.Background(), s, den, x0, mask, g, o)
		} else {
			out, err = p.SampleResampled(context.Background(), s, den, x0, mask, g, o, *ro)
		}
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, c := range []struct {
		name string
		mask *torch.Tensor
	}{{"binary", binary}, {"soft", soft}} {
		plain := run(c.mask, nil, nil)
		off := run(c.mask, &ResampleOpts{JumpLength: 5, JumpNSample: 1}, nil)
		if d := tensortest.MaxAbsDiff(t, off, plain); d != 0 {
			t.Fatalf("%s: one pass per jump differs from Sample by %g", c.name, d)
		}
		var calls atomic.Int64
		ro := ResampleOpts{JumpLength: 5, JumpNSample: 3}
		on := run(c.mask, &ro, &calls)
		if want := RePaintCalls(20, 5, 3); calls.Load() != int64(want) || p.ResampledCalls(ro) != want || want <= 20 {
			t.Fatalf("%s: %d calls, ResampledCalls %d, want RePaint's %d", c.name, calls.Load(), p.ResampledCalls(ro), want)
		}
		known := s.LeScalar(s.Expand(c.mask, x0.Shape()...), 0)
		if d := tensortest.MaxAbsDiff(t, s.MaskedSelect(on, known), s.MaskedSelect(x0, known)); d != 0 {
			t.Fatalf("%s: resampling moved known pixels by %g", c.name, d)
		}
		hole := s.GtScalar(s.Expand(c.mask, x0.Shape()...), 0)
		if d := tensortest.MaxAbsDiff(t, s.MaskedSelect(on, hole), s.MaskedSelect(plain, hole)); d == 0 || math.IsNaN(d) {
			t.Fatalf("%s: resampled fill vs plain: max difference %g", c.name, d)
		}
	}
	for _, ro := range []ResampleOpts{{JumpLength: 0, JumpNSample: 2}, {JumpLength: 5, JumpNSample: 0}} {
		if _, err := p.SampleResampled(context.Background(), s, den, x0, binary, nil, SampleOptions{}, ro); err == nil {
			t.Fatalf("%+v: no error", ro)
		}
	}
}

// TestForwardOne: a jump back moves a hole pixel from step k-1's level to
// step k's as the chain does, x_k = sqrt(a) x + sqrt(1 - a) z with a =
// abar_k / abar_{k-1} of the respaced chain (z standard normal, so the
// standardized residual has mean 0 and variance 1), and leaves known pixels
// bit-for-bit alone.
func TestForwardOne(t *testing.T) {
	base, _ := diffusion.NewNamedBase("linear", 1000)
	p, err := NewProcess(base, "20", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s := torch.NewNoGradScope()
	defer s.Close()
	m := s.Zeros(torch.Float32, torch.CPU, 1, 1, 64, 64)
	s.Narrow(m, 3, 0, 32).Fill(1)
	x := s.FullLike(s.Zeros(torch.Float32, torch.CPU, 1, 3, 64, 64), 0.5)
	ac := p.Schedule.Base.AlphasCumprod()
	for _, k := range []int{1, 10, 19} {
		r, err := p.prepare(s, x, m, nil, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		lv, err := p.levelsAt(s, r, k, 1, m)
		if err != nil {
			t.Fatal(err)
		}
		g := torch.NewGenerator(uint64(k))
		z := s.Randn(g, torch.Float32, torch.CPU, 1, 3, 64, 64)
		g.Close()
		out := forwardOne(s, lv, x, z)
		a := ac[k] / ac[k-1]
		res := s.DivScalar(s.SubScalar(out, 0.5*math.Sqrt(a)), math.Sqrt(1-a))
		hole := s.Narrow(res, 3, 0, 32)
		mean, _ := s.Mean(hole).Item()
		std, _ := s.Std(hole).Item()
		if math.Abs(mean) > 0.05 || math.Abs(std-1) > 0.05 {
			t.Fatalf("k %d: standardized hole residual mean %.3f std %.3f, want 0 and 1 (a = %.4f)", k, mean, std, a)
		}
		if d := tensortest.MaxAbsDiff(t, s.Narrow(out, 3, 32, 32), s.Narrow(x, 3, 32, 32)); d != 0 {
			t.Fatalf("k %d: known pixels moved by %g", k, d)
		}
	}
}
