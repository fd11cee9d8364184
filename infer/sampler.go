package infer

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
)

// Kind names a sampler.
type Kind string

const (
	// RAD is RAD's ancestral (DDPM) sampler: the default.
	RAD Kind = "rad"
	// RADDDIM is RAD with DDIM steps (Eta configurable).
	RADDDIM Kind = "rad-ddim"
	// RePaint is the RePaint baseline on the scalar embedding.
	RePaint Kind = "repaint"
)

// Process is RAD's reverse process over a respaced chain: phase 1 of the
// per-pixel schedule, run from its last step down to 0.
type Process struct {
	Schedule *diffusion.Schedule
	Mapper   *diffusion.TimestepMapper
	// Spatial feeds the model the per-pixel timestep map (RAD's spatial
	// noise embedding); otherwise the scalar timestep of the hole (the
	// paper's ablation "Cfg. 2", and plain ADM when m = 1).
	Spatial bool
	// DDIM takes DDIM steps with the given Eta instead of ancestral ones.
	DDIM bool
	Eta  float64
	// NoClip leaves x0 predictions unclipped (guided-diffusion's
	// clip_denoised=False).
	NoClip bool
}

// NewProcess makes the process of `steps` respaced steps (guided-diffusion's
// space_timesteps; "100", "ddim50", "10,20,..." also accepted through
// Respacing) over an unspaced base chain, with the timestep offset of the
// model's metadata.
func NewProcess(base *diffusion.Base, respacing string, offset float64) (*Process, error) {
	if base.Original != base {
		return nil, fmt.Errorf("process: the base chain must be unspaced")
	}
	r, err := base.Respace(respacing)
	if err != nil {
		return nil, fmt.Errorf("respacing %q of a %d-step chain: %w", respacing, base.N(), err)
	}
	return &Process{Schedule: diffusion.NewSchedule(r), Mapper: diffusion.NewTimestepMapper(base, offset), Spatial: true}, nil
}

// Close frees the device copy of the timestep table that the process's
// mapper keeps (diffusion.TimestepMapper.TableOn); the process stays
// usable.
func (p *Process) Close() { p.Mapper.Close() }

// Steps is the number of model calls of one run.
func (p *Process) Steps() int { return p.Schedule.N() }

// SampleOptions of a sampling run.
type SampleOptions struct {
	// Y is the class label [B] for class-conditional models, or nil.
	Y *torch.Tensor
	// Callback sees every step (i counts 1..total) with the current sample
	// and prediction of x0 (both owned by the sampler: copy to keep).
	Callback func(i, total int, x, predX0 *torch.Tensor)
	// Calls, if set, is incremented at every model call.
	Calls *atomic.Int64
	// PerSample, if set, gives every sample of the batch its own generator
	// (one per sample): a sample's noise then does not depend on the rest
	// of the batch, so it matches a run of that sample alone.
	PerSample []*torch.Generator
}

// Step is one reverse step at respaced step k (0..N-1) for the whole batch:
// the model is called once on x and the sample at step k-1 is returned,
// with the prediction of x0. noise is the step's Gaussian draw.
func (p *Process) Step(s *torch.Scope, model Denoiser, x, m *torch.Tensor, k int, noise *torch.Tensor, o SampleOptions) (next, predX0 *torch.Tensor, err error) {
	return p.step(s, model, x, m, k, noise, o, nil)
}

