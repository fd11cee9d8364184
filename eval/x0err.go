package eval

import (
	"context"
	"fmt"
	"math"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/radmodel/masks"
	"github.com/radinpaint/rad/torch"
)

// X0Mode is the noisy state and timestep input X0Error measures a model on.
type X0Mode string

const (
	// X0RAD is RAD's phase-1 state at step k (hole pixels at abar_k, known
	// pixels clean) with the per-pixel timestep map (hole k, known -1): what
	// RAD's sampler feeds the model.
	X0RAD X0Mode = "rad"
	// X0Cfg2 is the same state with the hole's scalar timestep (the paper's
	// Cfg. 2).
	X0Cfg2 X0Mode = "cfg2"
	// X0RePaint is the whole image at abar_k with the scalar timestep k:
	// what a plain ADM sees inside RePaint.
	X0RePaint X0Mode = "repaint"
)

// X0Config is one measurement of what a model knows at each noise level.
type X0Config struct {
	// Model is the network; its parameterization (infer.PredictionOf)
	// turns its output into x0.
	Model infer.Denoiser
	// Base is the unspaced chain the model was trained on; Offset its
	// timestep offset (adapter metadata).
	Base   *diffusion.Base
	Offset float64
	// Images are the held-out images (in [-1, 1]); Masks one hole mask per
	// image and repeat: image i, repeat r gets mask Masks[r*N+i].
	Images  Images
	Masks   []*masks.Mask
	Repeats int
	// Steps are the chain steps k (0..N-1) to measure at.
	Steps []int
	// Mode picks the state and timestep input (X0RAD by default).
	Mode X0Mode
	// Seed: the noise of image i, repeat r, step k comes from seed + a
	// hash of (i, r, k), so every model sees the same noisy states.
	Seed      uint64
	BatchSize int
	Device    torch.Device
}

// X0Row is the x0-prediction error over the hole at one step: means over
// the samples of the per-sample MSE (on [-1, 1] values), with the standard
// error of the model's.
type X0Row struct {
	K int `json:"k"`
	// ABar is the hole's signal level abar_k.
	ABar float64 `json:"abar"`
	// Model is the model's x0 prediction (clipped to [-1, 1], as the
	// samplers clip it); KnownMean predicts the known pixels' mean colour
	// over the whole hole; Zero predicts 0 (mid-gray).
	Model     float64 `json:"model"`
	ModelSE   float64 `json:"model_se"`
	KnownMean float64 `json:"known_mean"`
	Zero      float64 `json:"zero"`
	// Ratio is Model / KnownMean: below 1 the model uses the context better
	// than a flat fill with its mean colour.
	Ratio float64 `json:"ratio"`
	N     int     `json:"n"`
}

// X0Error measures, at each step k, how well the model predicts the hole's
// x0 from a noisy state, beside the known-mean and zero predictors
// (docs/DESIGN.md §9.1). The model's prediction is the x0 that its sampler
// would use at that step (the parameterization's, clipped).
func X0Error(ctx context.Context, cfg X0Config) ([]X0Row, error) {
	im := cfg.Images
	if cfg.Model == nil || cfg.Base == nil {
		return nil, fmt.Errorf("eval: x0err: no model or chain")
	}
	if cfg.Repeats < 1 {
		cfg.Repeats = 1
	}
	if cfg.BatchSize < 1 {
		cfg.BatchSize = 8
	}
	if cfg.Mode == "" {
		cfg.Mode = X0RAD
	}
	if cfg.Mode != X0RAD && cfg.Mode != X0Cfg2 && cfg.Mode != X0RePaint {
		return nil, fmt.Errorf("eval: x0err: mode %q (want rad, cfg2 or repaint)", cfg.Mode)
	}
	total := im.N * cfg.Repeats
	if im.N < 1 || len(cfg.Masks) != total {
		return nil, fmt.Errorf("eval: x0err: %d masks for %d images x %d repeats", len(cfg.Masks), im.N, cfg.Repeats)
	}
	for _, m := range cfg.Masks {
		if m.W != im.W || m.H != im.H {
			return nil, fmt.Errorf("eval: x0err: a %dx%d mask for %dx%d images", m.W, m.H, im.W, im.H)
		}
	}
	n := cfg.Base.N()
	for _, k := range cfg.Steps {
		if k < 0 || k >= n {
			return nil, fmt.Errorf("eval: x0err: step %d outside 0..%d", k, n-1)
		}
	}
	proc, err := infer.NewProcess(cfg.Base, fmt.Sprint(n), cfg.Offset)
	if err != nil {
		return nil, err
	}
	defer proc.Close()
	proc.Spatial = cfg.Mode == X0RAD
	abar := cfg.Base.AlphasCumprod()
	c, p := im.C, im.H*im.W
	per := c * p
	rows := make([]X0Row, len(cfg.Steps))
	for si, k := range cfg.Steps {
		var model, known, zero []float64
		for lo := 0; lo < total; lo += cfg.BatchSize {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			hi := min(total, lo+cfg.BatchSize)
			b := hi - lo
			x0 := make([]float32, b*per)
			mk := make([]float32, b*p)
			for j := 0; j < b; j++ {
				idx := lo + j
				copy(x0[j*per:(j+1)*per], im.Data[(idx%im.N)*per:(idx%im.N+1)*per])
				for q, v := range cfg.Masks[idx].Pix {
					mk[j*p+q] = float32(v)
				}
			}
			mv, kv, zv, err := x0Batch(ctx, &cfg, proc, k, lo, x0, mk, b, c, im.H, im.W)
			if err != nil {
				return nil, fmt.Errorf("eval: x0err at step %d: %w", k, err)
			}
			model, known, zero = append(model, mv...), append(known, kv...), append(zero, zv...)
		}
		r := X0Row{K: k, ABar: abar[k], Model: mean(model), KnownMean: mean(known), Zero: mean(zero), N: len(model)}
		r.ModelSE = stdErr(model)
		if r.KnownMean > 0 {
			r.Ratio = r.Model / r.KnownMean
		}
		rows[si] = r
	}
	return rows, nil
}

