package eval

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/radmodel/masks"
	"github.com/radinpaint/rad/torch"
)

// Method is an inpainting method that Run evaluates.
type Method string

const (
	// MethodRAD is RAD's ancestral sampler (100 respaced steps by default).
	MethodRAD Method = "rad"
	// MethodRADDDIM is RAD with DDIM steps (RunConfig.Eta).
	MethodRADDDIM Method = "rad-ddim"
	// MethodRePaint is the RePaint baseline on the scalar embedding (250
	// respaced steps, jump length 10, 10 resamplings: 2,410 model calls).
	MethodRePaint Method = "repaint"
	// MethodMeanFill is a trivial floor: every hole pixel is the mean of
	// its image's known pixels, per channel (0 where nothing is known). It
	// calls no model.
	MethodMeanFill Method = "mean-fill"
)

// Methods lists the methods.
var Methods = []Method{MethodRAD, MethodRADDDIM, MethodRePaint, MethodMeanFill}

// DefaultEvalMasks are the evaluation mask kinds (the LaMa protocol's).
var DefaultEvalMasks = []masks.Kind{masks.Box, masks.Extreme, masks.Wide}

// RunConfig describes an evaluation: a method inpaints every image under a
// seeded mask of each kind, and the results are compared with the
// originals.
type RunConfig struct {
	// Model is the diffusion model (on any device); nil is allowed only
	// for MethodMeanFill.
	Model *radmodel.UNet
	// ModelName describes the model in the report (files, adapter).
	ModelName string
	// DiffusionSteps and NoiseSchedule are the model's base chain
	// (0 and "": 1000, "linear"); TimestepOffset is the offset of RAD's
	// timestep map (the adapter's metadata).
	DiffusionSteps int
	NoiseSchedule  string
	TimestepOffset float64

	// Method is the inpainting method ("": MethodRAD).
	Method Method
	// Steps is the number of respaced steps: RAD's chain (0: 100) or
	// RePaint's (0: 250).
	Steps int
	// Eta is DDIM's eta (MethodRADDDIM).
	Eta float64
	// ScalarEmbedding feeds the model the hole's scalar timestep instead
	// of RAD's per-pixel map (infer.Process.Spatial = false): the base ADM
	// with MethodRAD is the paper's Cfg. 1, the Cfg. 2 adapter needs it.
	ScalarEmbedding bool
	// JumpLength and JumpNSample are RePaint's resampling (0: 10 and 10).
	JumpLength, JumpNSample int
	// Resample > 1 runs MethodRAD/MethodRADDDIM with RePaint's time travel
	// over RAD's process (infer.Process.SampleResampled: Resample passes
	// over each jump of JumpLength steps; a departure from the paper); 0
	// or 1: the plain process.
	Resample int

	// Images are the real images [N, C, S, S] in [-1, 1] at the model's
	// size S and channels C (LoadImages reads them).
	Images Images
	// Labels are the class labels of a class-conditional model (one per
	// image), else nil.
	Labels []int64
	// IndexOffset is the index of Images' first image in its data set.
	// Image i's mask and noise depend only on its data set index
	// IndexOffset+i (and the seeds), not on N, the batch size or the
	// offset, so runs over overlapping ranges agree on the images they
	// share.
	IndexOffset int
	// DataName describes the images in the report (a path).
	DataName string

	// Masks are the mask kinds (nil: DefaultEvalMasks); image i gets
	// masks.Generate(kind, S, MaskSeed, IndexOffset+i).
	Masks    []masks.Kind
	MaskSeed uint64
	// Seed seeds the samplers: image i draws its noise from its own
	// generator, seeded with Seed + IndexOffset + i (the same for every
	// mask kind).
	Seed uint64
	// BatchSize is the number of images sampled together (0: 100); it
	// changes the speed only.
	BatchSize int
	// Subset > 0 adds rows computed over the first Subset images only
	// (2 <= Subset <= N): every run with the same data, offset and seeds
	// can then be compared with a run of an expensive method (RePaint)
	// over those images.
	Subset int

	// Features is the feature network of FID, KID and the LPIPS-style
	// distance (the distance is left out when it gives no feature maps).
	Features FeatureNet
	// FeaturesName names the network in metric names: "FMNIST" gives
	// "FID-FMNIST" and "KID-FMNIST"; "" gives "FID" and "KID".
	FeaturesName string
	// FeaturesDesc describes the network in the report (a file).
	FeaturesDesc string
	// KIDSubsets and KIDSubsetSize choose KID's subsets (0: 100 subsets
	// of min(1000, N/2) vectors, at least 2; see KIDSubsetSizeFor);
	// KIDSeed draws them (the same draws for every method).
	KIDSubsets, KIDSubsetSize int
	KIDSeed                   uint64

	// Out, if set, is the folder that gets report.json, report.md, a grid
	// PNG and a per-image CSV per mask kind (and, with SaveImages, every
	// result as a PNG).
	Out string
	// GridImages is the number of images in each grid (0: 8, < 0: no
	// grid).
	GridImages int
	// SaveImages writes every result as Out/images/<kind>/<index>.png.
	SaveImages bool
	// Parts, if set, is a folder that keeps every finished batch's
	// results (one safetensors file per batch, named after its mask kind
	// and data set indices, keyed on the model's fingerprint, the method
	// and its settings, the seeds and the batch's images and masks). A
	// later Run with the same Parts reuses every batch whose key matches
	// (its seconds per image are the ones measured when it ran) and
	// samples the others: an interrupted evaluation resumes where it
	// stopped. Batches are reused only at the same BatchSize.
	Parts string
	// Progress, if set, sees every model call and every finished batch.
	Progress func(Progress)
	// Results, if set, gets every mask kind's masks [N, 1, S, S] and
	// results [N, C, S, S] (in [-1, 1]; they may be kept, not modified).
	Results func(kind masks.Kind, masks, results Images)
}

