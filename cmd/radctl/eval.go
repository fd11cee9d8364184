package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/radinpaint/rad/eval"
	"github.com/radinpaint/rad/models"
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/masks"
	"github.com/radinpaint/rad/torch"
)

// shippedEval are the --shipped choices of radctl eval.
var shippedEval = []string{"fmnist", "fmnist-rad", "fmnist-cfg2"}

// defaultEvalData are where radctl eval looks for data without --data:
// scripts/fetch-data.sh fmnist's copy and Debian's dataset-fashion-mnist.
var defaultEvalData = []string{
	"data/fashion-mnist/t10k-images-idx3-ubyte.gz",
	"/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
}

func init() {
	flags := modelFlagsWith(&cli.StringFlag{Name: "base", Usage: "checkpoint: torch.save state dict, TorchScript archive or safetensors (or --shipped)"})
	commands = append(commands, &cli.Command{
		Name:  "eval",
		Usage: "measure inpainting: FID, KID, LPIPS-style distance, hole PSNR/SSIM, time and model calls per image",
		Description: "Inpaints the first --n images (from --offset) of --data under seeded masks of each --masks kind\n" +
			"(box, extreme, wide at the model's size; image j of the data set gets mask j of --mask-seed and\n" +
			"noise from seed --seed + j, so every method and run sees the same masks) and compares the results\n" +
			"with the real images: FID and KID (mean ± std over subsets of min(1000, n/2)) on a feature network's\n" +
			"pooled features (the same n real images), the LPIPS-style distance on its feature maps, PSNR and\n" +
			"SSIM over the hole, seconds and network evaluations per image. --subset K adds rows over the first\n" +
			"K images: a run of --n K of an expensive method (repaint) is then comparable with those rows.\n" +
			"Feature networks: --features FILE (TorchScript, see package eval) or the stand-in: the shipped\n" +
			"Fashion-MNIST classifier (32x32 gray), whose numbers are named FID-FMNIST and KID-FMNIST.\n" +
			"Models: --shipped fmnist (the Fashion-MNIST ADM; with --sampler rad and no adapter: the paper's\n" +
			"Cfg. 1), fmnist-rad (with RAD's adapter), fmnist-cfg2 (with the Cfg. 2 adapter: give\n" +
			"--scalar-embedding), or --base with its config flags and --lora. --sampler mean-fill is a floor with\n" +
			"no model call (it takes the image size from the model).\n" +
			"--out gets report.json, report.md, grid-<kind>.png (input with the hole gray | mask | result |\n" +
			"original, first 8 images), per-image-<kind>.csv and, with --save-images, images/<kind>/<index>.png.\n" +
			"   --resume keeps every finished batch in OUT/parts (keyed on the model's weights, the method, the seeds\n" +
			"   and the images); run the same command again after an interruption and only the missing batches are\n" +
			"   sampled (same --batch-size).",
		Flags: append(flags,
			&cli.StringFlag{Name: "shipped", Usage: "a shipped model: " + strings.Join(shippedEval, ", ")},
			&cli.StringFlag{Name: "lora", Usage: "RAD LoRA adapter (safetensors from radctl train)"},
			&cli.BoolFlag{Name: "ignore-lora-hash", Usage: "apply an adapter trained on another file of the same config"},
			unmergedLoRAFlag,
			&cli.Float64Flag{Name: "timestep-offset", Value: 0, Usage: "timestep map offset (default: the adapter's)"},
			&cli.StringFlag{Name: "data", Usage: "held-out images: IDX file or folder of PNG/JPEG (default: Fashion-MNIST's t10k images in " + strings.Join(defaultEvalData, " or ") + ")"},
			&cli.IntFlag{Name: "n", Value: 1000, Usage: "images to inpaint (the first n from --offset; 0: all)"},
			&cli.IntFlag{Name: "offset", Value: 0, Usage: "index of the first image"},
			&cli.IntFlag{Name: "subset", Value: 0, Usage: "also report over the first K images (0: no)"},
			&cli.StringFlag{Name: "masks", Value: "box,extreme,wide", Usage: "mask kinds, comma-separated"},
			&cli.Uint64Flag{Name: "mask-seed", Value: 0, Usage: "mask seed"},
			&cli.Uint64Flag{Name: "seed", Value: 0, Usage: "sampler seed (image j's noise: seed + j)"},
			&cli.StringFlag{Name: "sampler", Value: "rad", Usage: samplerNames()},
			&cli.IntFlag{Name: "steps", Value: 0, Usage: "respaced steps (0: 100; repaint: 250)"},
			&cli.Float64Flag{Name: "eta", Value: 0, Usage: "DDIM eta (rad-ddim)"},
			&cli.BoolFlag{Name: "scalar-embedding", Usage: "feed the hole's scalar timestep instead of the per-pixel map (Cfg. 2)"},
			&cli.IntFlag{Name: "repaint-jump-length", Value: 10},
			&cli.IntFlag{Name: "repaint-jump-n-sample", Value: 10},
			&cli.IntFlag{Name: "resample", Value: 1, Usage: "rad, rad-ddim: RePaint's time travel over RAD's process, this many passes over each jump of --repaint-jump-length steps (a departure from the paper; 1: off)"},
			&cli.IntFlag{Name: "batch-size", Value: 100, Usage: "images sampled together"},
			&cli.StringFlag{Name: "features", Usage: "TorchScript feature network (default: the shipped Fashion-MNIST classifier)"},
			&cli.StringFlag{Name: "features-name", Usage: "suffix of the metric names (FID-<name>; default FMNIST for the stand-in, none for --features)"},
			&cli.IntFlag{Name: "kid-subsets", Value: eval.DefaultKIDSubsets, Usage: "KID subsets"},
			&cli.IntFlag{Name: "kid-subset-size", Value: 0, Usage: "KID subset size (0: min(1000, n/2))"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "output folder"},
			&cli.IntFlag{Name: "grid-images", Value: 8, Usage: "images in each grid PNG (-1: no grid)"},
			&cli.BoolFlag{Name: "save-images", Usage: "write every result as a PNG"},
			&cli.BoolFlag{Name: "resume", Usage: "keep every finished batch in OUT/parts and reuse the kept batches of an earlier run with the same model, method, seeds, images and batch size (an interrupted evaluation goes on where it stopped)"},
		),
		Action: runEval,
	})
}

