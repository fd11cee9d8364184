package infer

import (
	"context"
	"fmt"
	"image"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
)

// Inpainter holds a loaded model and inpaints images with it. It is safe
// for concurrent use by many goroutines: each call works in its own scope
// with its own generator, and the model's weights are only read.
type Inpainter struct {
	model *radmodel.UNet
	den   Denoiser
	base  *diffusion.Base
	// TimestepOffset is the offset of the model's timestep map (from its
	// adapter's metadata; 0 by default).
	offset float64
	mapper *diffusion.TimestepMapper // shared by every run: its device table is copied once
	calls  atomic.Int64

	batches   chan *request // nil without batching
	stop      chan struct{}
	closeOnce sync.Once
}

// Config describes the model an Inpainter serves.
type Config struct {
	Model *radmodel.UNet
	// DiffusionSteps and NoiseSchedule describe the base chain the model
	// was trained with (0 and "": guided-diffusion's 1000, "linear").
	DiffusionSteps int
	NoiseSchedule  string
	TimestepOffset float64
	// MaxBatch > 1 samples up to that many concurrent Inpaint calls with
	// the same sampler settings together, as one batch (each with its own
	// seed's noise). Batched results equal unbatched ones up to float
	// rounding of batched kernels, not bit for bit; 0 or 1 never batches.
	MaxBatch int
	// BatchWindow is how long a call waits for others to join its batch
	// (default 5 ms).
	BatchWindow time.Duration
	// ChannelsLast runs the network on channels-last activations (faster
	// oneDNN convolutions on the CPU; the same values up to float
	// rounding): radmodel.ForwardOpts.ChannelsLast.
	ChannelsLast bool
}

// New makes an Inpainter.
func New(c Config) (*Inpainter, error) {
	if c.Model == nil {
		return nil, fmt.Errorf("inpainter: no model")
	}
	base, err := diffusion.NewNamedBase(c.NoiseSchedule, c.DiffusionSteps)
	if err != nil {
		return nil, fmt.Errorf("inpainter: %w", err)
	}
	ip := &Inpainter{model: c.Model, den: UNetDenoiser{Model: c.Model, ChannelsLast: c.ChannelsLast}, base: base, offset: c.TimestepOffset,
		mapper: diffusion.NewTimestepMapper(base, c.TimestepOffset)}
	if c.MaxBatch > 1 {
		if c.BatchWindow <= 0 {
			c.BatchWindow = 5 * time.Millisecond
		}
		ip.batches = make(chan *request)
		ip.stop = make(chan struct{})
		go ip.batcher(c.MaxBatch, c.BatchWindow)
	}
	return ip, nil
}

// Close stops the batching goroutine and frees the timestep table's
// device copy; call it after the last Inpaint or Sample returned. The model
// stays the caller's to close.
func (ip *Inpainter) Close() {
	if ip.stop != nil {
		ip.closeOnce.Do(func() { close(ip.stop) })
	}
	ip.mapper.Close()
}

// ModelCalls counts the model calls made through this Inpainter.
func (ip *Inpainter) ModelCalls() int64 { return ip.calls.Load() }

// ModelConfig is the served model's config.
func (ip *Inpainter) ModelConfig() radmodel.Config { return ip.model.Config() }

// Device is the device the model runs on.
func (ip *Inpainter) Device() torch.Device { return ip.model.Device() }

// BaseSteps is the length of the base diffusion chain: Options.Steps
// must be in 1..BaseSteps.
func (ip *Inpainter) BaseSteps() int { return ip.base.N() }