// Progress is where a Run is.
type Progress struct {
	// Masks is the mask kind being evaluated, Kind its position in the
	// list (0-based) and Kinds the list's length.
	Masks       string
	Kind, Kinds int
	// Done of Total images of this kind are inpainted.
	Done, Total int
	// Step of Steps model calls of the current batch are made.
	Step, Steps int
}

// KIDSubsetSizeFor is the default KID subset size for sets of n images:
// min(1000, n/2), at least 2. Half the set keeps subsets different from
// one another, so their standard deviation means something (subsets of
// the whole set are all the same set).
func KIDSubsetSizeFor(n int) int { return max(2, min(DefaultKIDSubsetSize, n/2)) }

func (c *RunConfig) normalize() {
	if c.Method == "" {
		c.Method = MethodRAD
	}
	if c.DiffusionSteps == 0 {
		c.DiffusionSteps = diffusion.DefaultSteps
	}
	if c.NoiseSchedule == "" {
		c.NoiseSchedule = "linear"
	}
	if c.Steps == 0 {
		switch c.Method {
		case MethodRePaint:
			c.Steps = 250
		case MethodRAD, MethodRADDDIM:
			c.Steps = 100
		}
	}
	if c.JumpLength == 0 {
		c.JumpLength = 10
	}
	if c.JumpNSample == 0 {
		c.JumpNSample = 10
	}
	if c.Masks == nil {
		c.Masks = DefaultEvalMasks
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.GridImages == 0 {
		c.GridImages = 8
	}
	if c.KIDSubsets == 0 {
		c.KIDSubsets = DefaultKIDSubsets
	}
}

func (c *RunConfig) check() error {
	im := c.Images
	if im.N < 2 || im.C < 1 || im.H < 1 || im.W < 1 || len(im.Data) != im.N*im.C*im.H*im.W {
		return fmt.Errorf("eval: run: images %v with %d values (want [N, C, H, W] with N >= 2)", im.Shape(), len(im.Data))
	}
	if im.H != im.W {
		return fmt.Errorf("eval: run: images are %d x %d; the masks are square (load the images at the model's size)", im.H, im.W)
	}
	switch c.Method {
	case MethodRAD, MethodRADDDIM, MethodRePaint:
		if c.Model == nil {
			return fmt.Errorf("eval: run: method %s needs a model", c.Method)
		}
	case MethodMeanFill:
	default:
		return fmt.Errorf("eval: run: unknown method %q (want %s)", c.Method, joinMethods())
	}
	if c.Model != nil {
		mc := c.Model.Config()
		if im.C != mc.InChannels || im.H != mc.ImageSize {
			return fmt.Errorf("eval: run: images [N, %d, %d, %d] for a model of %d channels at %d x %d (load them at the model's size)",
				im.C, im.H, im.W, mc.InChannels, mc.ImageSize, mc.ImageSize)
		}
		if mc.NumClasses > 0 && len(c.Labels) != im.N {
			return fmt.Errorf("eval: run: the model is class-conditional (%d classes): %d labels for %d images", mc.NumClasses, len(c.Labels), im.N)
		}
		for i, l := range c.Labels {
			if mc.NumClasses > 0 && (l < 0 || l >= int64(mc.NumClasses)) {
				return fmt.Errorf("eval: run: label %d of image %d outside 0..%d", l, i, mc.NumClasses-1)
			}
		}
	}
	if c.Steps < 1 || c.Steps > c.DiffusionSteps {
		if c.Method != MethodMeanFill {
			return fmt.Errorf("eval: run: %d steps for a %d-step chain (use 1..%d)", c.Steps, c.DiffusionSteps, c.DiffusionSteps)
		}
	}
	if c.JumpLength < 1 || c.JumpNSample < 1 {
		return fmt.Errorf("eval: run: RePaint jump length %d and jump samples %d must be >= 1", c.JumpLength, c.JumpNSample)
	}
	if c.Resample < 0 || (c.Resample > 1 && c.Method != MethodRAD && c.Method != MethodRADDDIM) {
		return fmt.Errorf("eval: run: resampling %d: RAD's process only (methods %s, %s), and >= 0", c.Resample, MethodRAD, MethodRADDDIM)
	}
	if len(c.Masks) == 0 {
		return fmt.Errorf("eval: run: no mask kind")
	}
	seen := map[masks.Kind]bool{}
	for _, k := range c.Masks {
		if seen[k] {
			return fmt.Errorf("eval: run: mask kind %q listed twice", k)
		}
		seen[k] = true
		if _, err := masks.Generate(k, im.H, 0, 0); err != nil {
			return fmt.Errorf("eval: run: %w", err)
		}
	}
	if c.Subset != 0 && (c.Subset < 2 || c.Subset > im.N) {
		return fmt.Errorf("eval: run: subset of %d images out of %d (want 2..%d, or 0 for none)", c.Subset, im.N, im.N)
	}
	if c.IndexOffset < 0 {
		return fmt.Errorf("eval: run: index offset %d < 0", c.IndexOffset)
	}
	if c.Features == nil {
		return fmt.Errorf("eval: run: no feature network")
	}
	if c.KIDSubsets < 1 || c.KIDSubsetSize < 0 || c.KIDSubsetSize == 1 {
		return fmt.Errorf("eval: run: KID: %d subsets of %d vectors (want >= 1 subsets of >= 2 vectors, 0 for the default size)", c.KIDSubsets, c.KIDSubsetSize)
	}
	for _, n := range []int{im.N, c.Subset} {
		if n > 0 && c.KIDSubsetSize > n {
			return fmt.Errorf("eval: run: KID subsets of %d vectors from a set of %d images", c.KIDSubsetSize, n)
		}
	}
	return nil
}

func joinMethods() string {
	s := make([]string, len(Methods))
	for i, m := range Methods {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

// sampler inpaints batches with the configured method.
type sampler struct {
	cfg     *RunConfig
	partKey string // RunConfig.Parts: the key's part shared by every batch
	den     infer.Denoiser
	base    *diffusion.Base
	proc    *infer.Process
	dev     torch.Device
}

func newSampler(cfg *RunConfig) (*sampler, error) {
	sm := &sampler{cfg: cfg, dev: torch.CPU}
	if cfg.Method == MethodMeanFill {
		return sm, nil
	}
	sm.dev = cfg.Model.Device()
	if cfg.Parts != "" {
		var err error
		if sm.partKey, err = partsKeyBase(cfg, sm); err != nil {
			return nil, err
		}
	}
	sm.den = infer.UNetDenoiser{Model: cfg.Model}
	base, err := diffusion.NewNamedBase(cfg.NoiseSchedule, cfg.DiffusionSteps)
	if err != nil {
		return nil, fmt.Errorf("eval: run: %w", err)
	}
	sm.base = base
	if cfg.Method == MethodRePaint {
		return sm, nil
	}
	if sm.proc, err = infer.NewProcess(base, fmt.Sprint(cfg.Steps), cfg.TimestepOffset); err != nil {
		return nil, fmt.Errorf("eval: run: %w", err)
	}
	sm.proc.DDIM, sm.proc.Eta = cfg.Method == MethodRADDDIM, cfg.Eta
	sm.proc.Spatial = !cfg.ScalarEmbedding
	return sm, nil
}

// callsPerRun is the number of model calls of one batch.
func (sm *sampler) callsPerRun() int {
	switch sm.cfg.Method {
	case MethodRePaint:
		return infer.RePaintCalls(sm.cfg.Steps, sm.cfg.JumpLength, sm.cfg.JumpNSample)
	case MethodMeanFill:
		return 0
	}
	return sm.proc.ResampledCalls(sm.resample())
}

// resample is the run's resampling of RAD's process (off unless Resample > 1).
func (sm *sampler) resample() infer.ResampleOpts {
	return infer.ResampleOpts{JumpLength: sm.cfg.JumpLength, JumpNSample: max(sm.cfg.Resample, 1)}
}

// batch inpaints images lo..hi-1 (x0 and m are theirs, Go slices) and
// returns the results as a Go slice and the model calls made.
func (sm *sampler) batch(ctx context.Context, lo, hi int, x0, m []float32, onStep func(i, total int)) ([]float32, int64, error) {
	im := sm.cfg.Images
	if sm.cfg.Method == MethodMeanFill {
		return meanFill(x0, m, hi-lo, im.C, im.H*im.W), 0, nil
	}
	b, c, h, w := int64(hi-lo), int64(im.C), int64(im.H), int64(im.W)
	s := torch.NewNoGradScope().SetInference(true)
	defer s.Close()
	xt := torch.FromSliceOn(s, sm.dev, x0, b, c, h, w)
	mt := torch.FromSliceOn(s, sm.dev, m, b, 1, h, w)
	var y *torch.Tensor
	if sm.cfg.Model.Config().NumClasses > 0 {
		y = torch.FromSliceOn(s, sm.dev, sm.cfg.Labels[lo:hi])
	}
	if err := s.Err(); err != nil {
		return nil, 0, fmt.Errorf("eval: run: batch %d..%d: %w", lo, hi-1, err)
	}
	gens := make([]*torch.Generator, hi-lo)
	for i := range gens {
		gens[i] = torch.NewGenerator(sm.cfg.Seed + uint64(sm.cfg.IndexOffset+lo+i))
	}
	defer func() {
		for _, g := range gens {
			g.Close()
		}
	}()
	var calls atomic.Int64
	so := infer.SampleOptions{Y: y, Calls: &calls, PerSample: gens}
	if onStep != nil {
		so.Callback = func(i, total int, _, _ *torch.Tensor) { onStep(i, total) }
	}
	var out *torch.Tensor
	var err error
	if sm.cfg.Method == MethodRePaint {
		ro := infer.RePaintOpts{Respacing: fmt.Sprint(sm.cfg.Steps), JumpLength: sm.cfg.JumpLength, JumpNSample: sm.cfg.JumpNSample}
		out, err = infer.RePaintSample(ctx, s, sm.den, xt, mt, sm.base, ro, nil, so)
	} else if ro := sm.resample(); ro.On() {
		out, err = sm.proc.SampleResampled(ctx, s, sm.den, xt, mt, nil, so, ro)
	} else {
		out, err = sm.proc.Sample(ctx, s, sm.den, xt, mt, nil, so)
	}
	if err != nil {
		return nil, calls.Load(), fmt.Errorf("eval: run: %s on images %d..%d: %w", sm.cfg.Method, sm.cfg.IndexOffset+lo, sm.cfg.IndexOffset+hi-1, err)
	}
	v, err := out.Float32s()
	if err != nil {
		return nil, calls.Load(), fmt.Errorf("eval: run: %w", err)
	}
	return v, calls.Load(), nil
}

// keptBatch is batch with RunConfig.Parts: a kept batch under the same
// key is read back instead of sampled, and a sampled one is kept.
func (sm *sampler) keptBatch(ctx context.Context, kind masks.Kind, lo, hi int, x0, m []float32, onStep func(i, total int)) (part, error) {
	im := sm.cfg.Images
	shape := []int64{int64(hi - lo), int64(im.C), int64(im.H), int64(im.W)}
	var path, key string
	if sm.cfg.Parts != "" && sm.cfg.Method != MethodMeanFill { // the floor costs nothing to redo
		var labels []int64
		if sm.cfg.Labels != nil {
			labels = sm.cfg.Labels[lo:hi]
		}
		key = partKeyOf(sm.partKey, kind, sm.cfg.IndexOffset+lo, hi-lo, x0, m, labels)
		path = partPath(sm.cfg.Parts, kind, sm.cfg.IndexOffset+lo, hi-lo)
		if pt, ok := loadPart(path, key, shape); ok {
			pt.reused = true
			return pt, nil
		}
	}
	t0 := time.Now()
	out, calls, err := sm.batch(ctx, lo, hi, x0, m, onStep)
	if err != nil {
		return part{}, err
	}
	pt := part{results: out, secondsPerImg: time.Since(t0).Seconds() / float64(hi-lo), calls: calls}
	if path != "" {
		if err := savePart(path, key, shape, pt); err != nil {
			return part{}, err
		}
	}
	return pt, nil
}

// meanFill fills the hole of each of n images (c channels of p pixels)
// with the mean of its known pixels, per channel (0 when none is known).
func meanFill(x0, m []float32, n, c, p int) []float32 {
	out := make([]float32, len(x0))
	copy(out, x0)
	for i := 0; i < n; i++ {
		mk := m[i*p : (i+1)*p]
		for ch := 0; ch < c; ch++ {
			px := out[(i*c+ch)*p : (i*c+ch+1)*p]
			var sum float64
			var cnt int
			for k, v := range px {
				if !isHole(mk[k]) {
					sum += float64(v)
					cnt++
				}
			}
			var mean float32
			if cnt > 0 {
				mean = float32(sum / float64(cnt))
			}
			for k := range px {
				if isHole(mk[k]) {
					px[k] = mean
				}
			}
		}
	}
	return out
}

// Run inpaints cfg.Images under every mask kind with cfg's method and
// measures the results against the originals: FID and KID on the feature
// network's pooled features (inpainted set against the same real images),
// the LPIPS-style distance on its feature maps, PSNR and SSIM over the
// hole, and seconds and model calls per image. With cfg.Out it writes the
// report's files (see RunConfig.Out). ctx is checked between model
// calls.
func Run(ctx context.Context, cfg RunConfig) (*Report, error) {
	start := time.Now()
	cfg.normalize()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	sm, err := newSampler(&cfg)
	if err != nil {
		return nil, err
	}
	im := cfg.Images
	lpips, err := hasFeatureMaps(cfg.Features, im)
	if err != nil {
		return nil, err
	}
	realF, err := featuresOfImages(ctx, cfg.Features, im, cfg.BatchSize)
	if err != nil {
		return nil, err
	}
	rep := newReport(&cfg, sm)
	for ki, kind := range cfg.Masks {
		kr, err := runKind(ctx, &cfg, sm, kind, ki, realF, lpips)
		if err != nil {
			return nil, err
		}
		rep.Rows = append(rep.Rows, kr.rows...)
		rep.Reused += kr.reused
		if cfg.Out != "" {
			if err := kr.write(&cfg); err != nil {
				return nil, err
			}
		}
	}
	// subset rows after the full ones
	full, sub := []Row{}, []Row{}
	for _, r := range rep.Rows {
		if r.Subset {
			sub = append(sub, r)
		} else {
			full = append(full, r)
		}
	}
	rep.Rows = append(full, sub...)
	rep.Seconds = time.Since(start).Seconds()
	if cfg.Out != "" {
		if err := rep.Write(cfg.Out); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// hasFeatureMaps tells whether net gives feature maps (on two images).
func hasFeatureMaps(net FeatureNet, im Images) (bool, error) {
	s := torch.NewNoGradScope().SetInference(true)
	defer s.Close()
	per := im.C * im.H * im.W
	x := torch.FromSlice(s, im.Data[:2*per], 2, int64(im.C), int64(im.H), int64(im.W))
	if err := s.Err(); err != nil {
		return false, fmt.Errorf("eval: run: %w", err)
	}
	_, maps, err := net.Features(s, x)
	if err != nil {
		return false, err
	}
	return len(maps) > 0, nil
}

// featuresOfImages runs net over im in batches.
func featuresOfImages(ctx context.Context, net FeatureNet, im Images, batch int) (Features, error) {
	s := torch.NewNoGradScope().SetInference(true)
	defer s.Close()
	x := torch.FromSlice(s, im.Data, int64(im.N), int64(im.C), int64(im.H), int64(im.W))
	if err := s.Err(); err != nil {
		return Features{}, fmt.Errorf("eval: run: %w", err)
	}
	return ExtractFeatures(ctx, net, x, batch)
}

// perceptual is the LPIPS-style distance of every image pair, in batches.
func perceptual(ctx context.Context, net FeatureNet, a, b Images, batch int) ([]float64, error) {
	per := a.C * a.H * a.W
	out := make([]float64, 0, a.N)
	for lo := 0; lo < a.N; lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(a.N, lo+batch)
		d, err := func() ([]float64, error) {
			s := torch.NewNoGradScope()
			defer s.Close()
			sh := []int64{int64(hi - lo), int64(a.C), int64(a.H), int64(a.W)}
			x := torch.FromSlice(s, a.Data[lo*per:hi*per], sh...)
			y := torch.FromSlice(s, b.Data[lo*per:hi*per], sh...)
			if err := s.Err(); err != nil {
				return nil, fmt.Errorf("eval: run: %w", err)
			}
			return PerceptualDistance(net, x, y)
		}()
		if err != nil {
			return nil, err
		}
		out = append(out, d...)
	}
	return out, nil
}

// kindResult is one mask kind's results.
type kindResult struct {
	kind              masks.Kind
	masks, results    Images
	holeFrac          []float64
	psnr, ssim, lpips []float64
	seconds, calls    []float64 // per image
	reused            int       // images read back from RunConfig.Parts
	rows              []Row
}

// runKind inpaints every image under its mask of kind and measures.
func runKind(ctx context.Context, cfg *RunConfig, sm *sampler, kind masks.Kind, ki int, realF Features, withLPIPS bool) (*kindResult, error) {
	im := cfg.Images
	n, p, per := im.N, im.H*im.W, im.C*im.H*im.W
	kr := &kindResult{kind: kind, holeFrac: make([]float64, n), seconds: make([]float64, n), calls: make([]float64, n)}
	mk, err := masks.GenerateMany(kind, im.H, cfg.MaskSeed, cfg.IndexOffset, n, 0)
	if err != nil {
		return nil, fmt.Errorf("eval: run: %w", err)
	}
	kr.masks = Images{N: n, C: 1, H: im.H, W: im.W, Data: make([]float32, n*p)}
	for i, m := range mk {
		for k, v := range m.Pix {
			kr.masks.Data[i*p+k] = float32(v)
		}
		kr.holeFrac[i] = m.HoleFraction()
	}
	kr.results = Images{N: n, C: im.C, H: im.H, W: im.W, Data: make([]float32, n*per)}
	steps := sm.callsPerRun()
	report := func(done, step int) {
		if cfg.Progress != nil {
			cfg.Progress(Progress{Masks: string(kind), Kind: ki, Kinds: len(cfg.Masks), Done: done, Total: n, Step: step, Steps: steps})
		}
	}
	for lo := 0; lo < n; lo += cfg.BatchSize {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(n, lo+cfg.BatchSize)
		pt, err := sm.keptBatch(ctx, kind, lo, hi, im.Data[lo*per:hi*per], kr.masks.Data[lo*p:hi*p], func(i, _ int) { report(lo, i) })
		if err != nil {
			return nil, fmt.Errorf("%w (masks %s)", err, kind)
		}
		copy(kr.results.Data[lo*per:hi*per], pt.results)
		for i := lo; i < hi; i++ {
			kr.seconds[i], kr.calls[i] = pt.secondsPerImg, float64(pt.calls)
		}
		if pt.reused {
			kr.reused += hi - lo
		}
		report(hi, 0)
	}
	if kr.psnr, err = HolePSNR(kr.results, im, kr.masks); err != nil {
		return nil, err
	}
	if kr.ssim, err = HoleSSIM(kr.results, im, kr.masks); err != nil {
		return nil, err
	}
	if withLPIPS {
		if kr.lpips, err = perceptual(ctx, cfg.Features, kr.results, im, cfg.BatchSize); err != nil {
			return nil, err
		}
	}
	if cfg.Results != nil {
		cfg.Results(kind, kr.masks, kr.results)
	}
	fakeF, err := featuresOfImages(ctx, cfg.Features, kr.results, cfg.BatchSize)
	if err != nil {
		return nil, err
	}
	sizes := []int{n}
	if cfg.Subset > 0 && cfg.Subset < n {
		sizes = append(sizes, cfg.Subset)
	}
	for _, k := range sizes {
		row, err := kr.row(cfg, k, k < n, realF, fakeF)
		if err != nil {
			return nil, fmt.Errorf("%w (masks %s, %d images)", err, kind, k)
		}
		kr.rows = append(kr.rows, row)
	}
	return kr, nil
}

// firstRows is the first k vectors of f.
func firstRows(f Features, k int) Features {
	return Features{N: k, D: f.D, Data: f.Data[:k*f.D]}
}

// row computes the metrics over the first k images.
func (kr *kindResult) row(cfg *RunConfig, k int, subset bool, realF, fakeF Features) (Row, error) {
	r := Row{Masks: string(kr.kind), Images: k, Subset: subset,
		HoleFraction: Value(mean(kr.holeFrac[:k])),
		PSNR:         Value(mean(kr.psnr[:k])), SSIM: Value(mean(kr.ssim[:k])),
		SecondsPerImage: Value(mean(kr.seconds[:k])), CallsPerImage: Value(mean(kr.calls[:k])),
		LPIPS: Value(math.NaN())}
	if kr.lpips != nil {
		r.LPIPS = Value(mean(kr.lpips[:k]))
	}
	a, b := firstRows(fakeF, k), firstRows(realF, k)
	sa, err := ComputeStats(a)
	if err != nil {
		return r, err
	}
	sb, err := ComputeStats(b)
	if err != nil {
		return r, err
	}
	fid, err := FIDStats(sa, sb)
	if err != nil {
		return r, err
	}
	r.FID = Value(fid)
	size := cfg.KIDSubsetSize
	if size == 0 {
		size = KIDSubsetSizeFor(k)
	}
	// fill i was made from original i: the paired estimator (unbiased here)
	kid, err := KID(a, b, KIDOptions{Subsets: cfg.KIDSubsets, SubsetSize: size, Seed: cfg.KIDSeed, Paired: true})
	if err != nil {
		return r, err
	}
	r.KIDMean, r.KIDStd, r.KIDSubsets, r.KIDSubsetSize = Value(kid.Mean), Value(kid.Std), kid.Subsets, kid.SubsetSize
	return r, nil
}

// mean is the mean of the values that are not NaN (NaN if none is).
func mean(v []float64) float64 {
	var sum float64
	n := 0
	for _, x := range v {
		if !math.IsNaN(x) {
			sum += x
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}
