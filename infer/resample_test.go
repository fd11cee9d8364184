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
	p := process20(t)
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
	p := process20(t)
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

// process20 is RAD's process of 20 respaced steps over the linear
// 1000-step chain, closed with the test.
func process20(t *testing.T) *Process {
	t.Helper()
	base, _ := diffusion.NewNamedBase("linear", 1000)
	p, err := NewProcess(base, "20", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// oracleModel knows that every image is the constant c: its eps is exact
// for a hole at the timestep the sampler feeds (binary masks: the hole's is
// the largest of Timesteps.Levels) and its variance is the posterior's
// (interpolation -1), so every reverse step samples q(x_{k-1} | x_k, x0)
// exactly.
type oracleModel struct {
	c    float64
	abar []float64 // the unspaced chain's
}

func (o oracleModel) Predict(s *torch.Scope, x *torch.Tensor, ts Timesteps, _ *torch.Tensor) *torch.Tensor {
	a := o.abar[int(ts.Levels[len(ts.Levels)-1])]
	eps := s.DivScalar(s.SubScalar(x, math.Sqrt(a)*o.c), math.Sqrt(1-a))
	return s.Cat(1, eps, s.FullLike(x, -1))
}
func (oracleModel) LearnSigma() bool { return true }

// TestResampledMarginals: with an exact model of a point-mass data set the
// hole's state after every reverse step has the marginal of the forward
// process at its level, N(sqrt(A) c, 1 - A), also after jumps back; a jump
// that took the wrong step's kernel would break it.
func TestResampledMarginals(t *testing.T) {
	base, _ := diffusion.NewNamedBase("linear", 1000)
	p := process20(t)
	s := torch.NewNoGradScope()
	defer s.Close()
	const c = 0.3
	x0 := s.FullLike(s.Zeros(torch.Float32, torch.CPU, 1, 3, 64, 64), c)
	m := s.Zeros(torch.Float32, torch.CPU, 1, 1, 64, 64)
	s.Narrow(m, 3, 0, 48).Fill(1)
	ro := ResampleOpts{JumpLength: 4, JumpNSample: 3}
	times := JumpSchedule(20, ro.JumpLength, ro.JumpNSample)
	var downs []int // the step of each call, in order
	for i := 0; i+1 < len(times); i++ {
		if times[i+1] < times[i] {
			downs = append(downs, times[i])
		}
	}
	ac := p.Schedule.Base.AlphasCumprod()
	checked := 0
	o := SampleOptions{Callback: func(i, total int, x, _ *torch.Tensor) {
		k := downs[i-1] - 1 // x is at step k's level
		if k < 0 {
			return
		}
		res := s.DivScalar(s.SubScalar(s.Narrow(x, 3, 0, 48), math.Sqrt(ac[k])*c), math.Sqrt(1-ac[k]))
		mean, _ := s.Mean(res).Item()
		std, _ := s.Std(res).Item()
		if math.Abs(mean) > 0.05 || math.Abs(std-1) > 0.05 {
			t.Errorf("call %d (level of step %d): standardized hole mean %.3f std %.3f, want 0 and 1", i, k, mean, std)
		}
		checked++
	}}
	g := torch.NewGenerator(5)
	defer g.Close()
	out, err := p.SampleResampled(context.Background(), s, oracleModel{c: c, abar: base.AlphasCumprod()}, x0, m, g, o, ro)
	if err != nil {
		t.Fatal(err)
	}
	if checked != len(downs)-1 || len(downs) <= 20 {
		t.Fatalf("checked %d of %d calls", checked, len(downs))
	}
	if d := tensortest.MaxAbsDiff(t, out, x0); d > 1e-4 {
		t.Fatalf("the exact model's result is off the data by %g", d)
	}
}
