package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
)

// Objective is what a run trains and how.
type Objective string

const (
	// RADLoRA fine-tunes a frozen base with LoRA adapters plus its
	// time-embedding layers on RAD's hybrid loss, the model seeing the
	// per-pixel timestep map (the paper's setup). The default.
	RADLoRA Objective = "rad-lora"
	// RADFull trains every weight on RAD's loss, from a base checkpoint or
	// from random init.
	RADFull Objective = "rad-full"
	// ADM is plain guided-diffusion training of every weight: scalar
	// timestep t ~ U{0..N-1}, no mask (m = 1 everywhere), hybrid loss with
	// lambda_vlb = 1 and the MSE over all pixels. It makes a base model
	// where no released checkpoint can be had.
	ADM Objective = "adm"
)

// Objectives lists the objectives.
var Objectives = []Objective{RADLoRA, RADFull, ADM}

// ParseObjective checks an objective name ("" is RADLoRA).
func ParseObjective(s string) (Objective, error) {
	if s == "" {
		return RADLoRA, nil
	}
	for _, o := range Objectives {
		if string(o) == s {
			return o, nil
		}
	}
	return "", fmt.Errorf("unknown objective %q (want rad-lora, rad-full or adm)", s)
}

// PreviewFunc inpaints x0 [B,C,H,W] (in [-1, 1]) under mask [B,1,H,W]
// (1 = hole) with model m in scope s (no grad) and returns the result
// [B,C,H,W] in s. The trainer calls it for the sample grids with the
// current (EMA) weights swapped in; it must be deterministic and must not
// keep m. The sampler lives in package infer, which train does not import:
// radctl fills this in.
type PreviewFunc func(ctx context.Context, s *torch.Scope, m *radmodel.UNet, x0, mask *torch.Tensor) (*torch.Tensor, error)

