package infer

import (
	"context"
	"fmt"

	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
)

// RePaintOpts are RePaint's resampling settings (Lugmayr et al. 2022).
type RePaintOpts struct {
	Respacing   string // respaced steps of the base chain ("250")
	JumpLength  int    // steps jumped back each time (10)
	JumpNSample int    // passes over each jump (10)
}

// DefaultRePaint is RePaint's published setting: 250 steps, jump length 10,
// 10 resamplings, 2,410 model calls.
var DefaultRePaint = RePaintOpts{Respacing: "250", JumpLength: 10, JumpNSample: 10}

// JumpSchedule is RePaint's get_schedule_jump: the sequence of timesteps
// visited from T down to -1, going back jumpLength steps jumpN-1 extra
// times at every multiple of jumpLength below T - jumpLength.
func JumpSchedule(t, jumpLength, jumpN int) []int {
	jumps := map[int]int{}
	for j := 0; j < t-jumpLength; j += jumpLength {
		jumps[j] = jumpN - 1
	}
	ts := []int{}
	cur := t
	for cur >= 1 {
		cur--
		ts = append(ts, cur)
		if jumps[cur] > 0 {
			jumps[cur]--
			for i := 0; i < jumpLength; i++ {
				cur++
				ts = append(ts, cur)
			}
		}
	}
	return append(ts, -1)
}

// RePaintCalls is the number of model calls of a RePaint run.
func RePaintCalls(t, jumpLength, jumpN int) int {
	ts := JumpSchedule(t, jumpLength, jumpN)
	n := 0
	for i := 0; i+1 < len(ts); i++ {
		if ts[i+1] < ts[i] {
			n++
		}
	}
	return n
}

// RePaintSample is the RePaint baseline on the scalar timestep embedding of
// the same base model: every reverse step runs on the whole image after
// the known region (m = 0 side) is replaced by the input noised to that
// step, and the chain jumps back and resamples per the jump schedule. The
// known pixels of the result are the input's, exactly.
func RePaintSample(ctx context.Context, s *torch.Scope, model Denoiser, x0, m *torch.Tensor, base *diffusion.Base,
	ro RePaintOpts, g *torch.Generator, o SampleOptions) (*torch.Tensor, error) {
	if err := checkInputs(x0, m); err != nil {
		return nil, err
	}
	p, err := NewProcess(base, ro.Respacing, 0)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if ro.JumpLength < 1 || ro.JumpNSample < 1 {
		return nil, fmt.Errorf("repaint: jump length %d and jump samples %d must be >= 1", ro.JumpLength, ro.JumpNSample)
	}
	p.Spatial = false
	chain := p.Schedule.Base
	w := s.Child()
	defer w.Close()
	ones := w.OnesLike(m) // plain ADM: every pixel follows the chain
	// every step's levels and posterior computed once, as RAD's sampler
	// does: the two samplers differ in method, not in implementation
	r := &run{hole: w.GeScalar(ones, 0.5)}
	if r.levels, err = diffusion.NewLevelTable(w, p.Schedule, x0.Device()); err != nil {
		return nil, err
	}
	keep := w.To(w.RSubScalar(1, m), x0.DType())
	gt := w.Where(w.Expand(w.GeScalar(m, 1), x0.Shape()...), w.ZerosLike(x0), x0) // never read under holes
	times := JumpSchedule(chain.N(), ro.JumpLength, ro.JumpNSample)
	total := RePaintCalls(chain.N(), ro.JumpLength, ro.JumpNSample)
	// one draw to start, two per reverse step, one per step back
	noise, err := newNoise(w, g, o.PerSample, x0, 1+2*total+(len(times)-1-total))
	if err != nil {
		return nil, err
	}
	x := noise.draw(w)
	calls := 0
	for i := 0; i+1 < len(times); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tLast, tCur := times[i], times[i+1]
		prev := x // owned by w
		st := w.Child()
		var next, pred *torch.Tensor
		if tCur < tLast {
			if calls > 0 {
				// known region at the noise level of tLast
				noised := chain.QSampleStep(st, gt, noise.draw(st), tLast)
				x = st.Add(st.Mul(keep, noised), st.Mul(st.RSubScalar(1, keep), x))
			}
			next, pred, err = p.step(st, model, x, ones, tLast, noise.draw(st), o, r)
			if err != nil {
				st.Close()
				return nil, err
			}
			calls++
			if o.Callback != nil {
				o.Callback(calls, total, next, pred)
			}
		} else {
			// back in time: x_{t+1} ~ q(x_{t+1} | x_t)
			next = chain.ForwardStep(st, x, noise.draw(st), tLast)
		}
		if err := st.Err(); err != nil {
			st.Close()
			return nil, err
		}
		st.Keep(next)
		st.Close()
		// free the previous sample now: memory stays flat over the run's
		// thousands of iterations
		if prev != next {
			prev.Free()
		}
		x = next
	}
	known := s.Expand(s.LeScalar(m, 0), x0.Shape()...)
	out := s.Where(known, x0, s.Adopt(x))
	return out, s.Err()
}