// evalModel loads the model of --shipped or --base (with --lora) and
// describes it.
func evalModel(c *cli.Context) (m *radmodel.UNet, spec radmodel.Spec, desc string, offset float64, err error) {
	shipped := c.String("shipped")
	if shipped != "" && c.String("base") != "" {
		return nil, spec, "", 0, fmt.Errorf("give --shipped or --base, not both")
	}
	offset = c.Float64("timestep-offset")
	setOffset := func(meta radmodel.AdapterMeta) {
		if !c.IsSet("timestep-offset") {
			offset = meta.TimestepOffset
		}
	}
	switch {
	case shipped != "":
		if c.String("config") != "" || c.String("model-flags") != "" || c.String("preset") != "" {
			return nil, spec, "", 0, fmt.Errorf("--shipped models carry their config: drop --config, --model-flags and --preset")
		}
		adapter := ""
		switch shipped {
		case "fmnist":
		case "fmnist-rad":
			adapter = models.AdapterRAD
		case "fmnist-cfg2":
			adapter = models.AdapterCfg2
		default:
			return nil, spec, "", 0, fmt.Errorf("--shipped %q: want one of %s", shipped, strings.Join(shippedEval, ", "))
		}
		dev, dt, err := deviceAndDType(c)
		if err != nil {
			return nil, spec, "", 0, err
		}
		if m, err = models.FMNISTBase(dev, dt); err != nil {
			return nil, spec, "", 0, err
		}
		desc = "shipped Fashion-MNIST ADM (models/fmnist-base.safetensors)"
		if adapter != "" {
			meta, err := models.FMNISTAdapter(m, adapter)
			if err != nil {
				m.Close()
				return nil, spec, "", 0, err
			}
			setOffset(meta)
			desc += fmt.Sprintf(" + adapter models/fmnist-%s.safetensors", adapter)
		}
		spec = radmodel.Spec{Model: m.Config()}
		spec.Diffusion.DiffusionSteps, spec.Diffusion.NoiseSchedule = models.DiffusionSteps, models.NoiseSchedule
	case c.String("base") != "":
		if m, spec, err = loadModel(c, "base"); err != nil {
			return nil, spec, "", 0, err
		}
		desc = c.String("base")
	default:
		return nil, spec, "", 0, fmt.Errorf("give a model: --shipped (%s) or --base", strings.Join(shippedEval, ", "))
	}
	if a := c.String("lora"); a != "" {
		var sha string
		if !c.Bool("ignore-lora-hash") && c.String("base") != "" {
			if sha, err = radmodel.FileSHA256(c.String("base")); err != nil {
				m.Close()
				return nil, spec, "", 0, err
			}
		}
		meta, err := m.LoadAdapter(a, radmodel.ApplyOpts{BaseSHA256: sha, IgnoreHash: c.Bool("ignore-lora-hash")})
		if err != nil {
			m.Close()
			return nil, spec, "", 0, err
		}
		setOffset(meta)
		desc += " + adapter " + a
	}
	if merged, err := mergeLoRA(c, m); err != nil {
		m.Close()
		return nil, spec, "", 0, err
	} else if merged {
		desc += " (LoRA merged into the weights)"
	}
	return m, spec, desc, offset, nil
}

