package infer

import (
	"context"
	"fmt"

	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
)

// ResampleVersion numbers the behaviour of this file's code (resampled
// RAD runs), as SamplerVersion numbers the rest of the sampling code: keys
// that cache resampled samples include both (TestResampleVersion).
const ResampleVersion = 1

// ResampleOpts are RePaint's time travel (Lugmayr et al. 2022, its jump
// schedule) applied to RAD's own process: a departure from the paper,
// whose point is that RAD needs no resampling. JumpNSample <= 1 is off
// (the plain process).
type ResampleOpts struct {
	JumpLength  int // steps jumped back each time (RePaint: 10)
	JumpNSample int // passes over each jump (RePaint: 10; 1: off)
}

// On reports whether the options resample at all.
func (o ResampleOpts) On() bool { return o.JumpNSample > 1 }

func (o ResampleOpts) check() error {
	if o.JumpLength < 1 || o.JumpNSample < 1 {
		return fmt.Errorf("resample: jump length %d and jump samples %d must be >= 1", o.JumpLength, o.JumpNSample)
	}
	return nil
}

// ResampledCalls is the number of model calls of p's run under o.
func (p *Process) ResampledCalls(o ResampleOpts) int {
	if !o.On() {
		return p.Steps()
	}
	return RePaintCalls(p.Schedule.N(), o.JumpLength, o.JumpNSample)
}

// SampleResampled is Sample with RePaint's jump schedule over RAD's
// per-pixel process (docs/DESIGN.md §4.9): the reverse steps are RAD's
// (p.step: known pixels never move), and each jump back takes every pixel
// one step forward along its own schedule, x_{k} = sqrt(a_k) x_{k-1} +
// sqrt(b_k) z with RAD's per-pixel one-step a = A(k)/A(k-1) and b = 1 - a.
// A known pixel (a = 1, b = 0: frozen) stays exactly as it is, so unlike
// RePaint nothing re-noises the known region. With o.JumpNSample 1 it is
// Sample exactly (the same draws in the same order).
func (p *Process) SampleResampled(ctx context.Context, s *torch.Scope, model Denoiser, x0, m *torch.Tensor, g *torch.Generator,
	o SampleOptions, ro ResampleOpts) (*torch.Tensor, error) {
	if err := checkInputs(x0, m); err != nil {
		return nil, err
	}
	if err := ro.check(); err != nil {
		return nil, err
	}
	w := s.Child()
	defer w.Close()
	n := p.Schedule.N()
	times := JumpSchedule(n, ro.JumpLength, ro.JumpNSample)
	total := RePaintCalls(n, ro.JumpLength, ro.JumpNSample)
	// one draw to start, one per move (down or back)
	r, err := p.prepare(w, x0, m, g, o.PerSample, len(times))
	if err != nil {
		return nil, err
	}
	x, err := p.Start(w, x0, m, r.noise.draw(w))
	if err != nil {
		return nil, err
	}
	b := int(x0.Size(0))
	calls := 0
	for i := 0; i+1 < len(times); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tLast, tCur := times[i], times[i+1]
		st := w.Child()
		noise := r.noise.draw(st)
		var next *torch.Tensor
		if tCur < tLast {
			var pred *torch.Tensor
			if next, pred, err = p.step(st, model, x, m, tLast, noise, o, r); err != nil {
				st.Close()
				return nil, err
			}
			calls++
			if o.Callback != nil {
				o.Callback(calls, total, next, pred)
			}
		} else {
			lv, err := p.levelsAt(st, r, tCur, b, m)
			if err != nil {
				st.Close()
				return nil, err
			}
			next = forwardOne(st, lv, x, noise)
		}
		if err := st.Err(); err != nil {
			st.Close()
			return nil, err
		}
		st.Keep(next) // moves to w
		st.Close()
		if x != next {
			x.Free()
		}
		x = next
	}
	known := s.Expand(s.LeScalar(m, 0), x0.Shape()...)
	out := s.Where(known, x0, s.Adopt(x))
	return out, s.Err()
}

// levelsAt is every pixel's level at step k, from what the run computed
// once where it can (the same cases as step).
func (p *Process) levelsAt(s *torch.Scope, r *run, k, b int, m *torch.Tensor) (*diffusion.Levels, error) {
	switch {
	case r.levels != nil && r.index != nil:
		lv, _ := r.levels.AtIndex(s, k, b, r.index)
		return lv, nil
	case r.levels != nil:
		lv, _ := r.levels.At(s, k, b, r.hole)
		return lv, nil
	}
	return p.Schedule.Levels(s, diffusion.Uniform(k, b), m)
}

// forwardOne is one step of the per-pixel forward process, q(x_s |
// x_{s-1}) = N(sqrt(a) x_{s-1}, b), at the levels lv of step s; a frozen
// pixel (no noise at s, or b = 0) is returned exactly.
func forwardOne(s *torch.Scope, lv *diffusion.Levels, x, noise *torch.Tensor) *torch.Tensor {
	sa := s.To(s.Sqrt(lv.Alpha), x.DType())
	sb := s.To(s.Sqrt(lv.Beta), x.DType())
	return s.Where(lv.Frozen, x, s.Add(s.Mul(sa, x), s.Mul(sb, noise)))
}
