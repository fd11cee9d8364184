package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/infer/bench"
	"github.com/radinpaint/rad/radmodel"
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
			&cli.StringFlag{Name: "repaint-respacing", Value: infer.DefaultRePaint.Respacing},
			&cli.IntFlag{Name: "repaint-jump-length", Value: 10},
			&cli.IntFlag{Name: "repaint-jump-n-sample", Value: 10},
			&cli.BoolFlag{Name: "skip-repaint", Usage: "measure RAD only"},
			&cli.IntFlag{Name: "forwards", Value: 10, Usage: "forwards per embedding in the overhead measurement"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.IntFlag{Name: "profile", Usage: "instead: profile N forwards (libtorch's operator profiler) and print the operators by self time"},
			&cli.BoolFlag{Name: "profile-scalar", Usage: "with --profile: the scalar timestep instead of the spatial map"},
		),
		Action: runBench,
	})
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
	if n := c.Int("profile"); n > 0 {
		return printProfile(c, m, name, n, !c.Bool("profile-scalar"))
	}
	bar := newProgress("bench")
	o := bench.Options{
		Steps: c.Int("steps"), Runs: c.Int("runs"), SkipRePaint: c.Bool("skip-repaint"), Forwards: c.Int("forwards"),
		RePaint: infer.RePaintOpts{Respacing: c.String("repaint-respacing"),
			JumpLength: c.Int("repaint-jump-length"), JumpNSample: c.Int("repaint-jump-n-sample")},
		Progress: func(sampler string, i, total int) {
			if i == 1 {
				bar.start = time.Now()
			}
			bar.update(i, total, sampler)
		},
	}
	r, err := bench.Run(context.Background(), m, spec, name, o)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c, r)
	}
	w := c.App.Writer
	size := r.ImageSize
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
		r.Rows[0].ModelCalls, r.RADOverhead, r.MathMsPerStep)
	return nil
}

// printProfile prints the operators of n forwards of m by self time.
func printProfile(c *cli.Context, m *radmodel.UNet, name string, n int, spatial bool) error {
	rows, err := bench.ForwardProfile(m, spatial, n)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c, rows)
	}
	w := c.App.Writer
	var self float64
	var calls int64
	for _, r := range rows {
		self += r.SelfUs
		calls += r.Calls
	}
	fmt.Fprintf(w, "model: %s on %s, %d forwards (spatial map: %v): %d operator calls, %.1f ms per forward\n",
		name, m.Device(), n, spatial, calls/int64(n), self/1000/float64(n))
	fmt.Fprintf(w, "%-40s %8s %12s %12s %7s\n", "operator", "calls", "self ms", "total ms", "self %")
	for _, r := range rows {
		fmt.Fprintf(w, "%-40s %8d %12.2f %12.2f %6.1f%%\n", r.Name, r.Calls/int64(n), r.SelfUs/1000/float64(n),
			r.TotalUs/1000/float64(n), 100*r.SelfUs/self)
	}
	return nil
}

// printJSON writes v as indented JSON to the command's output.
func printJSON(c *cli.Context, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.App.Writer, string(b))
	return err
}
