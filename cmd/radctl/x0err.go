package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/radinpaint/rad/eval"
	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/internal/atomicfile"
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/radmodel/masks"
)

func init() {
	flags := modelFlagsWith(&cli.StringFlag{Name: "base", Usage: "checkpoint (default: the shipped photo model)"})
	commands = append(commands, &cli.Command{
		Name:  "x0err",
		Usage: "what a model knows at each noise level: its x0-prediction error over the hole by step, beside the known-mean and zero predictors",
		Description: "Noises each held-out image to the state a sampler sees at chain step k (--mode rad: RAD's phase 1,\n" +
			"hole at abar_k and known pixels clean, per-pixel timestep map; cfg2: the same with the hole's scalar\n" +
			"timestep; repaint: the whole image at abar_k, scalar timestep), calls the model once and compares its\n" +
			"x0 prediction (its parameterization's, clipped to [-1, 1]) with the original over the hole: mean\n" +
			"squared error on [-1, 1] values, against predicting the known pixels' mean colour (known-mean) and 0.\n" +
			"A ratio model/known-mean below 1 means the model uses the surroundings better than a flat fill.\n" +
			"Images: --data (folder or IDX), resized on the shorter side to --size and centre-cropped; image i,\n" +
			"repeat r gets mask r*n+i of --masks (seed --mask-seed) and its own seeded noise (--seed).",
		Flags: append(flags,
			&cli.StringFlag{Name: "shipped", Usage: "a shipped model: photo (the default), " + strings.Join(shippedEval, ", ")},
			&cli.StringFlag{Name: "lora", Usage: "LoRA adapter"},
			&cli.BoolFlag{Name: "ignore-lora-hash", Usage: "apply an adapter trained on another file of the same config"},
			unmergedLoRAFlag,
			&cli.Float64Flag{Name: "timestep-offset", Value: 0, Usage: "timestep map offset (default: the adapter's)"},
			&cli.StringFlag{Name: "data", Required: true, Usage: "held-out images: folder of PNG/JPEG or IDX file"},
			&cli.IntFlag{Name: "size", Value: 0, Usage: "image size (0: the model's)"},
			&cli.IntFlag{Name: "n", Value: 0, Usage: "images (0: all)"},
			&cli.IntFlag{Name: "repeats", Value: 1, Usage: "masks and noises per image"},
			&cli.StringFlag{Name: "masks", Value: "large-box", Usage: "mask kind"},
			&cli.Uint64Flag{Name: "mask-seed", Value: 0},
			&cli.Uint64Flag{Name: "seed", Value: 0},
			&cli.StringFlag{Name: "steps", Value: "100,300,500,700,900", Usage: "chain steps k, comma-separated"},
			&cli.StringFlag{Name: "mode", Value: "rad", Usage: "rad, cfg2 or repaint"},
			&cli.IntFlag{Name: "batch-size", Value: 8},
			&cli.StringFlag{Name: "json", Usage: "also write the rows as JSON to this file"},
		),
		Action: runX0Err,
	})
}

func runX0Err(c *cli.Context) error {
	var ks []int
	for _, f := range strings.Split(c.String("steps"), ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("--steps: %q is not a step", f)
		}
		ks = append(ks, k)
	}
	if c.Int("n") < 0 || c.Int("repeats") < 1 || c.Int("batch-size") < 1 || c.Int("size") < 0 {
		return fmt.Errorf("--n %d, --size %d must be >= 0, --repeats %d and --batch-size %d >= 1", c.Int("n"), c.Int("size"), c.Int("repeats"), c.Int("batch-size"))
	}
	var (
		m      *radmodel.UNet
		spec   radmodel.Spec
		desc   string
		offset float64
		err    error
	)
	if c.String("base") == "" && (c.String("shipped") == "" || c.String("shipped") == "photo") {
		if m, spec, err = shippedModel(c); err != nil {
			return err
		}
		desc = "shipped photo model (models/photo.safetensors)"
		offset = c.Float64("timestep-offset")
	} else if m, spec, desc, offset, err = evalModel(c); err != nil {
		return err
	}
	defer m.Close()
	base, err := diffusion.NewNamedBase(orDefault(spec.Diffusion.NoiseSchedule, "linear"), orDefaultInt(spec.Diffusion.DiffusionSteps, diffusion.DefaultSteps))
	if err != nil {
		return err
	}
	size := c.Int("size")
	if size == 0 {
		size = m.Config().ImageSize
	}
	ims, err := eval.LoadImages(c.String("data"), size, m.Config().InChannels, 0, c.Int("n"))
	if err != nil {
		return err
	}
	kind := masks.Kind(c.String("masks"))
	ms, err := masks.GenerateMany(kind, size, c.Uint64("mask-seed"), 0, ims.N*c.Int("repeats"), 0)
	if err != nil {
		return fmt.Errorf("--masks: %w", err)
	}
	dev, _, err := deviceAndDType(c)
	if err != nil {
		return err
	}
	rows, err := eval.X0Error(c.Context, eval.X0Config{Model: infer.UNetDenoiser{Model: m}, Base: base, Offset: offset,
		Images: ims, Masks: ms, Repeats: c.Int("repeats"), Steps: ks, Mode: eval.X0Mode(c.String("mode")),
		Seed: c.Uint64("seed"), BatchSize: c.Int("batch-size"), Device: dev})
	if err != nil {
		return err
	}
	w := c.App.Writer
	fmt.Fprintf(w, "x0-prediction MSE over the hole (on [-1, 1]), %s, %d images x %d at %dx%d, %s masks, mode %s, prediction %s\n",
		desc, ims.N, c.Int("repeats"), size, size, kind, c.String("mode"), infer.PredictionOf(infer.UNetDenoiser{Model: m}))
	fmt.Fprintf(w, "| k | abar_k | model | known mean | zero | model / known mean |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %.3g | %.4f ± %.4f | %.4f | %.4f | %.2f |\n", r.K, r.ABar, r.Model, r.ModelSE, r.KnownMean, r.Zero, r.Ratio)
	}
	if p := c.String("json"); p != "" {
		js, _ := json.MarshalIndent(map[string]any{"model": desc, "data": c.String("data"), "size": size, "masks": kind,
			"mode": c.String("mode"), "images": ims.N, "repeats": c.Int("repeats"), "rows": rows}, "", " ")
		if err := atomicfile.WriteBytes(p, append(js, '\n')); err != nil {
			return err
		}
	}
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func orDefaultInt(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}