// Config is a training run. Start from DefaultConfig. The fields with
// JSON tags are saved in every checkpoint; on resume the saved values of
// the fields that change the computation are used (see Run).
type Config struct {
	// Objective: RADLoRA, RADFull or ADM.
	Objective Objective `json:"objective"`
	// Base is the checkpoint to start from (any format radmodel.Load
	// reads). Required for RADLoRA; empty for RADFull and ADM means random
	// init (guided-diffusion's: the zero_module layers start at zero).
	Base string `json:"base,omitempty"`
	// BaseSHA256 is filled in by Run (the base file's hash).
	BaseSHA256 string `json:"base_sha256,omitempty"`
	// Model is the UNet config (of the base, or of the new model).
	Model radmodel.Config `json:"model"`
	// DiffusionSteps and NoiseSchedule give the base chain (guided-
	// diffusion's diffusion_steps and noise_schedule).
	DiffusionSteps int    `json:"diffusion_steps"`
	NoiseSchedule  string `json:"noise_schedule"`

	// Data is a folder of PNG/JPEG images or an IDX file (train/data.Open).
	Data string `json:"data"`
	// Out is the output folder (created if missing).
	Out string `json:"out"`
	// Steps is the number of optimizer steps of the whole run.
	Steps int `json:"steps"`
	// BatchSize is the micro-batch; Accum micro-batches make one step.
	BatchSize int `json:"batch_size"`
	Accum     int `json:"accum"`
	// Workers decode images (0 = GOMAXPROCS); it does not change results.
	Workers int `json:"-"`
	// RandomCrop crops at a random place instead of the centre; NoFlip
	// turns off the random left-right mirror.
	RandomCrop bool `json:"random_crop,omitempty"`
	NoFlip     bool `json:"no_flip,omitempty"`
	// ZoomMax > 1 trains on patches of the images at random scales
	// (data.Config.ZoomMax); 0: whole images.
	ZoomMax float64 `json:"zoom_max,omitempty"`
	// ChannelShuffle permutes each sample's R, G, B channels at random
	// (data.Config.ChannelShuffle): a colour augmentation for small photo
	// sets. RGB models only.
	ChannelShuffle bool `json:"channel_shuffle,omitempty"`
	// MaskKind is the training masks' kind (masks.Kind; "" = perlin, the
	// paper's).
	MaskKind string `json:"mask_kind,omitempty"`
	// ScalarEmbedding trains RAD with ADM's scalar timestep embedding
	// instead of the spatial one (the paper's ablation "Cfg. 2"): the
	// model is fed the base timestep k of the sample's phase step, which
	// is the hole's timestep in phase 1 and the known pixels' (the moving
	// level) in phase 2, as radctl infer --scalar-embedding feeds it.
	ScalarEmbedding bool `json:"scalar_embedding,omitempty"`
	// PhaseOneFraction p > 0 draws a RAD sample's step from phase 1 (the
	// hole noised, the known pixels clean: the states inference visits)
	// with probability p and from phase 2 otherwise; 0 draws uniformly
	// over both phases, the paper's (p = 1/2 when the phases are equally
	// long, but a different random stream). Needs the per-sample scheme.
	PhaseOneFraction float64 `json:"phase1_fraction,omitempty"`
	// MinSNRGamma > 0 weighs the MSE term per pixel by min-SNR-gamma
	// (diffusion.MinSNRWeight; a departure from the paper, whose MSE is
	// unweighted); 0 is off.
	MinSNRGamma float64 `json:"min_snr_gamma,omitempty"`

	// LR, WeightDecay: AdamW's (betas 0.9/0.999, eps 1e-8).
	LR          float64 `json:"lr"`
	WeightDecay float64 `json:"weight_decay"`
	// GradClip is the global gradient norm bound (<= 0: no clipping).
	GradClip float64 `json:"grad_clip"`
	// EMA is the decay of the exponential moving average of the trained
	// weights; 0 turns it off. With EMAWarmup it is the final decay.
	EMA float64 `json:"ema"`
	// EMAWarmup is the EMA's warm-up rule (see EMADecay): EMAWarmupRatio
	// (DefaultConfig's) or EMAWarmupOff ("" too: checkpoints written before
	// warm-up existed resume without it, exactly as they ran).
	EMAWarmup string `json:"ema_warmup,omitempty"`
	// LambdaVLB weighs the VLB term of RAD's hybrid loss (0 = MSE only).
	// ADM always uses 1.
	LambdaVLB float64 `json:"lambda_vlb"`
	// LoRARank and LoRAAlpha size the adapters (RADLoRA).
	LoRARank  int     `json:"lora_rank,omitempty"`
	LoRAAlpha float64 `json:"lora_alpha,omitempty"`
	// TimestepOffset is added to the timestep map (docs/DESIGN.md §2.7; recorded in
	// the adapter's metadata).
	TimestepOffset float64 `json:"timestep_offset"`
	// Seed fixes every random choice: adapter init, random model init,
	// timesteps, noise, dropout, data order, crops, flips and masks.
	Seed uint64 `json:"seed"`
	// RNG is how the timesteps, noise and dropout of a sample are drawn:
	// RNGSample (DefaultConfig's) or RNGStream ("" too: checkpoints
	// written before RNGSample existed resume with the stream they ran).
	RNG string `json:"rng,omitempty"`
	// World is the number of data-parallel ranks the run trains on (0 or
	// 1: one process); Run sets it from Group. BatchSize is per rank: a
	// step sees World x BatchSize x Accum samples.
	World int `json:"world_size,omitempty"`
	// Group, when set, makes the run one rank of a data-parallel run
	// (World = Group.World()): weights broadcast from rank 0, gradients
	// all-reduced, each rank reading its shard of every global batch,
	// rank 0 alone writing files. See docs/DESIGN.md.
	Group *torch.ProcessGroup `json:"-"`
	// BucketMB is the size of the gradient all-reduce's buckets in MiB
	// (0: 25, PyTorch DDP's default).
	BucketMB float64 `json:"-"`
	// Device is "cpu", "cuda" or "cuda:N". On CUDA the forward runs under
	// bfloat16 autocast unless NoAutocast; losses are float32.
	Device     string `json:"device"`
	NoAutocast bool   `json:"no_autocast,omitempty"`
	// CPUAutocast runs the forward under bfloat16 autocast on the CPU too
	// (CPUs with avx512_bf16 or AMX run it natively; see docs/RESULTS.md
	// for what it did on the 2-core machine).
	CPUAutocast bool `json:"cpu_autocast,omitempty"`

	// SaveEvery writes a checkpoint every that many steps (0: only at the
	// end); Keep is how many checkpoints stay (older ones are removed).
	SaveEvery int `json:"save_every"`
	Keep      int `json:"keep"`
	// SampleEvery writes a sample grid every that many steps and at the
	// end (0: never); PreviewImages is its number of rows.
	SampleEvery   int `json:"sample_every"`
	PreviewImages int `json:"preview_images"`
	// PlotLinear draws the loss curve on a linear axis (default: log).
	PlotLinear bool `json:"plot_linear,omitempty"`
	// MaxNonFinite consecutive steps with a NaN or Inf loss or gradient
	// stop the run (each is skipped: no update).
	MaxNonFinite int `json:"max_nonfinite"`
	// MaxDuration > 0 ends this session's training after that much wall
	// time as if Steps were reached (checkpoint, samples, final exports);
	// a later resume with more time goes on.
	MaxDuration time.Duration `json:"-"`

	// Resume is a checkpoint file to continue from, "latest" (the newest
	// checkpoint in Out, which must exist) or "auto" (the newest if any,
	// else a fresh run). Empty starts fresh and refuses an Out that
	// already holds checkpoints.
	Resume string `json:"-"`
	// Preview makes the sample grids (nil: none).
	Preview PreviewFunc `json:"-"`
	// Progress receives a progress line (nil: os.Stderr when it is a
	// terminal, else nothing).
	Progress io.Writer `json:"-"`
	// Logf receives notes (resume, skipped files, ...); nil discards them.
	Logf func(format string, args ...any) `json:"-"`
}

