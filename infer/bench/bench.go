package bench

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"sort"
	"time"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
)

// Options of Run.
type Options struct {
	Steps   int               // RAD steps (100)
	Runs    int               // runs of each sampler, interleaved; the median of each is reported (3)
	RePaint infer.RePaintOpts // the RePaint baseline's settings (infer.DefaultRePaint)
	// SkipRePaint measures RAD only.
	SkipRePaint bool
	// Forwards is the number of forwards per embedding in the overhead
	// measurement (10).
	Forwards int
	// Progress, if set, sees every step of every timed run.
	Progress func(sampler string, i, total int)
}

// Row is one sampler's timing.
type Row struct {
	Sampler    string  `json:"sampler"`
	ModelCalls int64   `json:"model_calls"`
	Seconds    float64 `json:"seconds"`
	MsPerCall  float64 `json:"ms_per_call"`
}

// Report is what Run measured.
type Report struct {
	Model           string  `json:"model"`
	Device          string  `json:"device"`
	ImageSize       int     `json:"image_size"`
	Runs            int     `json:"runs_per_sampler"`
	Rows            []Row   `json:"rows"`
	WallRatio       float64 `json:"repaint_over_rad_wall"`
	ScalarMs        float64 `json:"scalar_forward_ms"`
	SpatialMs       float64 `json:"spatial_forward_ms"`
	SpatialOverhead float64 `json:"spatial_overhead_pct"`
	MathMsPerStep   float64 `json:"sampler_math_ms_per_step"`
	RADOverhead     float64 `json:"rad_over_plain_calls_pct"`
}

// Run measures m (named name in the report) with the chain of spec: RAD
// against RePaint on a generated image with a centred box hole of half
// the model's size (each sampler o.Runs times, interleaved, medians), the
// spatial embedding's cost against the scalar one, and the sampler's own
// math per step (with NullDenoiser).
func Run(ctx context.Context, m *radmodel.UNet, spec radmodel.Spec, name string, o Options) (*Report, error) {
	if o.Steps == 0 {
		o.Steps = 100
	}
	if o.Runs < 1 {
		o.Runs = 3
	}
	if o.Forwards < 1 {
		o.Forwards = 10
	}
	if o.RePaint.Respacing == "" {
		o.RePaint = infer.DefaultRePaint
	}
	ip, err := infer.New(infer.Config{Model: m, DiffusionSteps: spec.Diffusion.DiffusionSteps, NoiseSchedule: spec.Diffusion.NoiseSchedule})
	if err != nil {
		return nil, err
	}
	defer ip.Close()
	size := m.Config().ImageSize
	img, mask := Inputs(size)
	r := &Report{Model: name, Device: m.Device().String(), ImageSize: size, Runs: o.Runs}
	run := func(io infer.Options) (Row, error) {
		if o.Progress != nil {
			io.Progress = func(i, total int) { o.Progress(string(io.Sampler), i, total) }
		}
		_, st, err := ip.Inpaint(ctx, img, mask, io)
		if err != nil {
			return Row{}, err
		}
		return Row{Sampler: string(io.Sampler), ModelCalls: st.ModelCalls, Seconds: st.Seconds,
			MsPerCall: 1000 * st.Seconds / float64(max(st.ModelCalls, 1))}, nil
	}
	// warm up (CUDA loads kernels lazily on first use, cuDNN picks
	// algorithms, allocators grow): a few steps of each sampler, untimed
	if _, _, err := ip.Inpaint(ctx, img, mask, infer.Options{Sampler: infer.RAD, Steps: 2}); err != nil {
		return nil, err
	}
	if !o.SkipRePaint {
		warm := infer.Options{Sampler: infer.RePaint, RePaint: infer.RePaintOpts{Respacing: "4", JumpLength: 1, JumpNSample: 2}}
		if _, _, err := ip.Inpaint(ctx, img, mask, warm); err != nil {
			return nil, err
		}
	}
	// each sampler runs the same number of times, interleaved, and the
	// median of each is reported: a comparison of methods under the same
	// timing noise
	median := func(rows []Row) Row {
		sort.Slice(rows, func(i, j int) bool { return rows[i].Seconds < rows[j].Seconds })
		return rows[len(rows)/2]
	}
	var rads, rps []Row
	for i := 0; i < o.Runs; i++ {
		row, err := run(infer.Options{Sampler: infer.RAD, Steps: o.Steps})
		if err != nil {
			return nil, err
		}
		rads = append(rads, row)
		if !o.SkipRePaint {
			row, err := run(infer.Options{Sampler: infer.RePaint, RePaint: o.RePaint})
			if err != nil {
				return nil, err
			}
			rps = append(rps, row)
		}
	}
	rad := median(rads)
	r.Rows = append(r.Rows, rad)
	if len(rps) > 0 {
		rp := median(rps)
		r.Rows = append(r.Rows, rp)
		r.WallRatio = rp.Seconds / rad.Seconds
	}
	if r.ScalarMs, r.SpatialMs, err = EmbeddingCost(m, size, o.Forwards); err != nil {
		return nil, err
	}
	r.SpatialOverhead = 100 * (r.SpatialMs/r.ScalarMs - 1)
	if r.MathMsPerStep, err = SamplerMath(ctx, m, spec, o.Steps); err != nil {
		return nil, err
	}
	r.RADOverhead = 100 * (rad.Seconds*1000/(float64(rad.ModelCalls)*r.ScalarMs) - 1)
	return r, nil
}