// evalFeatures loads --features, or the shipped classifier.
func evalFeatures(c *cli.Context, dev torch.Device, size int) (net eval.FeatureNet, closeNet func(), name, desc string, err error) {
	if p := c.String("features"); p != "" {
		ts, err := eval.LoadTorchScriptNet(p, dev)
		if err != nil {
			return nil, nil, "", "", fmt.Errorf("--features: %w", err)
		}
		return ts, ts.Close, c.String("features-name"), "TorchScript " + p, nil
	}
	const file = "models/fmnist-classifier.safetensors"
	cls, err := eval.LoadClassifierBytes(file, models.FMNISTClassifierBytes(), dev)
	if err != nil {
		return nil, nil, "", "", err
	}
	if s := cls.Config().Size; s != size {
		cls.Close()
		return nil, nil, "", "", fmt.Errorf("the stand-in feature network (the shipped Fashion-MNIST classifier) takes %dx%d images, the model %dx%d: give --features", s, s, size, size)
	}
	name = "FMNIST"
	if c.IsSet("features-name") {
		name = c.String("features-name")
	}
	return cls, cls.Close, name, "stand-in: shipped Fashion-MNIST classifier (" + file + "), 128-wide penultimate layer; maps: its 3 stages", nil
}

// evalData is --data, or the first default that exists.
func evalData(c *cli.Context) (string, error) {
	if p := c.String("data"); p != "" {
		return p, nil
	}
	for _, p := range defaultEvalData {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("give --data (no Fashion-MNIST test set in %s; scripts/fetch-data.sh fmnist fetches it)", strings.Join(defaultEvalData, " or "))
}

func runEval(c *cli.Context) error {
	method := eval.Method(c.String("sampler"))
	known := false
	for _, m := range eval.Methods {
		known = known || m == method
	}
	if !known {
		return fmt.Errorf("--sampler %q: want one of %s", method, samplerNames())
	}
	if c.Int("n") < 0 || c.Int("offset") < 0 || c.Int("subset") < 0 || c.Int("steps") < 0 || c.Int("batch-size") < 1 {
		return fmt.Errorf("--n %d, --offset %d, --subset %d, --steps %d must be >= 0 and --batch-size %d >= 1",
			c.Int("n"), c.Int("offset"), c.Int("subset"), c.Int("steps"), c.Int("batch-size"))
	}
	var kinds []masks.Kind
	for _, k := range strings.Split(c.String("masks"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			kinds = append(kinds, masks.Kind(k))
		}
	}
	if len(kinds) == 0 {
		return fmt.Errorf("--masks: no mask kind")
	}
	for _, k := range kinds {
		if _, err := masks.Generate(k, 32, 0, 0); err != nil {
			return fmt.Errorf("--masks: %w", err)
		}
	}
	dataPath, err := evalData(c)
	if err != nil {
		return err
	}
	m, spec, desc, offset, err := evalModel(c)
	if err != nil {
		return err
	}
	defer m.Close()
	cfg := m.Config()
	if cfg.NumClasses > 0 && method != eval.MethodMeanFill {
		return fmt.Errorf("radctl eval takes unconditional models; this one has %d classes (use eval.Run with Labels)", cfg.NumClasses)
	}
	if c.String("shipped") == "fmnist-cfg2" && !c.Bool("scalar-embedding") && (method == eval.MethodRAD || method == eval.MethodRADDDIM) {
		fmt.Fprintln(c.App.ErrWriter, "radctl eval: note: the Cfg. 2 adapter was trained on the scalar embedding; give --scalar-embedding for the paper's Cfg. 2")
	}
	net, closeNet, fname, fdesc, err := evalFeatures(c, m.Device(), cfg.ImageSize)
	if err != nil {
		return err
	}
	defer closeNet()
	images, err := eval.LoadImages(dataPath, cfg.ImageSize, cfg.InChannels, c.Int("offset"), c.Int("n"))
	if err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	bar := newProgress("eval")
	rc := eval.RunConfig{
		Model: m, ModelName: desc,
		DiffusionSteps: spec.Diffusion.DiffusionSteps, NoiseSchedule: spec.Diffusion.NoiseSchedule, TimestepOffset: offset,
		Method: method, Steps: c.Int("steps"), Eta: c.Float64("eta"), ScalarEmbedding: c.Bool("scalar-embedding"),
		JumpLength: c.Int("repaint-jump-length"), JumpNSample: c.Int("repaint-jump-n-sample"), Resample: c.Int("resample"),
		Images: images, IndexOffset: c.Int("offset"), DataName: dataPath,
		Masks: kinds, MaskSeed: c.Uint64("mask-seed"), Seed: c.Uint64("seed"), BatchSize: c.Int("batch-size"),
		Subset:   c.Int("subset"),
		Features: net, FeaturesName: fname, FeaturesDesc: fdesc,
		KIDSubsets: c.Int("kid-subsets"), KIDSubsetSize: c.Int("kid-subset-size"),
		Out: c.String("out"), GridImages: c.Int("grid-images"), SaveImages: c.Bool("save-images"),
		Progress: func(p eval.Progress) {
			// in model calls (batches for mean fill)
			per, bs := max(p.Steps, 1), c.Int("batch-size")
			nb := (p.Total + bs - 1) / bs
			done := (p.Kind*nb+(p.Done+bs-1)/bs)*per + p.Step
			bar.update(done, p.Kinds*nb*per, p.Masks)
		},
	}
	if c.Bool("resume") {
		rc.Parts = filepath.Join(rc.Out, "parts")
	}
	if method == eval.MethodMeanFill {
		rc.Model, rc.ModelName = nil, "none (image size and channels of "+desc+")"
	}
	rep, err := eval.Run(ctx, rc)
	if err != nil {
		return err
	}
	fmt.Fprint(c.App.Writer, rep.Table())
	fmt.Fprintf(c.App.Writer, "wrote %s and %s (%.1f s)\n", filepath.Join(rc.Out, "report.json"), filepath.Join(rc.Out, "report.md"), rep.Seconds)
	return nil
}

// samplerNames lists --sampler's choices.
func samplerNames() string {
	s := make([]string, len(eval.Methods))
	for i, m := range eval.Methods {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}
