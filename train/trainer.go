package train

import (
	"fmt"
	"hash/fnv"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
	"github.com/radinpaint/rad/train/data"
)

// subSeed derives an independent seed for one random stream of a run.
func subSeed(seed uint64, tag string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(tag))
	return data.Mix64(seed ^ h.Sum64() + data.Golden) // one SplitMix64 step
}

// generator names, in checkpoint order.
var generatorNames = []string{"timesteps", "noise", "dropout"}

// trainer holds a run's model, optimizer, EMA and random streams.
type trainer struct {
	cfg      Config
	dev      torch.Device
	autocast bool
	model    *radmodel.UNet
	names    []string        // trained tensors
	params   []*torch.Tensor // owned by the model
	opt      *torch.AdamW
	ema      []*torch.Tensor // nil when EMA is off
	emaScope *torch.Scope
	sched    *diffusion.Schedule
	mapper   *diffusion.TimestepMapper
	gens     map[string]*torch.Generator
	labels   *labeler

	step        int // optimizer steps done (skipped ones included)
	nonfinite   int // steps skipped in all
	consecutive int // skipped in a row

	pg       *torch.ProcessGroup // data-parallel runs only
	wantStop int                 // this rank's stop request for the next step (stopTime, stopCancel)
	stopAll  int                 // the stop requests of all ranks, agreed in the last step
}

// microBatch is one micro-batch on the CPU: images, masks, labels.
type microBatch struct {
	x, m    *torch.Tensor
	indices []int
	pos     []int64 // the samples' stream positions (RNGSample's keys)
}

// poison is what a test makes non-finite in a step.
type poison int

const (
	poisonNone poison = iota
	poisonLoss        // the loss is NaN
	poisonGrad        // a gradient is +Inf after the backward pass
)

// testHooks let tests poison a step and watch the trainer.
var testHooks struct {
	poison    func(step int) poison
	afterStep func(t *trainer, r Record)
}

func (t *trainer) close() {
	t.mapper.Close() // its device table
	if t.opt != nil {
		t.opt.Close()
	}
	if t.emaScope != nil {
		t.emaScope.Close()
	}
	for _, g := range t.gens {
		g.Close()
	}
	if t.model != nil {
		t.model.Close()
	}
}

// newTrainer builds the model and the training state of cfg (normalized).
// ck, when set, is the checkpoint being resumed (its tensors in sd).
func newTrainer(cfg Config, ck *CheckpointInfo, sd *torch.StateDict) (t *trainer, err error) {
	return newTrainerWith(cfg, ck, sd, nil)
}

// newTrainerWith is newTrainer on a model already made (nil: load or make
// it as cfg says); the trainer takes ownership of it.
func newTrainerWith(cfg Config, ck *CheckpointInfo, sd *torch.StateDict, model *radmodel.UNet) (t *trainer, err error) {
	dev, err := torch.ParseDevice(cfg.Device)
	if err != nil {
		return nil, err
	}
	if err := dev.Validate(); err != nil {
		return nil, err
	}
	base, err := diffusion.NewNamedBase(cfg.NoiseSchedule, cfg.DiffusionSteps)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	t = &trainer{cfg: cfg, dev: dev, autocast: dev.IsCUDA() && !cfg.NoAutocast || !dev.IsCUDA() && cfg.CPUAutocast,
		sched: diffusion.NewSchedule(base), mapper: diffusion.NewTimestepMapper(base, cfg.TimestepOffset),
		gens: map[string]*torch.Generator{}, model: model, pg: cfg.Group}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	for _, n := range generatorNames {
		t.gens[n] = torch.NewGenerator(subSeed(cfg.Seed, n))
	}
	if err := t.buildModel(ck, sd); err != nil {
		return nil, err
	}
	t.opt, err = torch.NewAdamW(t.params, torch.AdamWConfig{LR: cfg.LR, Beta1: torch.DefaultAdamW.Beta1,
		Beta2: torch.DefaultAdamW.Beta2, Eps: torch.DefaultAdamW.Eps, WeightDecay: cfg.WeightDecay})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if cfg.EMA > 0 {
		t.emaScope = torch.NewNoGradScope()
		for _, p := range t.params {
			t.ema = append(t.ema, t.emaScope.Clone(p))
		}
		if err := t.emaScope.Err(); err != nil {
			return nil, fmt.Errorf("train: EMA: %w", err)
		}
	}
	if ck != nil {
		if err := t.restore(ck, sd); err != nil {
			return nil, err
		}
	}
	if err := t.broadcastState(); err != nil {
		return nil, err
	}
	return t, nil
}