// step is Step with what a run computed once (nil for a lone step).
func (p *Process) step(s *torch.Scope, model Denoiser, x, m *torch.Tensor, k int, noise *torch.Tensor, o SampleOptions, r *run) (next, predX0 *torch.Tensor, err error) {
	b := int(x.Size(0))
	var lv *diffusion.Levels
	var post *diffusion.Posterior
	switch {
	case r != nil && r.levels != nil && r.index != nil:
		lv, post = r.levels.AtIndex(s, k, b, r.index)
	case r != nil && r.levels != nil:
		lv, post = r.levels.At(s, k, b, r.hole)
	default:
		if lv, err = p.Schedule.Levels(s, diffusion.Uniform(k, b), m); err != nil {
			return nil, nil, err
		}
		post = p.Schedule.PosteriorOf(s, lv, m)
	}
	var ts Timesteps
	switch {
	case p.Spatial && r != nil && r.index != nil:
		// a few mask values: each one's timestep at step k, known once
		ts.Map = s.Reshape(s.IndexSelect(s.Select(r.taus, 0, int64(k)), 0, s.Flatten(r.index, 0, -1)), r.index.Shape()...)
		ts.Levels = r.tauLevels[k]
	case p.Spatial && r != nil && r.hole != nil:
		// binary mask: hole pixels sit exactly at the chain's step k,
		// known ones at -1; the two levels are known, so the model need not
		// search for them
		hole := float64(p.Schedule.Base.TimestepMap[k]) + p.Mapper.Offset
		known := -1 + p.Mapper.Offset
		dev := x.Device()
		ts.Map = s.Where(r.hole, s.Full(hole, torch.Float32, dev), s.Full(known, torch.Float32, dev))
		ts.Levels = []float64{known, hole}
	case p.Spatial && r != nil:
		ts.Map = p.Mapper.MapWith(s, r.table, lv.Bbar)
	case p.Spatial:
		ts.Map = p.Mapper.Map(s, lv.Bbar)
	default:
		// a fill on the device: no host-to-device copy per step
		ts.Scalar = s.Full(float64(p.Schedule.Base.TimestepMap[k]), torch.Float32, x.Device(), int64(b))
	}
	out := model.Predict(s, x, ts, o.Y)
	if o.Calls != nil {
		o.Calls.Add(1)
	}
	if err := s.Err(); err != nil {
		return nil, nil, fmt.Errorf("model at step %d: %w", k, err)
	}
	pr := p.Schedule.PMeanVarianceOf(s, lv, post, x, out, PredictionOf(model), model.LearnSigma(), !p.NoClip)
	if p.DDIM {
		next = diffusion.DDIMStep(s, lv, pr, x, noise, p.Eta)
	} else {
		next = diffusion.AncestralStep(s, lv, pr, x, noise)
	}
	return next, pr.PredX0, s.Err()
}

// Start is the sample the reverse process starts from, at the top of phase
// 1: hole pixels (m = 1) are pure noise eps, known pixels (m = 0) are x0
// exactly, and gray pixels sqrt(A) x0 + sqrt(1 - A) eps at their own level.
func (p *Process) Start(s *torch.Scope, x0, m, eps *torch.Tensor) (*torch.Tensor, error) {
	b := int(x0.Size(0))
	lv, err := p.Schedule.Levels(s, diffusion.Uniform(p.Schedule.N()-1, b), m)
	if err != nil {
		return nil, err
	}
	hole := s.Expand(s.GeScalar(m, 1), x0.Shape()...)
	known := s.Expand(s.LeScalar(m, 0), x0.Shape()...)
	// never read the content under a hole
	clean := s.Where(hole, s.ZerosLike(x0), x0)
	gray := diffusion.QSample(s, lv, clean, eps)
	x := s.Where(hole, eps, s.Where(known, x0, gray))
	return x, s.Err()
}

// checkInputs validates the known image and mask of a run.
func checkInputs(x0, m *torch.Tensor) error {
	if !x0.Valid() || x0.Dim() != 4 {
		return fmt.Errorf("image must be [B,C,H,W], got %v", shapeOf(x0))
	}
	if !m.Valid() || m.Dim() != 4 || m.Size(1) != 1 || m.Size(0) != x0.Size(0) || m.Size(2) != x0.Size(2) || m.Size(3) != x0.Size(3) {
		return fmt.Errorf("mask must be [B,1,H,W] = [%d,1,%d,%d], got %v", x0.Size(0), x0.Size(2), x0.Size(3), shapeOf(m))
	}
	return nil
}

func shapeOf(t *torch.Tensor) any {
	if !t.Valid() {
		return "nil"
	}
	return t.Shape()
}

