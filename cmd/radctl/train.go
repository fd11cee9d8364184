package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
	"github.com/radinpaint/rad/train"
)

func init() {
	flags := modelFlagsWith(&cli.StringFlag{Name: "base", Usage: "checkpoint to start from (required for rad-lora; rad-full and adm without it start from random weights of the config)"})
	def := train.DefaultConfig()
	commands = append(commands, &cli.Command{
		Name:  "train",
		Usage: "train RAD: LoRA fine-tuning of an ADM (rad-lora), full training (rad-full) or plain ADM training (adm)",
		Description: "Objectives: rad-lora (default) trains LoRA adapters (rank/alpha 16/16) and the time-embedding\n" +
			"layers of a frozen base with RAD's per-pixel schedule and hybrid loss (lambda_vlb 1e-3), the\n" +
			"model seeing the per-pixel timestep map; rad-full trains every weight with that loss; adm is\n" +
			"guided-diffusion's own training (scalar t, no mask, lambda_vlb 1), to make a base where none can\n" +
			"be had. The model config comes from --config/--model-flags/--preset or from the base's\n" +
			"safetensors metadata. Data: --data is a folder of PNG/JPEG images (searched recursively) or an\n" +
			"IDX .gz file (e.g. Fashion-MNIST), resized and centre-cropped to the model's size, with Perlin\n" +
			"masks; corrupt files are skipped and counted.\n\n" +
			"OUT receives ckpt-<step>.safetensors (every --save-every steps and at the end, the last --keep\n" +
			"kept) with adapter-<step>.safetensors (rad-lora: radctl infer --lora) or model-<step>.safetensors\n" +
			"(rad-full, adm: radctl infer --base) beside each, adapter.safetensors or model.safetensors at the\n" +
			"end (EMA weights when --ema > 0; the raw weights beside them as adapter-raw/model-raw), train.jsonl\n" +
			"(one line per step), loss.png and samples/step-<step>.png (input | mask | EMA result | raw result,\n" +
			"every --sample-every steps). The EMA warms up (--ema-warmup ratio: decay min(ema, (1+n)/(10+n))\n" +
			"at the n-th update), so short runs export usable EMA weights.\n\n" +
			"--resume CKPT, --resume latest (the newest checkpoint in OUT) or --resume auto (latest if any,\n" +
			"else a fresh run) continues a run exactly; the checkpoint's settings are used, and flags that\n" +
			"contradict them are refused. Ctrl-C stops after the current step with a checkpoint.\n\n" +
			"Data-parallel training (c10d: Gloo on the CPU, NCCL on CUDA): --nproc N runs N workers here;\n" +
			"under a launcher (torchrun-style: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set) each\n" +
			"process is one rank (CUDA: device cuda:LOCAL_RANK). --batch-size is per rank: a step sees\n" +
			"WORLD_SIZE x batch-size x accum images, and equals one process with that batch. Rank 0 writes\n" +
			"the files; a resume on another world size re-shards the same global batch.",
		Flags: append(flags,
			&cli.StringFlag{Name: "objective", Value: string(train.RADLoRA), Usage: "rad-lora, rad-full or adm"},
			&cli.StringFlag{Name: "data", Usage: "training images: a folder of PNG/JPEG files or an IDX (.gz) file"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "output folder"},
			&cli.IntFlag{Name: "steps", Value: def.Steps, Usage: "optimizer steps of the whole run"},
			&cli.IntFlag{Name: "batch-size", Value: def.BatchSize, Usage: "images per micro-batch"},
			&cli.IntFlag{Name: "accum", Value: def.Accum, Usage: "micro-batches accumulated per step"},
			&cli.IntFlag{Name: "workers", Value: 0, Usage: "image decoding goroutines (0: one per CPU)"},
			&cli.Float64Flag{Name: "lr", Value: def.LR, Usage: "AdamW learning rate"},
			&cli.Float64Flag{Name: "weight-decay", Value: def.WeightDecay, Usage: "AdamW weight decay"},
			&cli.Float64Flag{Name: "grad-clip", Value: def.GradClip, Usage: "global gradient norm bound (0: no clipping)"},
			&cli.Float64Flag{Name: "ema", Value: def.EMA, Usage: "EMA decay of the trained weights (0: off); with --ema-warmup ratio the final decay"},
			&cli.StringFlag{Name: "ema-warmup", Value: def.EMAWarmup, Usage: "EMA warm-up: ratio (decay min(ema, (1+n)/(10+n)) at the n-th update) or off"},
			&cli.BoolFlag{Name: "scalar-embedding", Usage: "RAD with ADM's scalar timestep embedding (the paper's ablation Cfg. 2): the phase step's base timestep"},
			&cli.StringFlag{Name: "prediction", Usage: "what the model predicts (rad-full, adm): eps (ADM's), v or x0; saved as model metadata that every sampler reads (docs/DESIGN.md §2.8). From --base, the weights are fine-tuned into the new parameterization"},
			&cli.StringFlag{Name: "resolution", Usage: "sizes the model runs at, saved as model metadata for inference's auto resolution (docs/DESIGN.md §6.1): native (any size, e.g. attention trained on crops of several sizes), model (its training size only) or auto (decided by its attention resolutions; the default); rad-full and adm"},
			&cli.BoolFlag{Name: "channel-shuffle", Usage: "colour augmentation: permute each sample's R, G, B channels at random (small photo sets: the fill's colours must come from the surroundings, not the set's colour balance)"},
			&cli.Float64Flag{Name: "zoom-max", Usage: "train on patches: resize each image's shorter side to z x size, z log-uniform in [1, zoom-max], then crop (use with --random-crop)"},
			&cli.Float64Flag{Name: "phase1-frac", Usage: "RAD objectives: draw a sample's step from phase 1 (the states inference visits) with this probability, phase 2 otherwise (0: uniform over both phases, the paper's)"},
			&cli.Float64Flag{Name: "min-snr-gamma", Usage: "weigh each pixel's MSE by min-SNR-gamma at its own SNR (e.g. 5; a departure from the paper: the high-noise states get a larger share; 0: off, the paper's)"},
			&cli.StringFlag{Name: "mask-kind", Value: "perlin", Usage: "training masks: perlin (the paper's), mixed (perlin, strokes, wide), thin, wide, box, extreme"},
			&cli.DurationFlag{Name: "max-time", Usage: "end this session after this wall time as if --steps were reached (checkpoint, exports); resume later to go on"},
			&cli.Float64Flag{Name: "lambda-vlb", Value: def.LambdaVLB, Usage: "weight of the VLB term (rad-lora, rad-full; adm uses 1)"},
			&cli.IntFlag{Name: "lora-rank", Value: def.LoRARank, Usage: "LoRA rank"},
			&cli.Float64Flag{Name: "lora-alpha", Value: def.LoRAAlpha, Usage: "LoRA alpha (scale alpha/rank)"},
			&cli.Float64Flag{Name: "timestep-offset", Value: 0, Usage: "added to the timestep map (the authors' code: 1); saved in the adapter"},
			&cli.Float64Flag{Name: "dropout", Usage: "override the config's dropout"},
			&cli.BoolFlag{Name: "random-crop", Usage: "crop at random places instead of the centre"},
			&cli.BoolFlag{Name: "no-flip", Usage: "no random left-right mirroring"},
			&cli.IntFlag{Name: "save-every", Value: def.SaveEvery, Usage: "checkpoint every N steps (0: only at the end)"},
			&cli.IntFlag{Name: "keep", Value: def.Keep, Usage: "checkpoints kept (-1: all)"},
			&cli.IntFlag{Name: "sample-every", Value: def.SampleEvery, Usage: "sample grid every N steps (0: none)"},
			&cli.IntFlag{Name: "preview-images", Value: def.PreviewImages, Usage: "rows of the sample grid"},
			&cli.IntFlag{Name: "preview-steps", Value: 25, Usage: "sampling steps of the sample grids"},
			&cli.BoolFlag{Name: "linear-plot", Usage: "loss curve on a linear axis (default: log)"},
			&cli.Uint64Flag{Name: "seed", Value: 0, Usage: "seed of every random choice"},
			&cli.BoolFlag{Name: "no-autocast", Usage: "no bfloat16 autocast on CUDA"},
			&cli.BoolFlag{Name: "cpu-bf16", Usage: "bfloat16 autocast on the CPU too"},
			&cli.StringFlag{Name: "resume", Usage: "checkpoint to resume, \"latest\" or \"auto\""},
			&cli.IntFlag{Name: "max-nonfinite", Value: def.MaxNonFinite, Usage: "stop after N steps in a row with a NaN/Inf loss or gradient"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress line"},
			&cli.IntFlag{Name: "nproc", Value: 1, Usage: "data-parallel: run N worker processes on this machine (each --batch-size images; rank 0 writes the files)"},
			&cli.DurationFlag{Name: "dist-timeout", Value: 5 * time.Minute, Usage: "data-parallel: how long the rendezvous and each all-reduce wait for the other ranks before failing"},
			&cli.StringFlag{Name: "dist-backend", Usage: "data-parallel: gloo or nccl (default: nccl on CUDA, gloo on the CPU)"},
			&cli.Float64Flag{Name: "bucket-mb", Value: train.DefaultBucketMB, Usage: "data-parallel: gradient all-reduce bucket size in MiB"},
		),
		Action: runTrain,
	})
}

func runTrain(c *cli.Context) error {
	launch, err := train.LaunchFromEnv()
	if err != nil {
		return err
	}
	if n := c.Int("nproc"); launch == nil && n > 1 {
		return spawnWorkers(c.Context, n, c.App.Writer, c.App.ErrWriter)
	} else if n < 1 {
		return fmt.Errorf("--nproc %d, want >= 1", n)
	}
	cfg, resume, err := trainConfig(c)
	if err != nil {
		return err
	}
	if launch != nil {
		pg, err := joinGroup(c, launch, &cfg)
		if err != nil {
			return err
		}
		defer pg.Close()
		cfg.Group = pg
		cfg.BucketMB = c.Float64("bucket-mb")
	}
	if cfg.SampleEvery > 0 {
		spatial := cfg.Objective != train.ADM && !cfg.ScalarEmbedding
		if cfg.Preview, err = infer.PreviewSampler(cfg.NoiseSchedule, cfg.DiffusionSteps, c.Int("preview-steps"),
			cfg.TimestepOffset, spatial); err != nil {
			return fmt.Errorf("--preview-steps: %w", err)
		}
	}
	if !c.Bool("quiet") {
		nl := "" // start a new line after the progress line
		if st, err := os.Stderr.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			nl = "\n"
		}
		cfg.Logf = func(format string, a ...any) { fmt.Fprintf(c.App.ErrWriter, nl+format+"\n", a...) }
	} else {
		cfg.Progress = discard{}
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := train.Run(ctx, cfg)
	if res != nil && (launch == nil || launch.Rank == 0) {
		w := c.App.Writer
		last := "-"
		if n := len(res.Records); n > 0 {
			last = fmt.Sprintf("%.5g", res.Records[n-1].Loss)
		}
		fmt.Fprintf(w, "%s: steps %d..%d in %.1f s, last loss %s, %d non-finite steps skipped, %d corrupt files skipped\n",
			cfg.Objective, res.StartStep, res.Step, res.Seconds, last, res.NonFinite, res.SkippedFiles)
		if res.Checkpoint != "" {
			fmt.Fprintf(w, "checkpoint %s\n", res.Checkpoint)
		}
		if res.Final != "" {
			fmt.Fprintf(w, "%s %s\n", map[bool]string{true: "adapter", false: "model"}[cfg.Objective == train.RADLoRA], res.Final)
		}
	}
	if err != nil && resume == "" && strings.Contains(err.Error(), "already holds checkpoints") {
		return fmt.Errorf("%w (radctl train --resume latest)", err)
	}
	return err
}

// joinGroup joins the launch's process group: NCCL on CUDA (each rank on
// cuda:LOCAL_RANK), Gloo on the CPU, unless --dist-backend says.
func joinGroup(c *cli.Context, l *train.Launch, cfg *train.Config) (*torch.ProcessGroup, error) {
	dev, err := torch.ParseDevice(cfg.Device)
	if err != nil {
		return nil, err
	}
	backend := torch.Gloo
	if dev.IsCUDA() {
		dev = torch.CUDA(l.LocalRank)
		cfg.Device = dev.String()
		backend = torch.NCCL
	}
	if b := c.String("dist-backend"); b != "" {
		backend = torch.Backend(b)
	}
	pg, err := l.Join(backend, c.Duration("dist-timeout"))
	if err != nil {
		return nil, fmt.Errorf("rank %d of %d: %w", l.Rank, l.World, err)
	}
	return pg, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// resumeTarget resolves --resume to a checkpoint path ("" for none).
func resumeTarget(c *cli.Context) (string, error) {
	r := c.String("resume")
	switch r {
	case "":
		return "", nil
	case "latest", "auto":
		cks, err := train.Checkpoints(c.String("out"))
		if err != nil {
			return "", err
		}
		if len(cks) == 0 {
			if r == "auto" {
				return "", nil
			}
			return "", fmt.Errorf("--resume latest: no checkpoint in %s", c.String("out"))
		}
		return cks[len(cks)-1], nil
	}
	return r, nil
}

// trainConfig builds the run's configuration from the flags, or, when
// resuming, from the checkpoint with the flags that may change.
func trainConfig(c *cli.Context) (train.Config, string, error) {
	resume, err := resumeTarget(c)
	if err != nil {
		return train.Config{}, "", err
	}
	if resume != "" {
		return resumeConfig(c, resume)
	}
	obj, err := train.ParseObjective(c.String("objective"))
	if err != nil {
		return train.Config{}, "", err
	}
	base := c.String("base")
	if base == "" && c.String("config") == "" && c.String("model-flags") == "" && c.String("preset") == "" {
		if obj == train.RADLoRA {
			return train.Config{}, "", fmt.Errorf("rad-lora needs --base CHECKPOINT (and its config, unless saved in it)")
		}
		return train.Config{}, "", fmt.Errorf("give --base, or --config, --model-flags or --preset for random init")
	}
	spec, err := modelSpec(c, "base")
	if err != nil {
		return train.Config{}, "", err
	}
	dev, dt, err := deviceAndDType(c)
	if err != nil {
		return train.Config{}, "", err
	}
	if dt != torch.Float32 {
		return train.Config{}, "", fmt.Errorf("--dtype %s: training keeps float32 weights (the forward runs under bfloat16 autocast on CUDA)", dt)
	}
	if c.String("data") == "" {
		return train.Config{}, "", fmt.Errorf("give --data (a folder of images or an IDX file)")
	}
	cfg := train.DefaultConfig()
	cfg.Objective, cfg.Base, cfg.Model = obj, base, spec.Model
	if c.IsSet("dropout") {
		cfg.Model.Dropout = c.Float64("dropout")
	}
	if spec.Diffusion.DiffusionSteps > 0 {
		cfg.DiffusionSteps = spec.Diffusion.DiffusionSteps
	}
	if spec.Diffusion.NoiseSchedule != "" {
		cfg.NoiseSchedule = spec.Diffusion.NoiseSchedule
	}
	cfg.Device = dev.String()
	cfg.BatchSize, cfg.Accum = c.Int("batch-size"), c.Int("accum")
	cfg.LR, cfg.WeightDecay, cfg.GradClip = c.Float64("lr"), c.Float64("weight-decay"), c.Float64("grad-clip")
	cfg.EMA, cfg.LambdaVLB = c.Float64("ema"), c.Float64("lambda-vlb")
	cfg.LoRARank, cfg.LoRAAlpha = c.Int("lora-rank"), c.Float64("lora-alpha")
	cfg.TimestepOffset, cfg.Seed = c.Float64("timestep-offset"), c.Uint64("seed")
	cfg.RandomCrop, cfg.NoFlip, cfg.NoAutocast = c.Bool("random-crop"), c.Bool("no-flip"), c.Bool("no-autocast")
	cfg.EMAWarmup, cfg.ScalarEmbedding = c.String("ema-warmup"), c.Bool("scalar-embedding")
	cfg.CPUAutocast = c.Bool("cpu-bf16")
	cfg.ZoomMax, cfg.MaskKind = c.Float64("zoom-max"), c.String("mask-kind")
	cfg.ChannelShuffle = c.Bool("channel-shuffle")
	cfg.PhaseOneFraction = c.Float64("phase1-frac")
	cfg.MinSNRGamma = c.Float64("min-snr-gamma")
	if c.IsSet("prediction") {
		p, err := diffusion.ParseParam(c.String("prediction"))
		if err != nil {
			return train.Config{}, "", fmt.Errorf("--prediction: %w", err)
		}
		if obj == train.RADLoRA && p.String() != predictionName(cfg.Model.Prediction) {
			return train.Config{}, "", fmt.Errorf("--prediction %s: a LoRA adapter keeps its base's parameterization (%s); train rad-full to change it", p, predictionName(cfg.Model.Prediction))
		}
		cfg.Model.Prediction = string(p)
	}
	if err := setResolutionFlag(c, &cfg); err != nil {
		return train.Config{}, "", err
	}
	setRunFlags(c, &cfg, false)
	return cfg, "", nil
}

// setRunFlags sets what may change between sessions of a run; a resumed
// run keeps its saved values of the flags not given.
func setRunFlags(c *cli.Context, cfg *train.Config, resuming bool) {
	set := func(flag string) bool { return !resuming || c.IsSet(flag) }
	if c.String("data") != "" {
		cfg.Data = c.String("data")
	}
	cfg.Out = c.String("out")
	cfg.Workers = c.Int("workers")
	cfg.MaxDuration = c.Duration("max-time")
	for flag, p := range map[string]*int{"steps": &cfg.Steps, "save-every": &cfg.SaveEvery, "keep": &cfg.Keep,
		"sample-every": &cfg.SampleEvery, "preview-images": &cfg.PreviewImages, "max-nonfinite": &cfg.MaxNonFinite} {
		if set(flag) {
			*p = c.Int(flag)
		}
	}
	if set("linear-plot") {
		cfg.PlotLinear = c.Bool("linear-plot")
	}
}

// resumeConfig is the checkpoint's configuration with the session flags;
// flags that would change the computation and contradict it are refused.
func resumeConfig(c *cli.Context, path string) (train.Config, string, error) {
	info, err := train.ReadCheckpoint(path)
	if err != nil {
		return train.Config{}, "", err
	}
	cfg := info.Config
	var conflicts []string
	check := func(flag string, saved, given any) {
		if c.IsSet(flag) && fmt.Sprint(saved) != fmt.Sprint(given) {
			conflicts = append(conflicts, fmt.Sprintf("--%s %v (the checkpoint has %v)", flag, given, saved))
		}
	}
	check("objective", cfg.Objective, c.String("objective"))
	check("batch-size", cfg.BatchSize, c.Int("batch-size"))
	check("accum", cfg.Accum, c.Int("accum"))
	check("lr", cfg.LR, c.Float64("lr"))
	check("weight-decay", cfg.WeightDecay, c.Float64("weight-decay"))
	check("grad-clip", cfg.GradClip, c.Float64("grad-clip"))
	check("ema", cfg.EMA, c.Float64("ema"))
	check("lambda-vlb", cfg.LambdaVLB, c.Float64("lambda-vlb"))
	check("lora-rank", cfg.LoRARank, c.Int("lora-rank"))
	check("lora-alpha", cfg.LoRAAlpha, c.Float64("lora-alpha"))
	check("timestep-offset", cfg.TimestepOffset, c.Float64("timestep-offset"))
	check("dropout", cfg.Model.Dropout, c.Float64("dropout"))
	check("seed", cfg.Seed, c.Uint64("seed"))
	check("random-crop", cfg.RandomCrop, c.Bool("random-crop"))
	check("no-flip", cfg.NoFlip, c.Bool("no-flip"))
	check("no-autocast", cfg.NoAutocast, c.Bool("no-autocast"))
	check("ema-warmup", cfg.EMAWarmup, c.String("ema-warmup"))
	check("cpu-bf16", cfg.CPUAutocast, c.Bool("cpu-bf16"))
	check("scalar-embedding", cfg.ScalarEmbedding, c.Bool("scalar-embedding"))
	check("zoom-max", cfg.ZoomMax, c.Float64("zoom-max"))
	check("channel-shuffle", cfg.ChannelShuffle, c.Bool("channel-shuffle"))
	check("mask-kind", cfg.MaskKind, c.String("mask-kind"))
	check("phase1-frac", cfg.PhaseOneFraction, c.Float64("phase1-frac"))
	check("min-snr-gamma", cfg.MinSNRGamma, c.Float64("min-snr-gamma"))
	check("prediction", predictionName(cfg.Model.Prediction), predictionName(c.String("prediction")))
	for _, f := range []string{"config", "model-flags", "preset"} {
		if c.IsSet(f) {
			spec, err := modelSpec(c, "base")
			// the parameterization is --prediction's (checked above), not the config file's
			spec.Model.Prediction = cfg.Model.Prediction
			if err == nil && !spec.Model.Equal(cfg.Model) {
				conflicts = append(conflicts, fmt.Sprintf("--%s gives %s (the checkpoint has %s)", f, spec.Model.Short(), cfg.Model.Short()))
			}
			break
		}
	}
	if len(conflicts) > 0 {
		return cfg, "", fmt.Errorf("resuming %s: %s; a resumed run keeps its settings", path, strings.Join(conflicts, "; "))
	}
	if c.IsSet("base") {
		cfg.Base = c.String("base") // the file may have moved; its hash is checked
	}
	if c.IsSet("device") {
		dev, _, err := deviceAndDType(c)
		if err != nil {
			return cfg, "", err
		}
		cfg.Device = dev.String()
	}
	if err := setResolutionFlag(c, &cfg); err != nil { // metadata only: may change on resume
		return cfg, "", err
	}
	setRunFlags(c, &cfg, true)
	cfg.Resume = path
	return cfg, path, nil
}

// setResolutionFlag records --resolution in the model's config: metadata
// that changes no computation, so a resumed run may change it too.
func setResolutionFlag(c *cli.Context, cfg *train.Config) error {
	if !c.IsSet("resolution") {
		return nil
	}
	r, err := parseResolutionFlag(c.String("resolution"))
	if err != nil {
		return fmt.Errorf("--resolution: %w", err)
	}
	if cfg.Objective == train.RADLoRA {
		return fmt.Errorf("--resolution: an adapter runs at its base's sizes; set it on the base (radctl convert --resolution)")
	}
	cfg.Model.Resolution = r
	return nil
}

// parseResolutionFlag maps --resolution (infer's auto, model, native) to
// radmodel.Config.Resolution ("" for auto).
func parseResolutionFlag(s string) (string, error) {
	r, err := infer.ParseResolution(s)
	return string(r), err
}

// predictionName is a parameterization's name, "eps" for the empty one.
func predictionName(p string) string {
	if p == "" {
		return "eps"
	}
	return p
}