// zeroModuleKey reports the layers guided-diffusion initialises to zero
// (zero_module): ResBlock out_layers[3], attention proj_out, out[2].
func zeroModuleKey(k string) bool {
	return strings.Contains(k, ".out_layers.3.") || strings.Contains(k, ".proj_out.") || strings.HasPrefix(k, "out.2.")
}

func (t *trainer) buildModel(ck *CheckpointInfo, sd *torch.StateDict) error {
	cfg := t.cfg
	var err error
	switch {
	case t.model != nil:
		// a model given by the caller (benchmarks)
		err = t.setTrainable()
	case cfg.Objective == RADLoRA:
		if t.model, err = radmodel.Load(cfg.Base, cfg.Model, t.dev, torch.Float32); err != nil {
			return err
		}
		err = t.setTrainable()
	case ck != nil:
		// every weight is in the checkpoint
		w := &torch.StateDict{Tensors: map[string]*torch.Tensor{}, Meta: map[string]any{}}
		for _, k := range ck.Trainable {
			w.Keys = append(w.Keys, k)
			w.Tensors[k] = sd.Get(groupParam + k)
		}
		if t.model, err = radmodel.FromStateDict(w, cfg.Model, t.dev, torch.Float32, ck.Path); err != nil {
			return err
		}
		t.names, t.params, err = t.model.SetAllTrainable()
	case cfg.Base != "":
		if t.model, err = radmodel.Load(cfg.Base, cfg.Model, t.dev, torch.Float32); err != nil {
			return err
		}
		t.names, t.params, err = t.model.SetAllTrainable()
	default:
		if t.model, err = radmodel.NewRandom(cfg.Model, t.dev, torch.Float32, subSeed(cfg.Seed, "init")); err != nil {
			return err
		}
		for _, k := range t.model.Keys() {
			if zeroModuleKey(k) {
				if err := t.model.Param(k).Zero(); err != nil {
					return err
				}
			}
		}
		t.names, t.params, err = t.model.SetAllTrainable()
	}
	if err != nil {
		return err
	}
	if ck != nil && strings.Join(ck.Trainable, "\n") != strings.Join(t.names, "\n") {
		return fmt.Errorf("train: checkpoint %s trains %d tensors, this model %d: not the same setup", ck.Path, len(ck.Trainable), len(t.names))
	}
	return nil
}

// setTrainable attaches the adapters (rad-lora) and picks the trained
// tensors of t.model.
func (t *trainer) setTrainable() (err error) {
	if t.cfg.Objective != RADLoRA {
		t.names, t.params, err = t.model.SetAllTrainable()
		return err
	}
	g := torch.NewGenerator(subSeed(t.cfg.Seed, "lora"))
	defer g.Close()
	lc := radmodel.LoRAConfig{Rank: t.cfg.LoRARank, Alpha: t.cfg.LoRAAlpha, Targets: radmodel.DefaultTargets}
	if err := t.model.AddLoRA(lc, g); err != nil {
		return err
	}
	t.names, t.params, err = t.model.TrainableParams()
	return err
}