// DefaultConfig is the paper's and the authors' training setup: rad-lora
// with rank/alpha 16/16, AdamW lr 1e-4 and weight decay 1e-2, gradient
// clipping at 1, EMA 0.999, lambda_vlb 1e-3, batch 16, checkpoints every
// 1000 steps keeping 3, 5 non-finite steps in a row stop the run.
func DefaultConfig() Config {
	return Config{
		Objective:      RADLoRA,
		DiffusionSteps: diffusion.DefaultSteps,
		NoiseSchedule:  "linear",
		Steps:          1000,
		BatchSize:      16,
		Accum:          1,
		LR:             torch.DefaultAdamW.LR,
		WeightDecay:    torch.DefaultAdamW.WeightDecay,
		GradClip:       1,
		EMA:            0.999,
		EMAWarmup:      EMAWarmupRatio,
		LambdaVLB:      diffusion.DefaultLambdaVLB,
		LoRARank:       radmodel.DefaultLoRA.Rank,
		LoRAAlpha:      radmodel.DefaultLoRA.Alpha,
		Device:         "cpu",
		SaveEvery:      1000,
		Keep:           3,
		SampleEvery:    1000,
		PreviewImages:  4,
		MaxNonFinite:   5,
		RNG:            RNGSample,
	}
}

// Random schemes of Config.RNG.
const (
	// RNGSample draws each sample's timestep, noise and dropout masks
	// from generators keyed on the run's seed and the sample's position p
	// in the data stream (p = global micro-batch number x global batch +
	// index in it, which fixes the step), as its crop, flip and mask
	// already are: the draws do not depend on the rank or batch slot that
	// trains the sample, so a data-parallel run computes what one process
	// with the global batch computes.
	RNGSample = "sample"
	// RNGStream draws them from three generators that run on over the
	// whole run, batch after batch (the scheme before RNGSample).
	RNGStream = "stream"
)