// Sample runs the reverse process from the top of phase 1 to 0: RAD
// inpainting of x0 [B,C,H,W] (in [-1, 1]) under mask m [B,1,H,W] (1 =
// hole). It makes exactly p.Steps() model calls, checks ctx between steps,
// and returns the result in s, known pixels bit-for-bit equal to x0.
func (p *Process) Sample(ctx context.Context, s *torch.Scope, model Denoiser, x0, m *torch.Tensor, g *torch.Generator, o SampleOptions) (*torch.Tensor, error) {
	if err := checkInputs(x0, m); err != nil {
		return nil, err
	}
	w := s.Child()
	defer w.Close()
	n := p.Schedule.N()
	r, err := p.prepare(w, x0, m, g, o.PerSample, n+1)
	if err != nil {
		return nil, err
	}
	x, err := p.Start(w, x0, m, r.noise.draw(w))
	if err != nil {
		return nil, err
	}
	for k := n - 1; k >= 0; k-- {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st := w.Child()
		noise := r.noise.draw(st)
		next, pred, err := p.step(st, model, x, m, k, noise, o, r)
		if err != nil {
			st.Close()
			return nil, err
		}
		if o.Callback != nil {
			o.Callback(n-k, n, next, pred)
		}
		st.Keep(next) // moves to w
		st.Close()
		// the previous sample is no longer needed: free it now, so that a
		// run holds one sample at a time, whatever its number of steps
		if x != next {
			x.Free()
		}
		x = next
	}
	// known pixels are exactly the input (they never moved; this also
	// holds for -0.0)
	known := s.Expand(s.LeScalar(m, 0), x0.Shape()...)
	out := s.Where(known, x0, s.Adopt(x))
	return out, s.Err()
}

// run holds what a sampling run computes once.
type run struct {
	hole   *torch.Tensor         // m >= 0.5 (bool) when the mask is binary, else nil
	levels *diffusion.LevelTable // binary masks and masks of a few values: every step's levels, computed once
	// masks of a few values (soft masks, guided starts): each pixel's
	// column of levels (int64 [B,1,H,W]), every step's timestep per column
	// ([N, L] float32) and its distinct values
	index     *torch.Tensor
	taus      *torch.Tensor
	tauLevels [][]float64
	table     *torch.Tensor // the timestep mapper's table on the device (kept by the mapper)
	noise     noise
}

// prepare looks at the mask once (binary or not) and sets up the noise
// for `draws` draws of x0's shape.
func (p *Process) prepare(s *torch.Scope, x0, m *torch.Tensor, g *torch.Generator, per []*torch.Generator, draws int) (*run, error) {
	noise, err := newNoise(s, g, per, x0, draws)
	if err != nil {
		return nil, err
	}
	r := &run{noise: noise}
	binary, err := s.All(s.LogicalOr(s.EqScalar(m, 0), s.EqScalar(m, 1))).Item()
	if err != nil {
		return nil, err
	}
	if binary == 1 {
		r.hole = s.GeScalar(m, 0.5)
		if r.levels, err = diffusion.NewLevelTable(s, p.Schedule, x0.Device()); err != nil {
			return nil, err
		}
	} else if ok, err := p.prepareFew(s, r, m); err != nil {
		return nil, err
	} else if !ok && p.Spatial {
		if r.table, err = p.Mapper.TableOn(x0.Device()); err != nil {
			return nil, err
		}
	}
	return r, s.Err()
}

// maxMaskValues bounds the distinct values of a mask that the table path
// takes (the model's spatial embedding is fast up to MaxFastLevels).
const maxMaskValues = 8