// Options of one Inpaint call.
type Options struct {
	Sampler Kind    // RAD (default), RADDDIM or RePaint
	Steps   int     // respaced steps (0: SamplingSteps's default; RePaint: its Respacing)
	Eta     float64 // DDIM eta
	Seed    uint64
	// Class is the label of a class-conditional model (ignored otherwise).
	Class int
	// InvertMask reads the mask with 255 = keep (RePaint's convention).
	InvertMask bool
	// SoftMask reads gray levels as partial-strength regeneration instead
	// of thresholding at 128 (see the package documentation).
	SoftMask bool
	// ScalarEmbedding feeds the model the hole's scalar timestep instead
	// of the per-pixel map (the paper's ablation; plain ADM).
	ScalarEmbedding bool
	RePaint         RePaintOpts
	// Resolution is the size the model works at: ResolutionModel (resize
	// to the model's training size), ResolutionNative (the image's own
	// size, padded) or ResolutionAuto (the default: Inpainter.Resolution
	// decides by the model's attention; see the package documentation).
	Resolution Resolution
	// MaxSide > 0 bounds the working size in native mode: an image whose
	// longer side is above it is downscaled to it first (Catmull-Rom; the
	// mask by the maximum over each pixel's footprint), inpainted, scaled
	// back and pasted into the original under the mask. Model mode
	// ignores it.
	MaxSide int
	// MaxTilePixels bounds the pixels (height x width) of one model call
	// in native mode: a larger padded image is denoised in overlapping
	// tiles blended at every step (see TiledDenoiser). 0 means
	// DefaultMaxTilePixels, < 0 never tiles. A model input of the model's
	// own size is never tiled.
	MaxTilePixels int
	// Progress sees every model call.
	Progress func(i, total int)
	// Preview, if set, sees a low-resolution picture of the result to be
	// every PreviewEvery steps (default 10) and at the last step: the
	// model's current prediction of the clean image in the hole, the
	// input elsewhere, at the working size scaled down to at most
	// PreviewSide pixels on its longer side (default 96). It runs on the
	// sampling goroutine between steps: keep it short.
	Preview      func(i, total int, img *image.RGBA)
	PreviewEvery int
	PreviewSide  int
	// Average > 1 returns the mean of that many samples (seeds Seed,
	// Seed+1, ...: the samples `radctl infer -n` would give) instead of
	// one: an estimate of the posterior mean, whose error is lower (higher
	// PSNR: the mean of K samples has (1+1/K)/2 of one sample's expected
	// squared error when the samples are exact posterior draws) and whose
	// fill is smoother, with less texture, at Average times the samples.
	// The samples go through the batcher like concurrent calls (without
	// one, they run as one batch). Progress and Preview follow the first
	// sample. 0 and 1 mean one sample.
	Average int
	// Init is how the hole starts: InitNoise (pure noise, RAD's own start),
	// InitHarmonic (a guided start from the membrane fill of the hole,
	// regenerated to InitStrength) or InitEdges (the same with the edges
	// that cross the hole continued); the zero value is DefaultInit. Guided
	// starts and coarse-to-fine take mask levels >= 0.5 as the hole.
	Init Init
	// InitStrength is the level, in (0, 1], that a guided start gives the
	// hole pixels farthest from the known region (0: DefaultInitStrength;
	// 1 is pure noise there); at the hole's border the level is half of it,
	// growing linearly over a quarter of CoarseReach (16 px for the photo model).
	InitStrength float64
	// CoarseToFine inpaints a large hole first at half the working size
	// (recursively, while the hole is still large and the image at least
	// half the model's size), upsamples that result and regenerates it at
	// the working size from a guided start of level RefineStrength. Auto
	// (the default) does it when CoarseReach is set and the hole's largest
	// distance to a known pixel is above it at the working size (without
	// CoarseReach, never: see DefaultCoarseReach); On always (while the
	// image allows), Off never. Native resolution only.
	CoarseToFine Switch
	// CoarseReach is the distance in pixels the model carries context
	// comfortably (0: DefaultCoarseReach x its training size). A guided
	// start's levels grow over a quarter of that distance.
	CoarseReach float64
	// RefineStrength is the level of a finer level's guided start from the
	// coarser result (0: DefaultRefineStrength).
	RefineStrength float64
	// Crop inpaints each connected hole in its own region: the hole's
	// bounding box grown by CropMargin pixels on every side (regions that
	// overlap are merged), each region at its own resolution (MaxSide,
	// tiling and coarse-to-fine apply per region), pasted back under the
	// mask. Auto (the default) crops images whose longer side is above
	// CropTrigger when the regions cover less than CropMaxCover of the
	// image; On crops any image; Off never.
	Crop Switch
	// CropMargin is the context kept around a hole (0: DefaultCropMargin).
	CropMargin int
}

