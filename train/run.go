package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/radinpaint/rad/internal/atomicfile"
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/masks"
	"github.com/radinpaint/rad/torch"
	"github.com/radinpaint/rad/train/data"
)

// Files a run writes into its output folder.
const (
	LogFile    = "train.jsonl"
	PlotFile   = "loss.png"
	ConfigFile = "config.json"
	SampleDir  = "samples"
	// FinalAdapter and FinalModel are the exports of the last step
	// (rad-lora; rad-full and adm), of the EMA weights when EMA is on;
	// FinalAdapterRaw and FinalModelRaw hold the raw (trained, not
	// averaged) weights beside them when EMA is on.
	FinalAdapter    = "adapter.safetensors"
	FinalModel      = "model.safetensors"
	FinalAdapterRaw = "adapter-raw.safetensors"
	FinalModelRaw   = "model-raw.safetensors"
)

// ErrNonFinite is wrapped by the error of a run stopped by MaxNonFinite
// non-finite steps in a row.
var ErrNonFinite = errors.New("too many non-finite steps in a row")

// Result sums up a run (also when it stops with an error).
type Result struct {
	// StartStep is the step the run started (or resumed) at; Step the
	// last step done.
	StartStep, Step int
	// Records are this session's steps, as logged.
	Records []Record
	// NonFinite counts the steps skipped for a non-finite loss or
	// gradient, over the whole run.
	NonFinite int
	// SkippedFiles counts corrupt input files skipped (at least; a resumed
	// run cannot tell files seen before the resume from new ones) and
	// SkippedNames names the first few.
	SkippedFiles int
	SkippedNames []string
	// Checkpoint is the newest checkpoint written, Export its adapter or
	// model file, Final the export of the last step (FinalAdapter or
	// FinalModel), FinalRaw the raw weights' export beside it (EMA on),
	// and Samples the sample grids written.
	Checkpoint, Export, Final, FinalRaw string
	Samples                             []string
	// Seconds is this session's wall time.
	Seconds float64
}