// prepareFew sets up the table path for a mask of a few distinct values
// (soft masks, guided starts); it reports whether it applied.
func (p *Process) prepareFew(s *torch.Scope, r *run, m *torch.Tensor) (bool, error) {
	vals, inv := s.Unique(m)
	if err := s.Err(); err != nil {
		return false, err
	}
	if vals.Numel() > maxMaskValues {
		return false, nil
	}
	values, err := s.To(vals, torch.Float32).Float32s()
	if err != nil {
		return false, err
	}
	if r.levels, err = diffusion.NewLevelTableOf(s, p.Schedule, m.Device(), values); err != nil {
		return false, err
	}
	r.index = s.Reshape(inv, m.Shape()...)
	if p.Spatial {
		r.taus = p.Mapper.Map(s, r.levels.Bbar(s)) // [N, L] float32
		all, err := r.taus.Float32s()
		if err != nil {
			return false, err
		}
		l := len(values)
		r.tauLevels = make([][]float64, p.Schedule.N())
		for k := range r.tauLevels {
			seen := map[float32]bool{}
			for _, v := range all[k*l : (k+1)*l] {
				if !seen[v] {
					seen[v] = true
					r.tauLevels[k] = append(r.tauLevels[k], float64(v))
				}
			}
		}
	}
	return true, s.Err()
}

// noise is a run's sequence of Gaussian draws of the sample's shape.
type noise interface {
	draw(s *torch.Scope) *torch.Tensor
}

// newNoise draws from g for the whole batch, or from one generator per
// sample (per, one per sample of x0).
func newNoise(s *torch.Scope, g *torch.Generator, per []*torch.Generator, x0 *torch.Tensor, draws int) (noise, error) {
	if per == nil {
		return newNoiseSource(s, g, x0, draws), nil
	}
	if int64(len(per)) != x0.Size(0) {
		return nil, fmt.Errorf("%d per-sample generators for a batch of %d", len(per), x0.Size(0))
	}
	one := s.Narrow(x0, 0, 0, 1)
	b := make(batchNoise, len(per))
	for i, pg := range per {
		b[i] = newNoiseSource(s, pg, one, draws)
	}
	return b, nil
}

// batchNoise stacks every sample's own draws.
type batchNoise []*noiseSource

func (b batchNoise) draw(s *torch.Scope) *torch.Tensor {
	if len(b) == 1 {
		return b[0].draw(s)
	}
	parts := make([]*torch.Tensor, len(b))
	for i, src := range b {
		parts[i] = src.draw(s)
	}
	return s.Cat(0, parts...)
}

// noiseSource draws the Gaussian noise of a run from the CPU generator in
// chunks of several draws, each moved to the device in one copy (a copy
// from the host synchronises a CUDA stream; one per step would stall it).
// The numbers depend only on the seed, not on the device.
type noiseSource struct {
	scope     *torch.Scope
	g         *torch.Generator
	dt        torch.DType
	dev       torch.Device
	shape     []int64
	left      int // draws still to make
	buf       *torch.Tensor
	next, cap int
}

// maxNoiseChunk bounds a chunk's size in bytes: small enough that a run's
// peak memory does not depend on its number of steps (a 256x256 image's
// 100 draws are 79 MB; 8 MB is ten of them), large enough that a CUDA
// run copies noise to the device once per ten steps, not every step.
const maxNoiseChunk = 8 << 20

func newNoiseSource(s *torch.Scope, g *torch.Generator, like *torch.Tensor, draws int) *noiseSource {
	return &noiseSource{scope: s, g: g, dt: like.DType(), dev: like.Device(), shape: like.Shape(), left: draws}
}

// draw returns the next draw (a view owned by s).
func (n *noiseSource) draw(s *torch.Scope) *torch.Tensor {
	if n.buf == nil || n.next == n.cap {
		n.buf.Free()
		per := int64(n.dt.Size())
		for _, d := range n.shape {
			per *= d
		}
		n.cap = int(max(1, min(int64(max(n.left, 1)), maxNoiseChunk/max(per, 1))))
		cpu := n.scope.Randn(n.g, n.dt, torch.CPU, append([]int64{int64(n.cap)}, n.shape...)...)
		n.buf = cpu
		if n.dev != torch.CPU {
			n.buf = n.scope.ToDevice(cpu, n.dev, n.dt)
			cpu.Free()
		}
		n.next = 0
		n.left -= n.cap
	}
	v := s.Select(n.buf, 0, int64(n.next))
	n.next++
	return v
}