func stdErr(v []float64) float64 {
	if len(v) < 2 {
		return 0
	}
	m := mean(v)
	ss := 0.0
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(v)-1) / float64(len(v)))
}

// x0Batch measures one batch at step k: per sample the hole MSE of the
// model's x0, of the known mean and of zero.
func x0Batch(ctx context.Context, cfg *X0Config, proc *infer.Process, k, lo int, x0, mk []float32, b, c, h, w int) (model, known, zero []float64, err error) {
	s := torch.NewNoGradScope().SetInference(true)
	defer s.Close()
	dev := cfg.Device
	xt := torch.FromSliceOn(s, dev, x0, int64(b), int64(c), int64(h), int64(w))
	m := torch.FromSliceOn(s, dev, mk, int64(b), 1, int64(h), int64(w))
	eps := make([]*torch.Tensor, b)
	for j := 0; j < b; j++ {
		g := torch.NewGenerator(cfg.Seed ^ uint64(lo+j)*0x9e3779b97f4a7c15 ^ uint64(k+1)*0xbf58476d1ce4e5b9)
		eps[j] = s.Randn(g, torch.Float32, torch.CPU, 1, int64(c), int64(h), int64(w))
		g.Close()
	}
	noise := s.ToDevice(s.Cat(0, eps...), dev, torch.Float32)
	state := m
	if cfg.Mode == X0RePaint {
		state = s.OnesLike(m)
	}
	lv, err := proc.Schedule.Levels(s, diffusion.Uniform(k, b), state)
	if err != nil {
		return nil, nil, nil, err
	}
	noisy := diffusion.QSample(s, lv, xt, noise)
	zeros := s.ZerosLike(noise)
	_, pred, err := proc.Step(s, cfg.Model, noisy, m, k, zeros, infer.SampleOptions{})
	if err != nil {
		return nil, nil, nil, err
	}
	pv, err := s.To(pred, torch.Float32).Float32s()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := s.Err(); err != nil {
		return nil, nil, nil, err
	}
	p := h * w
	per := c * p
	for j := 0; j < b; j++ {
		var sm, sk, sz float64
		holes := 0
		for ch := 0; ch < c; ch++ {
			var kn float64
			nk := 0
			for q := 0; q < p; q++ {
				if mk[j*p+q] < 0.5 {
					kn += float64(x0[j*per+ch*p+q])
					nk++
				}
			}
			if nk > 0 {
				kn /= float64(nk)
			}
			for q := 0; q < p; q++ {
				if mk[j*p+q] < 0.5 {
					continue
				}
				t := float64(x0[j*per+ch*p+q])
				d := float64(pv[j*per+ch*p+q]) - t
				sm += d * d
				sk += (kn - t) * (kn - t)
				sz += t * t
				holes++
			}
		}
		if holes == 0 {
			continue
		}
		model = append(model, sm/float64(holes))
		known = append(known, sk/float64(holes))
		zero = append(zero, sz/float64(holes))
	}
	return model, known, zero, nil
}