// normalize fills the few zero values that have an obvious meaning and
// checks the rest.
func (c *Config) normalize() error {
	var err error
	if c.Objective, err = ParseObjective(string(c.Objective)); err != nil {
		return err
	}
	if c.DiffusionSteps == 0 {
		c.DiffusionSteps = diffusion.DefaultSteps
	}
	if c.NoiseSchedule == "" {
		c.NoiseSchedule = "linear"
	}
	if c.Accum < 1 {
		c.Accum = 1
	}
	if c.Keep == 0 {
		c.Keep = 3
	}
	if c.MaxNonFinite <= 0 {
		c.MaxNonFinite = 5
	}
	if c.Device == "" {
		c.Device = "cpu"
	}
	if c.Objective == RADLoRA {
		if c.LoRARank == 0 {
			c.LoRARank = radmodel.DefaultLoRA.Rank
		}
		if c.LoRAAlpha == 0 {
			c.LoRAAlpha = float64(c.LoRARank)
		}
	} else {
		c.LoRARank, c.LoRAAlpha = 0, 0
	}
	if c.PreviewImages <= 0 {
		c.PreviewImages = 4
	}
	if c.RNG == "" {
		c.RNG = RNGStream
	}
	if c.Group != nil {
		c.World = c.Group.World()
	}
	if c.World < 1 {
		c.World = 1
	}
	bad := func(f string, a ...any) error { return fmt.Errorf("train: "+f, a...) }
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.Objective == RADLoRA && c.Base == "":
		return bad("objective rad-lora needs a base checkpoint")
	case c.Data == "":
		return bad("no training data given")
	case c.Out == "":
		return bad("no output folder given")
	case c.Steps < 1:
		return bad("steps %d, want >= 1", c.Steps)
	case c.BatchSize < 1:
		return bad("batch size %d, want >= 1", c.BatchSize)
	case !(c.LR > 0) || !finite(c.LR):
		return bad("learning rate %g, want > 0", c.LR)
	case !(c.WeightDecay >= 0) || !finite(c.WeightDecay):
		return bad("weight decay %g, want >= 0", c.WeightDecay)
	case !finite(c.GradClip):
		return bad("gradient clip %g", c.GradClip)
	case !(c.EMA >= 0 && c.EMA < 1):
		return bad("EMA decay %g, want 0 (off) or in (0, 1)", c.EMA)
	case c.EMAWarmup != "" && c.EMAWarmup != EMAWarmupOff && c.EMAWarmup != EMAWarmupRatio:
		return bad("EMA warm-up %q, want %q or %q", c.EMAWarmup, EMAWarmupRatio, EMAWarmupOff)
	case c.ScalarEmbedding && c.Objective == ADM:
		return bad("scalar-embedding is a RAD ablation; the adm objective always uses the scalar embedding")
	case !(c.PhaseOneFraction >= 0 && c.PhaseOneFraction <= 1):
		return bad("phase-1 fraction %g, want in (0, 1] (or 0: uniform over both phases)", c.PhaseOneFraction)
	case c.PhaseOneFraction > 0 && c.Objective == ADM:
		return bad("phase-1 fraction is for the RAD objectives; adm has one phase")
	case c.PhaseOneFraction > 0 && c.RNG != RNGSample:
		return bad("phase-1 fraction needs the per-sample random scheme (rng %q); this run uses %q", RNGSample, c.RNG)
	case !(c.ZoomMax >= 0) || !finite(c.ZoomMax):
		return bad("zoom %g, want >= 1 (or 0: off)", c.ZoomMax)
	case c.ChannelShuffle && c.Model.InChannels != 3:
		return bad("channel shuffle needs an RGB model; this one has %d input channel(s)", c.Model.InChannels)
	case !(c.MinSNRGamma >= 0) || !finite(c.MinSNRGamma):
		return bad("min-SNR gamma %g, want > 0 (or 0: off)", c.MinSNRGamma)
	case !(c.LambdaVLB >= 0) || !finite(c.LambdaVLB):
		return bad("lambda_vlb %g, want >= 0", c.LambdaVLB)
	case c.LoRARank < 0 || c.LoRAAlpha < 0:
		return bad("LoRA rank %d and alpha %g must be positive", c.LoRARank, c.LoRAAlpha)
	case !finite(c.TimestepOffset):
		return bad("timestep offset %g", c.TimestepOffset)
	case c.SaveEvery < 0 || c.SampleEvery < 0:
		return bad("save-every %d and sample-every %d must be >= 0", c.SaveEvery, c.SampleEvery)
	case c.DiffusionSteps < 2:
		return bad("diffusion steps %d, want >= 2", c.DiffusionSteps)
	case c.RNG != RNGSample && c.RNG != RNGStream:
		return bad("random scheme %q, want %q or %q", c.RNG, RNGSample, RNGStream)
	case c.World > 1 && c.RNG != RNGSample:
		return bad("data-parallel training needs the per-sample random scheme (rng %q); this run uses %q (a checkpoint written before it existed): resume it in one process", RNGSample, c.RNG)
	}
	if err := c.Model.Validate(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if c.Model.InChannels != 1 && c.Model.InChannels != 3 {
		return bad("the model has %d input channels; training data is gray (1) or RGB (3)", c.Model.InChannels)
	}
	if c.Model.OutChannels != c.Model.InChannels && c.Model.OutChannels != 2*c.Model.InChannels {
		return bad("the model has %d output channels for %d input channels (want eps, or eps and variance)",
			c.Model.OutChannels, c.Model.InChannels)
	}
	return nil
}