// restore loads weights, EMA, optimizer state, counters and generator
// states from a checkpoint.
func (t *trainer) restore(ck *CheckpointInfo, sd *torch.StateDict) error {
	for i, n := range t.names {
		src := sd.Get(groupParam + n)
		if err := t.params[i].CopyFrom(src); err != nil {
			return fmt.Errorf("checkpoint %s: %s: %w", ck.Path, n, err)
		}
		if t.ema != nil {
			if err := t.ema[i].CopyFrom(sd.Get(groupEMA + n)); err != nil {
				return fmt.Errorf("checkpoint %s: EMA of %s: %w", ck.Path, n, err)
			}
		}
	}
	st := map[string]*torch.Tensor{}
	for _, k := range sd.Keys {
		if strings.HasPrefix(k, groupOptim) {
			st[strings.TrimPrefix(k, groupOptim)] = sd.Get(k)
		}
	}
	if err := t.opt.LoadState(st, ck.OptimizerSteps); err != nil {
		return fmt.Errorf("checkpoint %s: %w", ck.Path, err)
	}
	for _, n := range generatorNames {
		src := sd.Get(groupRNG + n)
		if src == nil {
			return fmt.Errorf("checkpoint %s: no state for generator %q", ck.Path, n)
		}
		b, err := src.Bytes()
		if err == nil {
			err = t.gens[n].SetState(b)
		}
		if err != nil {
			return fmt.Errorf("checkpoint %s: generator %q: %w", ck.Path, n, err)
		}
	}
	t.step, t.nonfinite, t.consecutive = ck.Step, ck.NonFinite, ck.state.Consecutive
	return nil
}

// saveCheckpoint writes the run's state at the current step to path.
func (t *trainer) saveCheckpoint(path string, dataPos, skippedFiles int) error {
	s := torch.NewNoGradScope()
	defer s.Close()
	var names []string
	var ts []*torch.Tensor
	for i, n := range t.names {
		names = append(names, groupParam+n)
		ts = append(ts, t.params[i])
	}
	for i, n := range t.names {
		if t.ema != nil {
			names = append(names, groupEMA+n)
			ts = append(ts, t.ema[i])
		}
	}
	on, ot := t.opt.State()
	for i := range on {
		names = append(names, groupOptim+on[i])
		ts = append(ts, ot[i])
	}
	for _, n := range generatorNames {
		b, err := t.gens[n].State()
		if err != nil {
			return fmt.Errorf("generator %q: %w", n, err)
		}
		names = append(names, groupRNG+n)
		ts = append(ts, torch.FromSlice(s, b))
	}
	if err := s.Err(); err != nil {
		return err
	}
	st := trainState{Step: t.step, OptimizerSteps: t.opt.Steps, DataPosition: dataPos, NonFinite: t.nonfinite,
		Consecutive: t.consecutive, SkippedFiles: skippedFiles, Trainable: t.names, Generators: generatorNames}
	sj, err := jsonString(st)
	if err != nil {
		return err
	}
	meta := map[string]string{metaFormat: ckptFormat, metaConfig: t.cfg.JSON(), metaState: sj}
	return writeSafetensors(path, names, ts, meta)
}

// withEMA runs fn with the EMA weights in place of the trained ones (a
// no-op swap when EMA is off), restoring them exactly afterwards.
func (t *trainer) withEMA(fn func() error) error {
	if t.ema == nil {
		return fn()
	}
	s := torch.NewNoGradScope()
	defer s.Close()
	backup := make([]*torch.Tensor, len(t.params))
	for i, p := range t.params {
		backup[i] = s.Clone(p)
	}
	if err := s.Err(); err != nil {
		return err
	}
	for i, p := range t.params {
		if err := p.CopyFrom(t.ema[i]); err != nil {
			return err
		}
	}
	ferr := fn()
	for i, p := range t.params {
		if err := p.CopyFrom(backup[i]); err != nil {
			return fmt.Errorf("restoring trained weights after EMA: %w", err)
		}
	}
	return ferr
}

// export writes the adapter (rad-lora) or model file of the current
// (EMA) weights.
func (t *trainer) export(path string) error {
	return t.withEMA(func() error { return t.exportRaw(path) })
}