// forwardInputs are a forward's inputs at batch 1 on m's device: a random
// image of size x size, the scalar timestep 500 and the timestep map of a
// centred box hole at 500 on clean pixels (-1), labels 0 for a
// class-conditional model.
type forwardInputs struct{ x, t, tau, y *torch.Tensor }

func newForwardInputs(s *torch.Scope, m *radmodel.UNet, size int) (forwardInputs, error) {
	g := torch.NewGenerator(3)
	defer g.Close()
	cfg := m.Config()
	dev := m.Device()
	sz := int64(size)
	in := forwardInputs{
		x:   s.Randn(g, torch.Float32, dev, 1, int64(cfg.InChannels), sz, sz),
		t:   s.Full(500, torch.Float32, dev, 1),
		tau: s.Full(-1, torch.Float32, dev, 1, 1, sz, sz),
	}
	if err := s.Narrow(s.Narrow(in.tau, 2, sz/4, sz/2), 3, sz/4, sz/2).Fill(500); err != nil {
		return in, err
	}
	if cfg.NumClasses > 0 {
		in.y = torch.FromSliceOn(s, dev, []int64{0})
	}
	return in, s.Err()
}

// tauLevels are the map's values, listed as RAD's sampler does for binary
// masks (the spatial embedding's fast path then needs no search).
var tauLevels = []float64{-1, 500}

// EmbeddingCost times forwards with a scalar timestep and with a box-hole
// timestep map, interleaved, and returns the mean milliseconds of each.
func EmbeddingCost(m *radmodel.UNet, size, n int) (float64, float64, error) {
	s := torch.NewNoGradScope().SetInference(true)
	defer s.Close()
	in, err := newForwardInputs(s, m, size)
	if err != nil {
		return 0, 0, err
	}
	dev := m.Device()
	var scalar, spatial time.Duration
	for i := 0; i < n+1; i++ {
		for _, tt := range []*torch.Tensor{in.t, in.tau} {
			cs := s.Child()
			start := time.Now()
			m.ForwardWith(cs, in.x, tt, in.y, radmodel.ForwardOpts{TauLevels: tauLevels})
			if dev.IsCUDA() {
				torch.CUDASynchronize(dev.Index)
			}
			el := time.Since(start)
			if err := cs.Err(); err != nil {
				return 0, 0, err
			}
			cs.Close()
			if i == 0 {
				continue // warm-up
			}
			if tt == in.t {
				scalar += el
			} else {
				spatial += el
			}
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
	return ms(scalar), ms(spatial), nil
}

// Inputs is a generated image with a centred box hole of half size.
func Inputs(size int) (image.Image, image.Image) {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	mask := image.NewGray(image.Rect(0, 0, size, size))
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			img.SetRGBA(x, y, color.RGBA{uint8(x * 255 / size), uint8(y * 255 / size), 128, 255})
			if x >= size/4 && x < 3*size/4 && y >= size/4 && y < 3*size/4 {
				mask.SetGray(x, y, color.Gray{255})
			}
		}
	}
	return img, mask
}