// learnSigma reports whether the model predicts the variance too.

// lambda is the VLB weight the objective uses.
func (c *Config) lambda() float64 {
	if c.Objective == ADM {
		return 1
	}
	return c.LambdaVLB
}

// JSON is the config as saved in checkpoints.
func (c *Config) JSON() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// adoptSaved takes the saved values of the fields that change the
// computation (on resume they come from the checkpoint) and lists the ones
// that differed. The model's resolution note (radmodel.Config.Resolution)
// stays c's.
func (c *Config) adoptSaved(saved Config) []string {
	var notes []string
	diff := func(name string, a, b any) {
		if fmt.Sprint(a) != fmt.Sprint(b) {
			notes = append(notes, fmt.Sprintf("%s %v (saved) instead of %v", name, b, a))
		}
	}
	diff("objective", c.Objective, saved.Objective)
	note := c.Model.Resolution // a note on the sizes to run at, not the computation: c's is kept
	mine, theirs := c.Model, saved.Model
	mine.Resolution, theirs.Resolution = "", ""
	diff("model", mine.Short(), theirs.Short())
	diff("lr", c.LR, saved.LR)
	diff("weight decay", c.WeightDecay, saved.WeightDecay)
	diff("grad clip", c.GradClip, saved.GradClip)
	diff("ema", c.EMA, saved.EMA)
	diff("lambda_vlb", c.LambdaVLB, saved.LambdaVLB)
	diff("batch size", c.BatchSize, saved.BatchSize)
	diff("accum", c.Accum, saved.Accum)
	diff("seed", c.Seed, saved.Seed)
	diff("timestep offset", c.TimestepOffset, saved.TimestepOffset)
	diff("lora", fmt.Sprint(c.LoRARank, c.LoRAAlpha), fmt.Sprint(saved.LoRARank, saved.LoRAAlpha))
	diff("diffusion", fmt.Sprint(c.DiffusionSteps, c.NoiseSchedule), fmt.Sprint(saved.DiffusionSteps, saved.NoiseSchedule))
	diff("crop/flip", fmt.Sprint(c.RandomCrop, c.NoFlip), fmt.Sprint(saved.RandomCrop, saved.NoFlip))
	diff("autocast off", c.NoAutocast, saved.NoAutocast)
	diff("cpu autocast", c.CPUAutocast, saved.CPUAutocast)
	diff("ema warm-up", c.EMAWarmup, saved.EMAWarmup)
	diff("scalar embedding", c.ScalarEmbedding, saved.ScalarEmbedding)
	diff("zoom", c.ZoomMax, saved.ZoomMax)
	diff("channel shuffle", c.ChannelShuffle, saved.ChannelShuffle)
	diff("mask kind", c.MaskKind, saved.MaskKind)
	diff("phase-1 fraction", c.PhaseOneFraction, saved.PhaseOneFraction)
	diff("rng", c.RNG, saved.RNG)
	diff("min-SNR gamma", c.MinSNRGamma, saved.MinSNRGamma)
	c.Objective, c.Model, c.LR, c.WeightDecay, c.GradClip = saved.Objective, saved.Model, saved.LR, saved.WeightDecay, saved.GradClip
	c.EMA, c.LambdaVLB, c.BatchSize, c.Accum, c.Seed = saved.EMA, saved.LambdaVLB, saved.BatchSize, saved.Accum, saved.Seed
	c.TimestepOffset, c.LoRARank, c.LoRAAlpha = saved.TimestepOffset, saved.LoRARank, saved.LoRAAlpha
	c.DiffusionSteps, c.NoiseSchedule, c.RandomCrop, c.NoFlip = saved.DiffusionSteps, saved.NoiseSchedule, saved.RandomCrop, saved.NoFlip
	c.NoAutocast, c.CPUAutocast = saved.NoAutocast, saved.CPUAutocast
	c.EMAWarmup, c.ScalarEmbedding, c.ZoomMax, c.MaskKind = saved.EMAWarmup, saved.ScalarEmbedding, saved.ZoomMax, saved.MaskKind
	c.RNG, c.PhaseOneFraction, c.ChannelShuffle = saved.RNG, saved.PhaseOneFraction, saved.ChannelShuffle
	c.MinSNRGamma = saved.MinSNRGamma
	c.Model.Resolution = note
	if c.Base == "" {
		c.Base = saved.Base
	}
	c.BaseSHA256 = saved.BaseSHA256
	return notes
}