// exportRaw writes the adapter (rad-lora) or model file of the raw
// (trained, not averaged) weights.
func (t *trainer) exportRaw(path string) error {
	if t.cfg.Objective == RADLoRA {
		return t.model.SaveAdapter(path, t.adapterMeta())
	}
	return t.model.SaveSafetensors(path)
}

// adapterMeta is the metadata of the run's adapter exports.
func (t *trainer) adapterMeta() radmodel.AdapterMeta {
	return radmodel.AdapterMeta{
		TimestepOffset: t.cfg.TimestepOffset, BaseConfig: t.cfg.Model, BaseSHA256: t.cfg.BaseSHA256,
		DiffusionSteps: t.cfg.DiffusionSteps, NoiseSchedule: t.cfg.NoiseSchedule, LambdaVLB: t.cfg.LambdaVLB,
	}
}

// drawSteps draws each sample's step: a global step in 0..2N-1 (RAD) or a
// timestep in 0..N-1 (ADM).
func (t *trainer) drawSteps(s *torch.Scope, b int64) ([]int, error) {
	hi := int64(t.sched.T())
	if t.cfg.Objective == ADM {
		hi = int64(t.sched.N())
	}
	r := s.RandInt(t.gens["timesteps"], 0, hi, torch.CPU, b)
	if err := s.Err(); err != nil {
		return nil, err
	}
	v, err := r.Int64s()
	if err != nil {
		return nil, err
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out, nil
}

// lossTerms is one micro-batch's loss: batch means.
type lossTerms struct{ mse, vlb, loss float64 }

// forwardBackward computes one micro-batch's loss and, when finite,
// back-propagates loss/accum into the trained weights' gradients.
func (t *trainer) forwardBackward(mb microBatch, accum int, bad poison) (lossTerms, error) {
	s := torch.NewScope()
	defer s.Close()
	x := s.ToDevice(mb.x, t.dev, torch.Float32)
	m := s.ToDevice(mb.m, t.dev, torch.Float32)
	steps, noise, dropout, err := t.draws(s, mb)
	defer func() {
		for _, g := range dropout {
			g.Close()
		}
	}()
	if err != nil {
		return lossTerms{}, err
	}
	if t.cfg.Objective == ADM {
		m = s.OnesLike(m)
	}
	if err := s.Err(); err != nil {
		return lossTerms{}, err
	}
	lv, err := t.sched.Levels(s, steps, m)
	if err != nil {
		return lossTerms{}, err
	}
	post := t.sched.PosteriorOf(s, lv, m)
	xt := diffusion.QSample(s, lv, x, noise)
	tin, err := t.modelTimesteps(s, steps, lv)
	if err != nil {
		return lossTerms{}, err
	}
	var y *torch.Tensor
	if t.labels != nil {
		y = torch.FromSliceOn(s, t.dev, t.labels.of(mb.indices))
	}
	if err := s.Err(); err != nil {
		return lossTerms{}, err
	}
	out, err := t.forwardModel(s, xt, tin, y, dropout)
	if err != nil {
		return lossTerms{}, err
	}
	if out.DType() != torch.Float32 {
		out = s.To(out, torch.Float32)
	}
	param, _ := diffusion.ParseParam(t.cfg.Model.Prediction) // validated with the config
	l := t.sched.Loss(s, lv, post, x, xt, noise, out, diffusion.LossOpts{LambdaVLB: 1, LearnSigma: t.cfg.Model.OutputsVariance(),
		MSEAllPixels: t.cfg.Objective == ADM, Param: param, MinSNRGamma: t.cfg.MinSNRGamma})
	total := s.Mean(s.Add(l.MSE, s.MulScalar(l.VB, t.cfg.lambda())))
	if bad == poisonLoss {
		total = s.MulScalar(total, math.NaN())
	}
	vals, err := s.Stack(0, s.Mean(l.MSE), s.Mean(l.VB), total).Float64s()
	if err == nil {
		err = s.Err()
	}
	if err != nil {
		return lossTerms{}, err
	}
	lt := lossTerms{vals[0], vals[1], vals[2]}
	if !finite(lt.loss) {
		return lt, nil
	}
	if accum > 1 {
		total = s.DivScalar(total, float64(accum))
	}
	if err := s.Err(); err != nil {
		return lt, err
	}
	if err := total.Backward(); err != nil {
		return lt, err
	}
	if bad == poisonGrad {
		if g := s.Grad(t.params[0]); g != nil {
			if err := g.Fill(math.Inf(1)); err != nil {
				return lt, err
			}
		}
	}
	return lt, nil
}

// draws are a micro-batch's random draws: each sample's global step, the
// Gaussian noise, and with the per-sample scheme (RNGSample) each sample's
// dropout generator (the caller closes them), all keyed on the samples'
// stream positions; with the old stream scheme, the run's generators.
func (t *trainer) draws(s *torch.Scope, mb microBatch) (steps []int, noise *torch.Tensor, dropout []*torch.Generator, err error) {
	b := mb.x.Size(0)
	if t.cfg.RNG != RNGSample {
		if steps, err = t.drawSteps(s, b); err != nil {
			return nil, nil, nil, err
		}
		return steps, s.Randn(t.gens["noise"], torch.Float32, t.dev, mb.x.Shape()...), nil, nil
	}
	if int64(len(mb.pos)) != b {
		return nil, nil, nil, fmt.Errorf("train: %d sample positions for a batch of %d", len(mb.pos), b)
	}
	hi := int64(t.sched.T())
	if t.cfg.Objective == ADM {
		hi = int64(t.sched.N())
	}
	return t.sampleSteps(mb.pos, hi), t.sampleNoise(s, mb.pos, mb.x.Shape()), t.sampleDropout(mb.pos), nil
}

// modelTimesteps is what the model sees for the samples' global steps:
// the plain chain's step (adm), the scalar base timestep (Cfg. 2), or the
// per-pixel timestep map of the levels (RAD).
func (t *trainer) modelTimesteps(s *torch.Scope, steps []int, lv *diffusion.Levels) (*torch.Tensor, error) {
	switch {
	case t.cfg.Objective == ADM:
		ts := make([]int64, len(steps))
		for i, v := range steps {
			ts[i] = int64(v)
		}
		return torch.FromSliceOn(s, t.dev, ts), nil
	case t.cfg.ScalarEmbedding:
		return torch.FromSliceOn(s, t.dev, scalarTimesteps(t.sched, steps)), nil
	}
	// the mapper keeps its table on the device: one copy per run
	tab, err := t.mapper.TableOn(t.dev)
	if err != nil {
		return nil, err
	}
	return t.mapper.MapWith(s, tab, lv.Bbar), nil
}

// scalarTimesteps is what the scalar-embedding ablation (Cfg. 2) feeds the
// model for global steps: the base timestep k of the step within its phase
// (the hole's in phase 1, the known pixels' in phase 2), as float32, the
// same value radctl infer --scalar-embedding feeds at that step.
func scalarTimesteps(sc *diffusion.Schedule, steps []int) []float32 {
	out := make([]float32, len(steps))
	for i, st := range steps {
		_, k := sc.PhaseStep(st)
		out[i] = float32(k)
	}
	return out
}

// forwardModel runs the model in training mode (dropout, autocast on
// CUDA) on x_t with timesteps tin. A batch of timestep maps (every sample
// at its own step) stays on the spatial embedding's fast path: radmodel
// takes each sample's few levels apart.
func (t *trainer) forwardModel(s *torch.Scope, xt, tin, y *torch.Tensor, dropout []*torch.Generator) (*torch.Tensor, error) {
	fs := s.Child()
	defer fs.Close()
	if t.autocast {
		fs.SetAutocast(torch.BFloat16)
	}
	opts := radmodel.ForwardOpts{Train: true, Generator: t.gens["dropout"], SampleGenerators: dropout}
	out := fs.Keep(t.model.ForwardWith(fs, xt, tin, y, opts))
	return out, fs.Err()
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// trainStep makes one optimizer step from Accum micro-batches: a
// non-finite loss or gradient norm skips the update (counted).
func (t *trainer) trainStep(next func() (microBatch, error)) (Record, error) {
	start := time.Now()
	rec := Record{Step: t.step + 1, LR: t.cfg.LR}
	accum := t.cfg.Accum
	bad := false
	poisoned := poisonNone
	if testHooks.poison != nil {
		poisoned = testHooks.poison(rec.Step)
	}
	for a := 0; a < accum; a++ {
		mb, err := next()
		if err != nil {
			return rec, err
		}
		lt, err := t.forwardBackward(mb, accum, poisoned)
		if err != nil {
			return rec, fmt.Errorf("train: step %d: %w", rec.Step, err)
		}
		rec.MSE += lt.mse / float64(accum)
		rec.VLB += lt.vlb / float64(accum)
		rec.Loss += lt.loss / float64(accum)
		if !finite(lt.loss) {
			bad = true
		}
	}
	rec.GradNorm = math.NaN()
	if t.pg != nil {
		var err error
		if bad, err = t.dataParallel(&rec, bad); err != nil {
			return rec, fmt.Errorf("train: step %d: %w", rec.Step, err)
		}
	}
	if !bad {
		n, err := torch.ClipGradNorm(t.params, t.cfg.GradClip)
		if err != nil {
			return rec, fmt.Errorf("train: step %d: %w", rec.Step, err)
		}
		rec.GradNorm = n
		bad = !finite(n)
	}
	if bad {
		rec.Skipped = true
		t.nonfinite++
		t.consecutive++
	} else {
		if err := t.opt.Step(); err != nil {
			return rec, fmt.Errorf("train: step %d: %w", rec.Step, err)
		}
		decay := EMADecay(t.cfg.EMA, t.cfg.EMAWarmup, t.opt.Steps)
		for i, e := range t.ema {
			if err := e.LerpInPlace(t.params[i], 1-decay); err != nil {
				return rec, fmt.Errorf("train: step %d: EMA: %w", rec.Step, err)
			}
		}
		t.consecutive = 0
	}
	if err := t.opt.ZeroGrad(); err != nil {
		return rec, err
	}
	t.step++
	rec.Seconds = time.Since(start).Seconds()
	if testHooks.afterStep != nil {
		testHooks.afterStep(t, rec)
	}
	return rec, nil
}

// labeler gives class labels as guided-diffusion's image_datasets.py does:
// the part of a file's base name before the first "_", classes numbered in
// sorted order.
type labeler struct {
	src     data.Source
	classes map[string]int64
}

func newLabeler(src data.Source, numClasses int) (*labeler, error) {
	if _, ok := src.(*data.Folder); !ok {
		return nil, fmt.Errorf("train: a class-conditional model needs labels: use a folder whose file names start with the class (guided-diffusion's CLASS_name.png)")
	}
	set := map[string]bool{}
	for i := 0; i < src.Len(); i++ {
		set[className(src.Name(i))] = true
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > numClasses {
		return nil, fmt.Errorf("train: the data has %d classes (file name prefixes before \"_\"), the model %d", len(names), numClasses)
	}
	l := &labeler{src: src, classes: map[string]int64{}}
	for i, n := range names {
		l.classes[n] = int64(i)
	}
	return l, nil
}

func className(path string) string {
	return strings.SplitN(filepath.Base(path), "_", 2)[0]
}

func (l *labeler) of(indices []int) []int64 {
	out := make([]int64, len(indices))
	for i, idx := range indices {
		out[i] = l.classes[className(l.src.Name(idx))]
	}
	return out
}
