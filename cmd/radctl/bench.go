package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"sort"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
)

func init() {
	flags := modelFlagsWith(&cli.StringFlag{Name: "base", Usage: "checkpoint (default: the embedded demo model, or random weights of a config)"})
	commands = append(commands, &cli.Command{
		Name:  "bench",
		Usage: "RAD against RePaint on the same model, side by side: wall time and model calls per image",
		Description: "Without --base, the embedded demo model (32x32, random weights) is used, or a config\n" +
			"(--preset, --config, --model-flags) with random weights. The image is generated, the mask a\n" +
			"centred box of half the size. Also measures the spatial noise embedding's cost against the\n" +
			"scalar one on the same input.",
		Flags: append(flags,
			&cli.IntFlag{Name: "steps", Value: 100, Usage: "RAD steps"},
			&cli.IntFlag{Name: "runs", Aliases: []string{"rad-runs"}, Value: 3, Usage: "runs of each sampler, RAD and RePaint alike (the median of each is reported)"},
			&cli.StringFlag{Name: "repaint-respacing", Value: "250"},
			&cli.IntFlag{Name: "repaint-jump-length", Value: 10},
			&cli.IntFlag{Name: "repaint-jump-n-sample", Value: 10},
			&cli.BoolFlag{Name: "skip-repaint", Usage: "measure RAD only"},
			&cli.IntFlag{Name: "forwards", Value: 10, Usage: "forwards per embedding in the overhead measurement"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		),
		Action: runBench,
	})
}

type benchRow struct {
	Sampler    string  `json:"sampler"`
	ModelCalls int64   `json:"model_calls"`
	Seconds    float64 `json:"seconds"`
	MsPerCall  float64 `json:"ms_per_call"`
}

type benchReport struct {
	Model           string     `json:"model"`
	Device          string     `json:"device"`
	Runs            int        `json:"runs_per_sampler"`
	Rows            []benchRow `json:"rows"`
	WallRatio       float64    `json:"repaint_over_rad_wall"`
	ScalarMs        float64    `json:"scalar_forward_ms"`
	SpatialMs       float64    `json:"spatial_forward_ms"`
	SpatialOverhead float64    `json:"spatial_overhead_pct"`
	MathMsPerStep   float64    `json:"sampler_math_ms_per_step"`
	RADOverhead     float64    `json:"rad_over_plain_calls_pct"`
}

func runBench(c *cli.Context) error {
	var m *radmodel.UNet
	var spec radmodel.Spec
	var err error
	name := c.String("base")
	switch {
	case name != "":
		m, spec, err = loadModel(c, "base")
	case c.String("preset") != "" || c.String("config") != "" || c.String("model-flags") != "":
		if spec, err = modelSpec(c, "base"); err == nil {
			var dev torch.Device
			var dt torch.DType
			if dev, dt, err = deviceAndDType(c); err == nil {
				m, err = radmodel.NewRandom(spec.Model, dev, dt, 1)
			}
		}
		name = spec.Model.Short() + " (random weights)"
	default:
		m, spec, err = randomModel()
		name = "demo " + spec.Model.Short() + " (random weights)"
	}
	if err != nil {
		return err
	}
	defer m.Close()
	ip, err := infer.New(infer.Config{Model: m, DiffusionSteps: spec.Diffusion.DiffusionSteps, NoiseSchedule: spec.Diffusion.NoiseSchedule})
	if err != nil {
		return err
	}
	size := m.Config().ImageSize
	img, mask := benchInputs(size)
	r := benchReport{Model: name, Device: m.Device().String()}
	ctx := context.Background()
	bar := newProgress("bench")
	run := func(o infer.Options) (benchRow, error) {
		o.Progress = func(i, total int) { bar.update(i, total, string(o.Sampler)) }
		bar.start = time.Now()
		_, st, err := ip.Inpaint(ctx, img, mask, o)
		if err != nil {
			return benchRow{}, err
		}
		return benchRow{Sampler: string(o.Sampler), ModelCalls: st.ModelCalls, Seconds: st.Seconds,
			MsPerCall: 1000 * st.Seconds / float64(max(st.ModelCalls, 1))}, nil
	}
	// warm up (CUDA loads kernels lazily on first use, cuDNN picks
	// algorithms, allocators grow): a few steps of each sampler, untimed
	if _, _, err := ip.Inpaint(ctx, img, mask, infer.Options{Sampler: infer.RAD, Steps: 2}); err != nil {
		return err
	}
	if !c.Bool("skip-repaint") {
		warm := infer.Options{Sampler: infer.RePaint, RePaint: infer.RePaintOpts{Respacing: "4", JumpLength: 1, JumpNSample: 2}}
		if _, _, err := ip.Inpaint(ctx, img, mask, warm); err != nil {
			return err
		}
	}
	// each sampler runs the same number of times, interleaved, and the
	// median of each is reported: a comparison of methods under the same
	// timing noise
	median := func(rows []benchRow) benchRow {
		sort.Slice(rows, func(i, j int) bool { return rows[i].Seconds < rows[j].Seconds })
		return rows[len(rows)/2]
	}
	rpOpts := infer.Options{Sampler: infer.RePaint, RePaint: infer.RePaintOpts{Respacing: c.String("repaint-respacing"),
		JumpLength: c.Int("repaint-jump-length"), JumpNSample: c.Int("repaint-jump-n-sample")}}
	var rads, rps []benchRow
	for i := 0; i < max(1, c.Int("runs")); i++ {
		row, err := run(infer.Options{Sampler: infer.RAD, Steps: c.Int("steps")})
		if err != nil {
			return err
		}
		rads = append(rads, row)
		if !c.Bool("skip-repaint") {
			row, err := run(rpOpts)
			if err != nil {
				return err
			}
			rps = append(rps, row)
		}
	}
	rad := median(rads)
	r.Runs = len(rads)
	r.Rows = append(r.Rows, rad)
	if len(rps) > 0 {
		rp := median(rps)
		r.Rows = append(r.Rows, rp)
		r.WallRatio = rp.Seconds / rad.Seconds
	}
	r.ScalarMs, r.SpatialMs, err = embeddingCost(m, size, c.Int("forwards"))
	if err != nil {
		return err
	}
	r.SpatialOverhead = 100 * (r.SpatialMs/r.ScalarMs - 1)
	if r.MathMsPerStep, err = samplerMath(ctx, m, spec, img, mask, c.Int("steps")); err != nil {
		return err
	}
	r.RADOverhead = 100 * (rad.Seconds*1000/(float64(rad.ModelCalls)*r.ScalarMs) - 1)
	if c.Bool("json") {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintln(c.App.Writer, string(b))
		return nil
	}
	w := c.App.Writer
	fmt.Fprintf(w, "model: %s on %s, image %dx%d, box hole of %dx%d\n", r.Model, r.Device, size, size, size/2, size/2)
	fmt.Fprintf(w, "median of %d runs each\n", r.Runs)
	fmt.Fprintf(w, "%-10s %12s %12s %10s\n", "sampler", "model calls", "seconds", "ms/call")
	for _, row := range r.Rows {
		fmt.Fprintf(w, "%-10s %12d %12.2f %10.1f\n", row.Sampler, row.ModelCalls, row.Seconds, row.MsPerCall)
	}
	if r.WallRatio > 0 {
		fmt.Fprintf(w, "RePaint / RAD wall time: %.1fx\n", r.WallRatio)
	}
	fmt.Fprintf(w, "forward: scalar embedding %.1f ms, spatial embedding %.1f ms (%+.1f%%)\n", r.ScalarMs, r.SpatialMs, r.SpatialOverhead)
	fmt.Fprintf(w, "RAD wall time over %d plain ADM calls: %+.1f%%; the sampler's own math: %.2f ms/step\n",
		rad.ModelCalls, r.RADOverhead, r.MathMsPerStep)
	return nil
}

// embeddingCost times forwards with a scalar timestep and with a box-hole
// timestep map, interleaved, and returns the mean milliseconds of each.
func embeddingCost(m *radmodel.UNet, size, n int) (float64, float64, error) {
	s := torch.NewNoGradScope().SetInference(true)
	defer s.Close()
	g := torch.NewGenerator(3)
	defer g.Close()
	cfg := m.Config()
	dev := m.Device()
	sz := int64(size)
	x := s.Randn(g, torch.Float32, dev, 1, int64(cfg.InChannels), sz, sz)
	t := s.Full(500, torch.Float32, dev, 1)
	tau := s.Full(-1, torch.Float32, dev, 1, 1, sz, sz)
	if err := s.Narrow(s.Narrow(tau, 2, sz/4, sz/2), 3, sz/4, sz/2).Fill(500); err != nil {
		return 0, 0, err
	}
	var y *torch.Tensor
	if cfg.NumClasses > 0 {
		y = torch.FromSliceOn(s, dev, []int64{0})
	}
	if err := s.Err(); err != nil {
		return 0, 0, err
	}
	var scalar, spatial time.Duration
	for i := 0; i < n+1; i++ {
		for _, tt := range []*torch.Tensor{t, tau} {
			cs := s.Child()
			start := time.Now()
			// the levels are listed, as RAD's sampler does for binary masks
			m.ForwardWith(cs, x, tt, y, radmodel.ForwardOpts{TauLevels: []float64{-1, 500}})
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
			if tt == t {
				scalar += el
			} else {
				spatial += el
			}
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
	return ms(scalar), ms(spatial), nil
}

// benchInputs is a generated image with a centred box hole of half size.
func benchInputs(size int) (image.Image, image.Image) {
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

// nullModel predicts zero noise and mid variance without any network: it
// isolates the sampler's own per-step work.
type nullModel struct{ sigma bool }

func (n nullModel) Predict(s *torch.Scope, x *torch.Tensor, _ infer.Timesteps, _ *torch.Tensor) *torch.Tensor {
	if n.sigma {
		return s.Cat(1, s.ZerosLike(x), s.ZerosLike(x))
	}
	return s.ZerosLike(x)
}
func (n nullModel) LearnSigma() bool { return n.sigma }

// samplerMath times RAD's sampler with the null model: ms per step.
func samplerMath(ctx context.Context, m *radmodel.UNet, spec radmodel.Spec, img, mask image.Image, steps int) (float64, error) {
	n := spec.Diffusion.DiffusionSteps
	if n == 0 {
		n = 1000
	}
	base, err := diffusion.NewNamedBase(spec.Diffusion.NoiseSchedule, n)
	if err != nil {
		return 0, err
	}
	p, err := infer.NewProcess(base, fmt.Sprint(steps), 0)
	if err != nil {
		return 0, err
	}
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
	null := nullModel{sigma: cfg.OutChannels == 2*cfg.InChannels}
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