func joinNotes(v []string) string { return strings.Join(v, "; ") }

// EMA warm-up rules.
const (
	// EMAWarmupRatio: the decay after the n-th optimizer update is
	// min(EMA, (1 + n) / (10 + n)), so the average forgets the random
	// start quickly (0.18 after the first update, 0.9 after the 80th,
	// 0.999 from about the 9,000th).
	EMAWarmupRatio = "ratio"
	// EMAWarmupOff: the decay is EMA from the first update.
	EMAWarmupOff = "off"
)

// EMADecay is the EMA decay applied at the n-th optimizer update (n >= 1:
// updates applied so far, this one included; skipped non-finite steps do
// not count) under the warm-up rule ("" = EMAWarmupOff).
func EMADecay(decay float64, warmup string, n int64) float64 {
	if warmup == EMAWarmupRatio {
		return math.Min(decay, float64(1+n)/float64(10+n))
	}
	return decay
}

// reshard adapts a resumed run to the world size of this session. The
// checkpoint's data position counts global batches and, under RNGSample,
// a sample's draws depend on its stream position only, so a run resumed
// on W' ranks with the same global batch (World x BatchSize) computes
// what the saved world size would have computed: BatchSize becomes
// global/W'. A global batch that W' does not divide, or a run on the
// old random stream, is refused.
func (c *Config) reshard(ck *CheckpointInfo) error {
	world := 1
	if c.Group != nil {
		world = c.Group.World()
	}
	return reshardTo(c, ck, world)
}

func reshardTo(c *Config, ck *CheckpointInfo, world int) error {
	saved := max(ck.Config.World, 1)
	if saved == world {
		return nil
	}
	global := saved * c.BatchSize
	if c.RNG != RNGSample {
		return fmt.Errorf("train: checkpoint %s was trained on %d process(es) with the old random stream (rng %q); it resumes on %d process(es) only",
			ck.Path, saved, RNGStream, saved)
	}
	if global%world != 0 {
		return fmt.Errorf("train: checkpoint %s has a global batch of %d (%d ranks x %d): %d ranks cannot share it evenly; resume on a world size that divides %d",
			ck.Path, global, saved, c.BatchSize, world, global)
	}
	if c.Logf != nil && (c.Group == nil || c.Group.Rank() == 0) {
		c.Logf("resume: re-sharding the global batch of %d from %d to %d rank(s): %d samples per rank", global, saved, world, global/world)
	}
	c.BatchSize = global / world
	return nil
}