// NullDenoiser predicts zero noise (and mid variance when Sigma) without
// any network: it isolates the sampler's own per-step work.
type NullDenoiser struct{ Sigma bool }

// Predict returns zeros of the model output's shape.
func (n NullDenoiser) Predict(s *torch.Scope, x *torch.Tensor, _ infer.Timesteps, _ *torch.Tensor) *torch.Tensor {
	if n.Sigma {
		return s.Cat(1, s.ZerosLike(x), s.ZerosLike(x))
	}
	return s.ZerosLike(x)
}

// LearnSigma reports whether the output has the variance channels.
func (n NullDenoiser) LearnSigma() bool { return n.Sigma }

// SamplerMath times RAD's sampler with the null model: ms per step.
func SamplerMath(ctx context.Context, m *radmodel.UNet, spec radmodel.Spec, steps int) (float64, error) {
	base, err := diffusion.NewNamedBase(spec.Diffusion.NoiseSchedule, spec.Diffusion.DiffusionSteps)
	if err != nil {
		return 0, err
	}
	p, err := infer.NewProcess(base, fmt.Sprint(steps), 0)
	if err != nil {
		return 0, err
	}
	defer p.Close()
	s := torch.NewNoGradScope().SetInference(true)
	defer s.Close()
	g := torch.NewGenerator(1)
	defer g.Close()
	cfg := m.Config()
	size := int64(cfg.ImageSize)
	x0 := s.Zeros(torch.Float32, m.Device(), 1, int64(cfg.InChannels), size, size)
	mk := s.Zeros(torch.Float32, m.Device(), 1, 1, size, size)
	if err := s.Narrow(s.Narrow(mk, 2, size/4, size/2), 3, size/4, size/2).Fill(1); err != nil {
		return 0, err
	}
	null := NullDenoiser{Sigma: cfg.OutputsVariance()}
	for i := 0; i < 2; i++ { // warm-up, then timed
		c := s.Child()
		start := time.Now()
		out, err := p.Sample(ctx, c, null, x0, mk, g, infer.SampleOptions{})
		if err == nil {
			_, err = out.Float32s() // wait for the device
		}
		c.Close()
		if err != nil {
			return 0, err
		}
		if i == 1 {
			return float64(time.Since(start).Microseconds()) / 1000 / float64(p.Steps()), nil
		}
	}
	return 0, nil
}

// ForwardProfile runs one warm-up and then `runs` no-grad forwards of m at
// batch 1 on a box-hole input (the per-pixel timestep map when spatial,
// else a scalar timestep) under libtorch's operator profiler, and returns
// the operators with their calls and times summed over the runs.
func ForwardProfile(m *radmodel.UNet, spatial bool, runs int) ([]torch.ProfileRow, error) {
	s := torch.NewNoGradScope().SetInference(true)
	defer s.Close()
	in, err := newForwardInputs(s, m, m.Config().ImageSize)
	if err != nil {
		return nil, err
	}
	t, opts := in.t, radmodel.ForwardOpts{}
	if spatial {
		t, opts.TauLevels = in.tau, tauLevels
	}
	forward := func() error {
		c := s.Child()
		defer c.Close()
		m.ForwardWith(c, in.x, t, in.y, opts)
		return c.Err()
	}
	if err := forward(); err != nil {
		return nil, err
	}
	return torch.Profile(false, func() error {
		for i := 0; i < max(1, runs); i++ {
			if err := forward(); err != nil {
				return err
			}
		}
		return nil
	})
}