// Switch is an automatic choice that can be forced: SwitchAuto (""),
// SwitchOn or SwitchOff.
type Switch string

// Switch values.
const (
	SwitchAuto Switch = ""
	SwitchOn   Switch = "on"
	SwitchOff  Switch = "off"
)

// ParseSwitch reads "auto" (or ""), "on" and "off".
func ParseSwitch(s string) (Switch, error) {
	switch s {
	case "", "auto":
		return SwitchAuto, nil
	case "on", "off":
		return Switch(s), nil
	}
	return "", fmt.Errorf("unknown setting %q (want auto, on or off)", s)
}

// ResultSeed is the Seed of the k-th of several results of one input when
// each result averages average samples (Options.Average): seed +
// k*max(1, average), so that no two results share a sample.
func ResultSeed(seed uint64, k, average int) uint64 {
	return seed + uint64(k)*uint64(max(1, average))
}

// Resolution is the size an Inpainter runs its model at.
type Resolution string

const (
	// ResolutionAuto picks ResolutionModel for size-bound models and
	// ResolutionNative for the rest (see SizeBound).
	ResolutionAuto Resolution = ""
	// ResolutionModel resizes every image to the model's training size.
	ResolutionModel Resolution = radmodel.SizeModel
	// ResolutionNative runs the model on the image at its own size,
	// reflect-padded to a multiple of the UNet's downsampling factor.
	ResolutionNative Resolution = radmodel.SizeNative
)

// ParseResolution reads "auto" (or ""), "model" or "native".
func ParseResolution(s string) (Resolution, error) {
	switch s {
	case "", "auto":
		return ResolutionAuto, nil
	case string(ResolutionModel), string(ResolutionNative):
		return Resolution(s), nil
	}
	return "", fmt.Errorf("unknown resolution %q (want auto, model or native)", s)
}

// DefaultMaxTilePixels is the default tile budget of native mode: one
// megapixel per model call.
const DefaultMaxTilePixels = 1024 * 1024

// SizeBound reports whether a model is bound to its training size. The
// model's own metadata decides first (radmodel.Config.Resolution, saved
// with the weights by radctl train or convert --resolution): "native"
// runs at any size, "model" only at its training size. Without it the
// rule is the attention resolutions: a model with attention at some
// resolution of its UNet (a non-empty attention_resolutions), whose global
// context and token statistics depend on the image size, is bound; the
// attention block of the middle (coarsest) level, which every ADM has, is
// not counted; a model without attention resolutions is taken as fully
// convolutional and runs at any size.
func SizeBound(c radmodel.Config) bool {
	switch Resolution(c.Resolution) {
	case ResolutionNative:
		return false
	case ResolutionModel:
		return true
	}
	return len(c.AttentionResolutions) > 0
}

// DownsamplingFactor is the UNet's total downsampling, 2^(levels-1): the
// height and width of a model input must be multiples of it.
func DownsamplingFactor(c radmodel.Config) int { return 1 << (c.Levels() - 1) }

// Resolution resolves r for this Inpainter's model: ResolutionAuto
// becomes ResolutionModel for a size-bound model (SizeBound) and
// ResolutionNative otherwise.
func (ip *Inpainter) Resolution(r Resolution) (Resolution, error) {
	switch r {
	case ResolutionAuto, "auto":
		if SizeBound(ip.model.Config()) {
			return ResolutionModel, nil
		}
		return ResolutionNative, nil
	case ResolutionModel, ResolutionNative:
		return r, nil
	}
	return "", fmt.Errorf("inpaint: unknown resolution %q (want auto, model or native)", r)
}