// Run trains as cfg says, writing into cfg.Out: checkpoints
// (ckpt-<step>.safetensors, with adapter-<step> or model-<step> exports),
// the JSONL log (train.jsonl), the loss curve (loss.png), sample grids
// (samples/step-<step>.png) and config.json.
//
// Resuming (cfg.Resume) restores every piece of state, so the losses of a
// resumed run equal an uninterrupted run's bit for bit on the CPU. The
// checkpoint's values of the fields that change the computation
// (objective, model, lr, weight decay, clipping, EMA, lambda_vlb, batch,
// accumulation, seed, offset, LoRA, diffusion, crop/flip) are used; Steps,
// the save/sample settings, Data, Workers and the callbacks come from cfg.
//
// Cancelling ctx stops the run between two steps after writing a
// checkpoint of the last step done; Run then returns ctx's error.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	// libtorch numbers autograd nodes with a per-OS-thread counter and runs
	// backward in that order, so the order in which gradients flowing into
	// one tensor are summed (and their rounding) follows the threads the
	// forward's ops ran on. One locked thread makes it reproducible.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	started := time.Now()
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if cfg.Out == "" {
		return nil, fmt.Errorf("train: no output folder given")
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	ckPath, err := resumePath(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Group != nil && cfg.Group.Rank() != 0 {
		// only rank 0 speaks
		logf = func(string, ...any) {}
	}
	ckScope := torch.NewNoGradScope()
	defer ckScope.Close()
	var ck *CheckpointInfo
	var sd *torch.StateDict
	if ckPath != "" {
		if ck, sd, err = loadCheckpoint(ckScope, ckPath); err != nil {
			return nil, err
		}
		if notes := cfg.adoptSaved(ck.Config); len(notes) > 0 {
			logf("resume: using the checkpoint's settings: %s", joinNotes(notes))
		}
		if err := cfg.reshard(ck); err != nil {
			return nil, err
		}
		logf("resuming from %s (step %d)", ckPath, ck.Step)
	}
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if cfg.Base != "" && (ck == nil || cfg.Objective == RADLoRA) {
		sha, err := radmodel.FileSHA256(cfg.Base)
		if err != nil {
			return nil, fmt.Errorf("train: base %w", err)
		}
		if ck != nil && ck.Config.BaseSHA256 != "" && ck.Config.BaseSHA256 != sha {
			return nil, fmt.Errorf("train: base %s (sha256 %.12s) is not the file checkpoint %s was trained on (sha256 %.12s)",
				cfg.Base, sha, ckPath, ck.Config.BaseSHA256)
		}
		cfg.BaseSHA256 = sha
	}
	src, err := data.Open(cfg.Data)
	if err != nil {
		return nil, err
	}
	var labels *labeler
	if cfg.Model.NumClasses > 0 {
		if labels, err = newLabeler(src, cfg.Model.NumClasses); err != nil {
			return nil, err
		}
	}
	t, err := newTrainer(cfg, ck, sd)
	if err != nil {
		return nil, err
	}
	defer t.close()
	t.labels = labels
	ckScope.Close() // the checkpoint's tensors are copied
	startPos := 0
	if ck != nil {
		startPos = ck.DataPosition
	}
	if err := t.checkRanksAgree(startPos); err != nil {
		return nil, err
	}

	r := &runner{t: t, cfg: &t.cfg, ctx: ctx, logf: logf, src: src, started: started,
		res: &Result{StartStep: t.step, Step: t.step}, lead: t.rank() == 0}
	defer func() {
		r.res.Seconds = time.Since(started).Seconds()
		res = r.res
	}()
	return r.res, r.run(ck)
}

// resumePath resolves cfg.Resume to a checkpoint file ("" = fresh run).
func resumePath(cfg Config) (string, error) {
	have, err := Checkpoints(cfg.Out)
	if err != nil {
		return "", fmt.Errorf("train: %w", err)
	}
	switch cfg.Resume {
	case "":
		if len(have) > 0 {
			return "", fmt.Errorf("train: %s already holds checkpoints (newest %s): resume with \"latest\" or \"auto\", or use another output folder",
				cfg.Out, filepath.Base(have[len(have)-1]))
		}
		return "", nil
	case "latest", "auto":
		if len(have) == 0 {
			if cfg.Resume == "auto" {
				return "", nil
			}
			return "", fmt.Errorf("train: no checkpoint to resume in %s", cfg.Out)
		}
		return have[len(have)-1], nil
	}
	return cfg.Resume, nil
}

// runner is the loop of one session.
type runner struct {
	t       *trainer
	cfg     *Config
	ctx     context.Context
	logf    func(string, ...any)
	src     data.Source
	loader  *data.Loader
	log     *stepLog
	prog    *progress
	history []point
	res     *Result
	started time.Time
	lead    bool // writes the files: rank 0 (or the only process)

	prevSkipped  int // corrupt files counted before a resume
	lastSaved    int
	lastSampled  int
	previewX     *torch.Tensor
	previewM     *torch.Tensor
	previewScope *torch.Scope
}

func (r *runner) run(ck *CheckpointInfo) error {
	pos, err := r.begin(ck)
	defer r.log.close()
	if err != nil {
		return err
	}
	closeLoader, err := r.startLoader(pos)
	if err != nil {
		return err
	}
	defer closeLoader()
	if pw := r.progressWriter(); pw != nil && r.lead {
		r.prog = newProgress(pw, r.t.step, r.cfg.Steps)
	}
	defer r.prog.finish()
	if err := r.loop(ck); err != nil {
		return err
	}
	return r.finish(ck)
}

// begin writes the run's config.json and opens its log (rank 0), and
// returns the data position to resume from.
func (r *runner) begin(ck *CheckpointInfo) (pos int, err error) {
	cfg, t := r.cfg, r.t
	if r.lead {
		removeStaleTemps(cfg.Out)
		cj, _ := json.MarshalIndent(cfg, "", "  ")
		if err := atomicfile.WriteBytes(filepath.Join(cfg.Out, ConfigFile), append(cj, '\n')); err != nil {
			return 0, fmt.Errorf("train: %w", err)
		}
	}
	if ck != nil {
		pos, r.prevSkipped = ck.DataPosition, ck.state.SkippedFiles
	}
	r.lastSaved, r.lastSampled = t.step, t.step
	var kept []Record
	if r.lead {
		if r.log, kept, err = openLog(filepath.Join(cfg.Out, LogFile), t.step); err != nil {
			return 0, fmt.Errorf("train: log: %w", err)
		}
	}
	for _, rec := range kept {
		if !rec.Skipped {
			r.history = append(r.history, point{rec.Step, rec.Loss})
		}
	}
	return pos, nil
}

// startLoader starts the data loader at pos (this rank's shard); the
// returned function stops it and records its skipped files.
func (r *runner) startLoader(pos int) (func(), error) {
	cfg := r.cfg
	dcfg := data.Config{Size: cfg.Model.ImageSize, Channels: cfg.Model.InChannels, BatchSize: cfg.BatchSize,
		Seed: subSeed(cfg.Seed, "data"), Workers: cfg.Workers, RandomCrop: cfg.RandomCrop, Flip: !cfg.NoFlip,
		MaskKind: masks.Kind(cfg.MaskKind), ZoomMax: cfg.ZoomMax, ChannelShuffle: cfg.ChannelShuffle,
		Shards: cfg.World, Shard: r.t.rank()}
	// the loader runs on its own context: a step, once begun, completes
	lctx, cancel := context.WithCancel(context.Background())
	var err error
	if r.loader, err = data.NewLoader(lctx, r.src, dcfg, pos); err != nil {
		cancel()
		return nil, err
	}
	return func() {
		st := r.loader.Stats()
		r.loader.Close()
		cancel()
		r.res.SkippedFiles = max(r.prevSkipped, st.Skipped)
		r.res.SkippedNames = st.SkippedNames
		if r.res.SkippedFiles > 0 {
			r.logf("skipped %d corrupt input files (first: %v)", r.res.SkippedFiles, st.SkippedNames)
		}
		if r.previewScope != nil {
			r.previewScope.Close()
		}
	}, nil
}

// progressWriter is where the progress line goes: Config.Progress, or
// stderr when it is a terminal.
func (r *runner) progressWriter() io.Writer {
	if r.cfg.Progress != nil {
		return r.cfg.Progress
	}
	if isTerminal(os.Stderr) {
		return os.Stderr
	}
	return nil
}

// loop trains until cfg.Steps, the time limit or a stop.
func (r *runner) loop(ck *CheckpointInfo) error {
	t := r.t
	bs := torch.NewNoGradScope() // the current step's micro-batches
	defer func() { bs.Close() }()
	next := func() (microBatch, error) {
		b, err := r.loader.Next()
		if err != nil {
			return microBatch{}, err
		}
		x, m := b.Tensors(bs)
		return microBatch{x: x, m: m, indices: b.Indices, pos: b.Positions}, bs.Err()
	}
	for t.step < r.cfg.Steps {
		if stop, err := r.checkStop(); stop || err != nil {
			return err
		}
		rec, err := t.trainStep(next)
		bs.Close()
		bs = torch.NewNoGradScope()
		if err != nil {
			return err
		}
		if err := r.afterStep(rec, ck); err != nil {
			return err
		}
	}
	return nil
}

// checkStop tells whether the run stops before the next step: at the time
// limit (stop, no error) or on a cancellation (stop with its error, after
// a checkpoint of the steps since the last). In a data-parallel run every
// rank asks in a step's agreement and all stop after the same step.
func (r *runner) checkStop() (bool, error) {
	cfg, t := r.cfg, r.t
	timeUp := cfg.MaxDuration > 0 && time.Since(r.started) >= cfg.MaxDuration
	if t.pg != nil {
		t.wantStop = 0
		if timeUp {
			t.wantStop |= stopTime
		}
		if r.ctx.Err() != nil {
			t.wantStop |= stopCancel
		}
		timeUp = t.stopAll&stopTime != 0 && t.stopAll&stopCancel == 0
	}
	if timeUp {
		r.logf("stopping at step %d: the session's time limit (%s) is reached", t.step, cfg.MaxDuration)
		return true, nil
	}
	if err := r.stopErr(); err != nil {
		if t.step > r.lastSaved {
			if serr := r.save(); serr != nil {
				return true, fmt.Errorf("%w (and the checkpoint at stop failed: %v)", err, serr)
			}
		}
		return true, err
	}
	return false, nil
}

// afterStep logs a step, stops the run after MaxNonFinite skipped steps in
// a row, and writes the checkpoints and sample grids that fall due.
func (r *runner) afterStep(rec Record, ck *CheckpointInfo) error {
	cfg, t := r.cfg, r.t
	rec.BadFiles = max(r.prevSkipped, r.loader.Stats().Skipped)
	if err := r.log.write(rec); err != nil {
		return fmt.Errorf("train: log: %w", err)
	}
	r.res.Records = append(r.res.Records, rec)
	r.res.Step, r.res.NonFinite = t.step, t.nonfinite
	if !rec.Skipped {
		r.history = append(r.history, point{rec.Step, rec.Loss})
	}
	r.prog.update(rec, t.step == cfg.Steps)
	if rec.Skipped {
		r.logf("step %d skipped: non-finite loss or gradient (%d in a row, %d in all)", rec.Step, t.consecutive, t.nonfinite)
		if t.consecutive >= cfg.MaxNonFinite {
			last := "no checkpoint was written"
			if r.res.Checkpoint != "" {
				last = "the last checkpoint, " + r.res.Checkpoint + ", is intact"
			} else if ck != nil {
				last = "the checkpoint resumed from, " + ck.Path + ", is intact"
			}
			return fmt.Errorf("train: stopped at step %d: %w: %d steps (%d..%d) had a NaN or Inf loss or gradient (limit %d); %s",
				t.step, ErrNonFinite, t.consecutive, t.step-t.consecutive+1, t.step, cfg.MaxNonFinite, last)
		}
	}
	if cfg.SaveEvery > 0 && t.step%cfg.SaveEvery == 0 {
		if err := r.save(); err != nil {
			return err
		}
	}
	if cfg.SampleEvery > 0 && t.step%cfg.SampleEvery == 0 {
		return r.sample()
	}
	return nil
}

// finish writes the last checkpoint, grid and the final exports (the
// EMA model or adapter, and the raw one).
func (r *runner) finish(ck *CheckpointInfo) error {
	cfg, t := r.cfg, r.t
	if t.step > r.lastSaved || r.res.Checkpoint == "" && ck == nil {
		if err := r.save(); err != nil {
			return err
		}
	} else if err := r.plot(); err != nil {
		return err
	}
	if cfg.SampleEvery > 0 && t.step > r.lastSampled {
		if err := r.sample(); err != nil {
			return err
		}
	}
	if !r.lead {
		return nil
	}
	final, raw := FinalModel, FinalModelRaw
	if cfg.Objective == RADLoRA {
		final, raw = FinalAdapter, FinalAdapterRaw
	}
	r.res.Final = filepath.Join(cfg.Out, final)
	if err := t.export(r.res.Final); err != nil {
		return fmt.Errorf("train: export: %w", err)
	}
	if t.ema != nil {
		r.res.FinalRaw = filepath.Join(cfg.Out, raw)
		if err := t.exportRaw(r.res.FinalRaw); err != nil {
			return fmt.Errorf("train: export: %w", err)
		}
	}
	return nil
}

// stopErr is the error that stops the run before the next step: the
// context's, or in a data-parallel run, any rank's cancellation (agreed
// in the last step).
func (r *runner) stopErr() error {
	t := r.t
	if t.pg == nil {
		return r.ctx.Err()
	}
	if t.stopAll&stopCancel == 0 {
		return nil
	}
	if err := r.ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("train: stopped at step %d: another rank was cancelled: %w", t.step, context.Canceled)
}

// save writes the export and checkpoint of the current step, prunes old
// ones and redraws the loss curve (rank 0 only).
func (r *runner) save() error {
	cfg, t := r.cfg, r.t
	if !r.lead {
		r.lastSaved = t.step
		return nil
	}
	prefix := exportModel
	if cfg.Objective == RADLoRA {
		prefix = exportLoRA
	}
	exp := filepath.Join(cfg.Out, stepFile(prefix, t.step))
	if err := t.export(exp); err != nil {
		return fmt.Errorf("train: export at step %d: %w", t.step, err)
	}
	if t.ema != nil {
		if err := t.exportRaw(filepath.Join(cfg.Out, stepFile(prefix+rawInfix, t.step))); err != nil {
			return fmt.Errorf("train: export at step %d: %w", t.step, err)
		}
	}
	path := filepath.Join(cfg.Out, stepFile(ckptPrefix, t.step))
	skipped := max(r.prevSkipped, r.loader.Stats().Skipped)
	if err := t.saveCheckpoint(path, r.loader.Position(), skipped); err != nil {
		return fmt.Errorf("train: checkpoint at step %d: %w", t.step, err)
	}
	r.lastSaved = t.step
	r.res.Checkpoint, r.res.Export = path, exp
	if err := prune(cfg.Out, cfg.Keep); err != nil {
		return fmt.Errorf("train: removing old checkpoints: %w", err)
	}
	return r.plot()
}

func (r *runner) plot() error {
	if !r.lead {
		return nil
	}
	if err := writeLossPlot(filepath.Join(r.cfg.Out, PlotFile), r.history, r.cfg.PlotLinear, string(r.cfg.Objective)); err != nil {
		return fmt.Errorf("train: loss curve: %w", err)
	}
	return nil
}

// sample writes a sample grid: per row the input (hole grayed), the mask,
// the EMA weights' result and, when EMA is on, the raw weights' result. A
// failing preview is reported and skipped, unless the context is done.
func (r *runner) sample() error {
	cfg, t := r.cfg, r.t
	r.lastSampled = t.step
	if cfg.Preview == nil || !r.lead {
		return nil
	}
	if r.previewX == nil {
		if err := r.loadPreview(); err != nil {
			r.logf("sample grid: %v", err)
			return nil
		}
	}
	s := torch.NewNoGradScope()
	defer s.Close()
	x0 := s.ToDevice(r.previewX, t.dev, torch.Float32)
	m := s.ToDevice(r.previewM, t.dev, torch.Float32)
	if err := s.Err(); err != nil {
		return err
	}
	preview := func(dst **torch.Tensor) func() error {
		return func() error {
			out, perr := cfg.Preview(r.ctx, s, t.model, x0, m)
			if perr == nil && !out.Valid() {
				perr = fmt.Errorf("preview returned no tensor")
			}
			*dst = out
			return perr
		}
	}
	// columns: the EMA weights' result, then (EMA on) the raw weights'
	var out, raw *torch.Tensor
	err := t.withEMA(preview(&out))
	if err == nil && t.ema != nil {
		err = preview(&raw)()
	}
	if err != nil {
		if r.ctx.Err() == nil { // a cancelled run stops at the next step
			r.logf("sample grid at step %d: %v", t.step, err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Join(cfg.Out, SampleDir), 0o755); err != nil {
		return err
	}
	path := filepath.Join(cfg.Out, SampleDir, fmt.Sprintf("step-%0*d.png", stepDigits, t.step))
	outs := []*torch.Tensor{out}
	if raw != nil {
		outs = append(outs, raw)
	}
	if err := writeSampleGrid(path, r.previewX, r.previewM, outs...); err != nil {
		r.logf("sample grid at step %d: %v", t.step, err)
		return nil
	}
	r.res.Samples = append(r.res.Samples, path)
	return nil
}

// loadPreview takes a fixed batch of images and masks for the grids (the
// same at every step and on resume; its own seed, centre crops).
func (r *runner) loadPreview() error {
	cfg := r.cfg
	n := min(cfg.PreviewImages, r.src.Len())
	dcfg := data.Config{Size: cfg.Model.ImageSize, Channels: cfg.Model.InChannels, BatchSize: n,
		Seed: subSeed(cfg.Seed, "preview"), Workers: 1, Prefetch: 1}
	l, err := data.NewLoader(context.Background(), r.src, dcfg, 0)
	if err != nil {
		return err
	}
	defer l.Close()
	b, err := l.Next()
	if err != nil {
		return err
	}
	r.previewScope = torch.NewNoGradScope()
	r.previewX, r.previewM = b.Tensors(r.previewScope)
	return r.previewScope.Err()
}

// jsonString is a value as a JSON string.
func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