// denoiser is the model for inputs of h x w: tiled when above the tile
// budget (never at the model's own size). It returns the tiles per call.
func (ip *Inpainter) denoiser(h, w int, o Options) (Denoiser, int) {
	cfg := ip.model.Config()
	budget := o.MaxTilePixels
	if budget == 0 {
		budget = DefaultMaxTilePixels
	}
	if budget < 0 || h*w <= budget || (h == cfg.ImageSize && w == cfg.ImageSize) {
		return ip.den, 1
	}
	f := DownsamplingFactor(cfg)
	th, tw, ov := tileLayout(h, w, f, budget)
	d := TiledDenoiser{Inner: ip.den, TileH: th, TileW: tw, Overlap: ov, Multiple: f}
	return d, d.Tiles(h, w)
}

// tileLayout picks tiles for an h x w input (multiples of f) within a
// budget of pixels per tile: near-square tiles, sides multiples of f (at
// least 2f), overlapping by a quarter of the shorter side (at least f).
func tileLayout(h, w, f, budget int) (th, tw, overlap int) {
	side := max(int(math.Sqrt(float64(budget)))/f*f, 2*f)
	th = min(h, side)
	tw = min(w, max(budget/th/f*f, 2*f))
	overlap = max(min(th, tw)/4/f*f, f)
	return th, tw, overlap
}

// Stats describe one call.
type Stats struct {
	ModelCalls   int64   `json:"model_calls"`
	Seconds      float64 `json:"seconds"`
	Steps        int     `json:"steps"`
	Sampler      string  `json:"sampler"`
	Device       string  `json:"device"`
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	ModelSize    int     `json:"model_size"`
	HoleFraction float64 `json:"hole_fraction"`
	Seed         uint64  `json:"seed"`
	// Resized: the image was scaled for the model (to the model's size,
	// or down to MaxSide).
	Resized bool `json:"resized"`
	// Resolution is "model" or "native"; WorkWidth x WorkHeight is the
	// model input's size (padding included) and Tiles the model calls per
	// step (1 untiled; ModelCalls counts steps).
	Resolution string `json:"resolution"`
	WorkWidth  int    `json:"work_width"`
	WorkHeight int    `json:"work_height"`
	Tiles      int    `json:"tiles"`
	// BatchSize is the number of requests sampled together with this one.
	BatchSize int `json:"batch_size"`
	// Samples is the number of samples averaged (Options.Average; 1 for
	// one sample). ModelCalls then counts every batch they ran in.
	Samples int `json:"samples"`
	// Init is the start of the finest level (noise or harmonic); Levels the
	// coarse-to-fine levels run (1: none), whose model calls ModelCalls
	// includes.
	Init   string `json:"init,omitempty"`
	Levels int    `json:"levels"`
	// Regions is the number of regions inpainted apart (Options.Crop; 0:
	// the whole image). Then the other fields describe the largest region
	// (its working size, tiles, resizing), and ModelCalls counts them all.
	Regions int `json:"regions,omitempty"`
}

// Inpaint fills the hole of img given by mask (same size; 1 = hole, white
// >= 128 unless InvertMask) and returns the result at img's size.
//
// In model resolution, images of another size than the model's are
// resized to it (Catmull-Rom; the mask by the maximum over each pixel's
// footprint, so the hole only grows), inpainted, resized back, and pasted
// into the original where the mask is a hole. In native resolution the
// model works on the image at its own size (or scaled down to MaxSide),
// padded at the right and bottom to a multiple of the UNet's
// downsampling factor; the padding is known context (mask 0): the
// image's reflection, except where the reflected pixel is in the hole,
// whose content is never read (there the mean of the known pixels). The
// result is cropped back. Above MaxTilePixels the model runs on
// overlapping tiles blended at every step. See Options.Resolution for
// which mode applies.
//
// The known region is always the input's, byte for byte. A mask without
// a hole returns the input with no model call; a mask that is all hole is
// pure generation. ctx is checked between steps.
func (ip *Inpainter) Inpaint(ctx context.Context, img, mask image.Image, o Options) (*image.RGBA, *Stats, error) {
	if out, st, ok, err := ip.inpaintCrops(ctx, img, mask, o); ok || err != nil {
		return out, st, err
	}
	return ip.inpaintWhole(ctx, img, mask, o)
}

// inpaintWhole is Inpaint on the whole image.
func (ip *Inpainter) inpaintWhole(ctx context.Context, img, mask image.Image, o Options) (*image.RGBA, *Stats, error) {
	start := time.Now()
	if img == nil || mask == nil {
		return nil, nil, fmt.Errorf("inpaint: image and mask are required")
	}
	ib, mb := img.Bounds(), mask.Bounds()
	if ib.Dx() != mb.Dx() || ib.Dy() != mb.Dy() {
		return nil, nil, fmt.Errorf("inpaint: mask is %dx%d, image %dx%d (they must match)", mb.Dx(), mb.Dy(), ib.Dx(), ib.Dy())
	}
	if ib.Dx() < 1 || ib.Dy() < 1 {
		return nil, nil, fmt.Errorf("inpaint: empty image")
	}
	res, err := ip.Resolution(o.Resolution)
	if err != nil {
		return nil, nil, err
	}
	if o.MaxSide < 0 {
		return nil, nil, fmt.Errorf("inpaint: max side %d must be >= 0 (0: no limit)", o.MaxSide)
	}
	cfg := ip.model.Config()
	size := cfg.ImageSize
	w, h := ib.Dx(), ib.Dy()
	if o.Average < 0 {
		return nil, nil, fmt.Errorf("inpaint: average %d must be >= 0 (0 or 1: one sample)", o.Average)
	}
	if err := checkGuide(o); err != nil {
		return nil, nil, err
	}
	samples := max(1, o.Average)
	st := &Stats{Sampler: string(kindOr(o.Sampler)), Device: ip.model.Device().String(), Width: w, Height: h,
		ModelSize: size, Seed: o.Seed, Resolution: string(res), Samples: samples}
	orig := toRGBA(img)
	if cfg.InChannels == 1 {
		orig = grayOf(orig)
	}
	levels := maskLevels(mask, o.InvertMask, o.SoftMask)
	var hole float64
	for _, v := range levels {
		hole += float64(v)
	}
	st.HoleFraction = hole / float64(len(levels))
	if hole == 0 {
		st.Seconds = time.Since(start).Seconds()
		return orig, st, nil
	}
	if cfg.NumClasses > 0 && (o.Class < 0 || o.Class >= cfg.NumClasses) {
		return nil, nil, fmt.Errorf("inpaint: class %d outside 0..%d", o.Class, cfg.NumClasses-1)
	}
	// the working size ww x wh, and the model input's pw x ph (padded)
	ww, wh := size, size
	if res == ResolutionNative {
		ww, wh = workSize(w, h, o.MaxSide)
	}
	st.Resized = ww != w || wh != h
	x := rgbaToCHW(resizeRGBA(orig, ww, wh), cfg.InChannels)
	m := resizeMask(levels, w, h, ww, wh)
	x, m, coarse, err := ip.guide(ctx, x, m, ww, wh, res, o)
	if err != nil {
		return nil, nil, err
	}
	if o.Steps == 0 && kindOr(o.Sampler) != RePaint {
		o.Steps = defaultSteps(o.Init.resolve() != InitNoise || coarse.levels > 0)
	}
	st.ModelCalls += coarse.calls
	st.Init, st.Levels = string(o.Init.resolve()), coarse.levels+1
	pw, ph := ww, wh
	if res == ResolutionNative {
		x, m, pw, ph = padToMultiple(x, m, cfg.InChannels, ww, wh, DownsamplingFactor(cfg))
	}
	_, st.Tiles = ip.denoiser(ph, pw, o)
	st.WorkWidth, st.WorkHeight = pw, ph

	reqs := make([]*request, samples)
	for k := range reqs {
		ok := o
		ok.Seed = o.Seed + uint64(k)
		if k > 0 {
			ok.Progress, ok.Preview = nil, nil
		}
		reqs[k] = &request{ctx: ctx, x: x, m: m, w: pw, h: ph, ww: ww, wh: wh, o: ok, done: make(chan struct{})}
	}
	if ip.batches != nil {
		for _, req := range reqs {
			select {
			case ip.batches <- req:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
		// a cancelled call returns at once; its batch goes on for the
		// others and drops this call's result (it stops when every call
		// of the batch is cancelled)
		for _, req := range reqs {
			select {
			case <-req.done:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		}
	} else {
		ip.runBatch(reqs)
	}
	req := reqs[0]
	st.Steps, st.BatchSize = req.steps, req.batch
	counted := map[*request]bool{}
	for _, r := range reqs {
		if r.err != nil {
			return nil, nil, r.err
		}
		if !counted[r.group] {
			counted[r.group] = true
			st.ModelCalls += r.calls
		}
	}
	fill := req.out
	if samples > 1 {
		fill = meanOf(reqs)
	}
	gen := chwToRGBA(cropCHW(fill, cfg.InChannels, pw, ph, ww, wh), cfg.InChannels, ww, wh)
	gen = resizeRGBA(gen, w, h)
	out := composite(orig, gen, levels)
	st.Seconds = time.Since(start).Seconds()
	return out, st, nil
}

// meanOf is the element-wise mean of the requests' results (Options.Average).
func meanOf(reqs []*request) []float32 {
	sum := make([]float64, len(reqs[0].out))
	for _, r := range reqs {
		for i, v := range r.out {
			sum[i] += float64(v)
		}
	}
	out := make([]float32, len(sum))
	for i, v := range sum {
		out[i] = float32(v / float64(len(reqs)))
	}
	return out
}

func kindOr(k Kind) Kind {
	if k == "" {
		return RAD
	}
	return k
}

// Sample runs the chosen sampler on tensors: x0 [B,C,H,W] in [-1, 1] and
// m [B,1,H,W] (1 = hole) on the model's device, y the labels or nil. It
// returns the result (owned by s), the model calls and the steps. H and
// W must be multiples of DownsamplingFactor; an input of another size than
// the model's above o.MaxTilePixels is denoised in tiles (TiledDenoiser).
func (ip *Inpainter) Sample(ctx context.Context, s *torch.Scope, x0, m, y *torch.Tensor, o Options) (*torch.Tensor, int64, int, error) {
	return ip.sample(ctx, s, x0, m, y, o, nil, nil)
}

// sample is Sample with optional per-sample generators (else one from
// o.Seed for the batch) and an optional callback on the step's tensors.
func (ip *Inpainter) sample(ctx context.Context, s *torch.Scope, x0, m, y *torch.Tensor, o Options, per []*torch.Generator,
	cb func(i, total int, x, predX0 *torch.Tensor)) (*torch.Tensor, int64, int, error) {
	steps := o.Steps
	if steps == 0 {
		steps = DefaultSteps
	}
	if steps < 1 || steps > ip.base.N() {
		return nil, 0, 0, fmt.Errorf("inpaint: %d steps: the base chain has %d (use 1..%d)", steps, ip.base.N(), ip.base.N())
	}
	if !x0.Valid() || x0.Dim() != 4 {
		return nil, 0, 0, fmt.Errorf("inpaint: image must be [B,C,H,W], got %v", shapeOf(x0))
	}
	den, _ := ip.denoiser(int(x0.Size(2)), int(x0.Size(3)), o)
	// ModelCalls counts as the calls happen (a service's metrics see a
	// run's progress)
	den = countingDenoiser{Denoiser: den, n: &ip.calls}
	g := torch.NewGenerator(o.Seed)
	defer g.Close()
	var calls atomic.Int64
	so := sampleOptions(y, &calls, o.Progress)
	so.PerSample = per
	if cb != nil {
		progress := so.Callback
		so.Callback = func(i, total int, x, pred *torch.Tensor) {
			if progress != nil {
				progress(i, total, x, pred)
			}
			cb(i, total, x, pred)
		}
	}
	switch kindOr(o.Sampler) {
	case RAD, RADDDIM:
		p, err := NewProcess(ip.base, fmt.Sprint(steps), ip.offset)
		if err != nil {
			return nil, 0, 0, err
		}
		p.Mapper = ip.mapper
		p.DDIM, p.Eta = o.Sampler == RADDDIM, o.Eta
		p.Spatial = !o.ScalarEmbedding
		out, err := p.Sample(ctx, s, den, x0, m, g, so)
		return out, calls.Load(), p.Steps(), err
	case RePaint:
		ro := o.RePaint
		if ro.Respacing == "" {
			ro = DefaultRePaint
			if o.Steps != 0 {
				ro.Respacing = fmt.Sprint(o.Steps)
			}
		}
		out, err := RePaintSample(ctx, s, den, x0, m, ip.base, ro, g, so)
		return out, calls.Load(), int(calls.Load()), err
	}
	return nil, 0, 0, fmt.Errorf("inpaint: unknown sampler %q (want rad, rad-ddim or repaint)", o.Sampler)
}

func sampleOptions(y *torch.Tensor, calls *atomic.Int64, progress func(i, total int)) SampleOptions {
	so := SampleOptions{Y: y, Calls: calls}
	if progress != nil {
		so.Callback = func(i, total int, _, _ *torch.Tensor) { progress(i, total) }
	}
	return so
}

// countingDenoiser counts its Predict calls in n.
type countingDenoiser struct {
	Denoiser
	n *atomic.Int64
}

// Predict implements Denoiser.
func (d countingDenoiser) Predict(s *torch.Scope, x *torch.Tensor, t Timesteps, y *torch.Tensor) *torch.Tensor {
	out := d.Denoiser.Predict(s, x, t, y)
	d.n.Add(1)
	return out
}

// Prediction implements Parameterized: the wrapped model's.
func (d countingDenoiser) Prediction() diffusion.Param { return PredictionOf(d.Denoiser) }

// SampleBytes is an upper estimate of the memory one sample of an w x h
// image allocates at its peak with options o: the model's inference
// memory (radmodel.Config.InferenceBytes) at its working size (the
// model's size, or the image's native size scaled down to MaxSide and
// padded to the downsampling factor), or at one tile's size where the
// working size is above MaxTilePixels (tiles run one after another), plus
// the image buffers of the sample. A crop around the mask or a
// coarse-to-fine level only makes the input smaller, so they are not
// counted. An averaged result (o.Average) runs its samples at once: the
// caller multiplies.
func (ip *Inpainter) SampleBytes(w, h int, o Options) (int64, error) {
	if w < 1 || h < 1 {
		return 0, fmt.Errorf("inpaint: empty image (%dx%d)", w, h)
	}
	if o.MaxSide < 0 {
		return 0, fmt.Errorf("inpaint: max side %d must be >= 0 (0: no limit)", o.MaxSide)
	}
	res, err := ip.Resolution(o.Resolution)
	if err != nil {
		return 0, err
	}
	cfg := ip.model.Config()
	pw, ph := cfg.ImageSize, cfg.ImageSize
	if res == ResolutionNative {
		ww, wh := workSize(w, h, o.MaxSide)
		f := DownsamplingFactor(cfg)
		pw, ph = (ww+f-1)/f*f, (wh+f-1)/f*f
	}
	th, tw := ph, pw
	if d, tiles := ip.denoiser(ph, pw, o); tiles > 1 {
		td := d.(TiledDenoiser)
		th, tw = td.TileH, td.TileW
	}
	// the image and mask at full and working size (RGBA and float32 CHW),
	// the sample's state and its running sums
	buffers := int64(w)*int64(h)*(4+4+4) + int64(pw)*int64(ph)*int64(cfg.InChannels+1)*4*6
	return cfg.InferenceBytes(th, tw) + buffers, nil
}
