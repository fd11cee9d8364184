package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/internal/atomicfile"
	"github.com/radinpaint/rad/models"
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/torch"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "infer",
		Usage: "inpaint images: RAD (100 model calls), RAD DDIM or the RePaint baseline",
		Description: "Masks: white (>= 128) = hole (--invert-mask: 255 = keep, RePaint's convention); a colour or\n" +
			"alpha mask counts by its luminance (transparent = black = keep); --soft-mask reads gray levels as\n" +
			"partial-strength regeneration. Images and masks are PNG, JPEG or Netpbm (PPM/PGM, P6/P5/P3/P2,\n" +
			"8 or 16 bits).\n" +
			"--resolution model resizes images of another size than the model's to it, inpaints, resizes back\n" +
			"and pastes into the original under the mask; --resolution native runs the model on the image at\n" +
			"its own size (reflect-padded to a multiple of the UNet's downsampling factor, the padding known;\n" +
			"--max-side N scales larger images down first; above --max-tile-pixels the model runs on\n" +
			"overlapping tiles blended at every step). auto (the default) is model for a model with attention\n" +
			"resolutions (size-bound) and native for one without. Known pixels are never changed.\n" +
			"--image and --mask may be folders (masks matched by file name, or one mask for all);\n" +
			"then --out is a folder. Without --base the shipped default model runs (package models: RAD\n" +
			"trained on natural-photo patches, fully convolutional, so at the image's own resolution).\n" +
			"--demo inpaints a generated picture with it; --random-model runs the pipeline on a fast\n" +
			"random-weight 32x32 ADM (a smoke test of the whole system, not a trained model).",
		Flags: append(append(inpainterFlags(),
			&cli.BoolFlag{Name: "demo", Usage: "inpaint a generated image and mask (with the shipped default model unless --base or --random-model)"},
			&cli.StringFlag{Name: "image", Usage: "input image (PNG, JPEG, PPM/PGM) or folder"},
			&cli.StringFlag{Name: "mask", Usage: "mask image (PNG, JPEG, PGM/PPM) or folder"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "output PNG (or folder for folder inputs)"},
			&cli.IntFlag{Name: "steps", Value: 0, Usage: fmt.Sprintf("sampling steps (0: %d from a guided start, %d from noise; RePaint: respaced steps, 250 by default)", infer.DefaultGuidedSteps, infer.DefaultSteps)},
			&cli.StringFlag{Name: "sampler", Value: "rad", Usage: "rad, rad-ddim or repaint"},
			&cli.Float64Flag{Name: "eta", Value: 0, Usage: "DDIM eta"},
			&cli.Uint64Flag{Name: "seed", Value: 0, Usage: "random seed (sample k of an image uses seed+k)"},
			&cli.IntFlag{Name: "n", Value: 1, Usage: "samples per input"},
			&cli.IntFlag{Name: "average", Value: 1, Usage: "write the mean of this many samples (seeds seed, seed+1, ...): the posterior-mean estimate, higher PSNR and a smoother fill, at this many times the samples"},
			&cli.IntFlag{Name: "batch-size", Value: 1, Usage: "inputs sampled together as one batch (same model calls for up to this many images)"},
			&cli.BoolFlag{Name: "invert-mask", Usage: "mask 255 = keep (RePaint's convention)"},
			&cli.BoolFlag{Name: "soft-mask", Usage: "gray mask levels are partial-strength regeneration"},
			&cli.BoolFlag{Name: "scalar-embedding", Usage: "feed the hole's scalar timestep instead of the per-pixel map"},
			&cli.IntFlag{Name: "class", Value: 0, Usage: "class label for class-conditional models"},
			&cli.IntFlag{Name: "repaint-jump-length", Value: 10},
			&cli.IntFlag{Name: "repaint-jump-n-sample", Value: 10},
			&cli.StringFlag{Name: "grid", Usage: "also write input | mask | result as one PNG"},
			&cli.StringFlag{Name: "stats", Usage: "write JSON stats (model_calls, seconds, steps, sampler, device, ...)"},
		), workingSizeFlags()...),
		Action: runInfer,
	})
}

// inpainterFlags pick the model of an Inpainter (radctl infer and serve):
// the shipped default, --base with its config flags, --random-model; an
// adapter.
func inpainterFlags() []cli.Flag {
	return append(modelFlagsWith(&cli.StringFlag{Name: "base", Usage: "checkpoint: torch.save state dict, TorchScript archive or safetensors (default: the shipped model)"}),
		&cli.StringFlag{Name: "lora", Usage: "RAD LoRA adapter (safetensors from radctl train)"},
		&cli.BoolFlag{Name: "ignore-lora-hash", Usage: "apply an adapter trained on another file of the same config"},
		unmergedLoRAFlag,
		&cli.BoolFlag{Name: "channels-last", Usage: "run the network on channels-last activations (faster oneDNN convolutions on the CPU; equal up to float rounding)"},
		&cli.Float64Flag{Name: "timestep-offset", Value: 0, Usage: "timestep map offset (default: the adapter's)"},
		&cli.BoolFlag{Name: "random-model", Usage: "the fast random-weight 32x32 ADM (pipeline smoke tests), with the generated inputs unless --image"},
	)
}

// workingSizeFlags choose the size the model works at (infer.Options
// Resolution, MaxSide, MaxTilePixels).
func workingSizeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "resolution", Value: "auto", Usage: "model (resize to the model's size), native (the image's own size) or auto (model if the model has attention resolutions, else native)"},
		&cli.IntFlag{Name: "max-side", Value: 0, Usage: "native: scale images whose longer side is above N down to N first (0: no limit)"},
		&cli.IntFlag{Name: "max-tile-pixels", Value: 0, Usage: fmt.Sprintf("native: most pixels per model call; larger images are denoised in overlapping tiles (0: %d, -1: never tile)", infer.DefaultMaxTilePixels)},
		&cli.StringFlag{Name: "init", Value: "default", Usage: fmt.Sprintf("how the hole starts: noise (RAD's own start), harmonic (a guided start: the membrane fill of the hole from its border, partly noised to --init-strength and regenerated), edges (harmonic with the edges that cross the hole continued) or default (%s)", infer.DefaultInit)},
		&cli.Float64Flag{Name: "init-strength", Value: 0, Usage: fmt.Sprintf("guided start: the level of the hole pixels far from the border, in (0, 1] (1: pure noise; 0: %g)", infer.DefaultInitStrength)},
		&cli.StringFlag{Name: "coarse-to-fine", Value: "auto", Usage: "native: inpaint a large hole at half size first and refine it here (auto: when --coarse-reach is given and the hole's largest distance to a known pixel is above it; on; off)"},
		&cli.Float64Flag{Name: "coarse-reach", Value: 0, Usage: "the distance in pixels the model carries context (0: its training size; guided starts grow their levels over a quarter of it)"},
		&cli.StringFlag{Name: "crop", Value: "auto", Usage: fmt.Sprintf("inpaint each hole in its own region (its bounding box grown by --crop-margin; IOPaint's crop): auto (images whose longer side is above %d, when the regions cover at most %g of the image), on, off", infer.CropTrigger, infer.CropMaxCover)},
		&cli.IntFlag{Name: "crop-margin", Value: infer.DefaultCropMargin, Usage: "context in pixels kept around each hole when cropping"},
		&cli.Float64Flag{Name: "refine-strength", Value: 0, Usage: fmt.Sprintf("coarse-to-fine: the level at which a finer level regenerates the coarser result, in (0, 1] (0: %g)", infer.DefaultRefineStrength)},
	}
}

// workingSize reads workingSizeFlags into o.
func workingSize(c *cli.Context, o *infer.Options) error {
	res, err := infer.ParseResolution(c.String("resolution"))
	if err != nil {
		return fmt.Errorf("--resolution: %w", err)
	}
	if c.Int("max-side") < 0 {
		return fmt.Errorf("--max-side %d must be >= 0 (0: no limit)", c.Int("max-side"))
	}
	o.Resolution, o.MaxSide, o.MaxTilePixels = res, c.Int("max-side"), c.Int("max-tile-pixels")
	if o.Init, err = infer.ParseInit(c.String("init")); err != nil {
		return fmt.Errorf("--init: %w", err)
	}
	if o.CoarseToFine, err = infer.ParseSwitch(c.String("coarse-to-fine")); err != nil {
		return fmt.Errorf("--coarse-to-fine: %w", err)
	}
	if o.Crop, err = infer.ParseSwitch(c.String("crop")); err != nil {
		return fmt.Errorf("--crop: %w", err)
	}
	if o.CropMargin = c.Int("crop-margin"); o.CropMargin < 1 {
		return fmt.Errorf("--crop-margin %d must be >= 1", o.CropMargin)
	}
	o.InitStrength, o.CoarseReach, o.RefineStrength = c.Float64("init-strength"), c.Float64("coarse-reach"), c.Float64("refine-strength")
	for _, f := range []string{"init-strength", "refine-strength"} {
		if v := c.Float64(f); !(v >= 0 && v <= 1) {
			return fmt.Errorf("--%s %g must be in (0, 1] (0: the default)", f, v)
		}
	}
	if v := c.Float64("coarse-reach"); !(v >= 0) {
		return fmt.Errorf("--coarse-reach %g must be >= 0", v)
	}
	return nil
}

// job is one output to make.
type job struct {
	image, mask image.Image
	name, out   string
	seed        uint64
}

func runInfer(c *cli.Context) error {
	ip, dev, err := inpainterFor(c)
	if err != nil {
		return err
	}
	defer ip.Close()
	jobs, err := inferJobs(c)
	if err != nil {
		return err
	}
	o := infer.Options{
		Sampler: infer.Kind(c.String("sampler")), Steps: c.Int("steps"), Eta: c.Float64("eta"),
		Class: c.Int("class"), InvertMask: c.Bool("invert-mask"), SoftMask: c.Bool("soft-mask"),
		ScalarEmbedding: c.Bool("scalar-embedding"), Average: c.Int("average"),
	}
	if o.Average < 1 {
		return fmt.Errorf("--average %d: want 1 or more samples", o.Average)
	}
	if err := workingSize(c, &o); err != nil {
		return err
	}
	if o.Sampler == infer.RePaint {
		o.RePaint = infer.RePaintOpts{Respacing: infer.DefaultRePaint.Respacing, JumpLength: c.Int("repaint-jump-length"), JumpNSample: c.Int("repaint-jump-n-sample")}
		if c.IsSet("steps") {
			o.RePaint.Respacing = fmt.Sprint(c.Int("steps"))
		}
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	bar := newProgress("inpaint")
	var mu sync.Mutex
	var all []*infer.Stats
	var firstErr error
	var done, totalCalls int
	sem := make(chan struct{}, max(1, c.Int("batch-size")))
	var wg sync.WaitGroup
	for _, j := range jobs {
		j := j
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			jo := o
			jo.Seed = j.seed
			if len(jobs) == 1 {
				jo.Progress = func(i, total int) { bar.update(i, total, "") }
			}
			res, st, err := ip.Inpaint(ctx, j.image, j.mask, jo)
			if err == nil {
				err = writePNG(j.out, res)
			}
			if err == nil && c.String("grid") != "" && len(jobs) == 1 {
				err = writePNG(c.String("grid"), gridImage(j.image, j.mask, res, o.InvertMask))
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", j.name, err)
				}
				return
			}
			st.Device = dev.String()
			all = append(all, st)
			done++
			totalCalls += int(st.ModelCalls)
			if len(jobs) > 1 {
				bar.update(done, len(jobs), "")
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if p := c.String("stats"); p != "" {
		if err := writeStats(p, all); err != nil {
			return err
		}
	}
	fmt.Fprintf(c.App.Writer, "inpainted %d image(s), %d model calls\n", len(all), totalCalls)
	return nil
}

// writeStats writes one image's stats as an object, several as totals plus
// an "images" list; both have model_calls, seconds, steps, sampler, device.
func writeStats(path string, all []*infer.Stats) error {
	var v any
	if len(all) == 1 {
		v = all[0]
	} else {
		var calls int64
		var secs float64
		for _, s := range all {
			calls += s.ModelCalls
			secs += s.Seconds
		}
		v = map[string]any{"model_calls": calls, "seconds": secs, "steps": all[0].Steps, "sampler": all[0].Sampler,
			"device": all[0].Device, "images": all}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, append(b, '\n'))
}

// inpainterFor loads the model (or the demo) and any adapter.
func inpainterFor(c *cli.Context) (*infer.Inpainter, torch.Device, error) {
	var m *radmodel.UNet
	var spec radmodel.Spec
	var err error
	switch {
	case c.Bool("random-model"):
		m, spec, err = randomModel()
	case c.String("base") == "":
		m, spec, err = shippedModel(c)
	default:
		m, spec, err = loadModel(c, "base")
	}
	if err != nil {
		return nil, torch.CPU, err
	}
	offset := c.Float64("timestep-offset")
	if a := c.String("lora"); a != "" {
		var sha string
		if !c.Bool("ignore-lora-hash") && c.String("base") != "" {
			if sha, err = radmodel.FileSHA256(c.String("base")); err != nil {
				return nil, torch.CPU, err
			}
		}
		meta, err := m.LoadAdapter(a, radmodel.ApplyOpts{BaseSHA256: sha, IgnoreHash: c.Bool("ignore-lora-hash")})
		if err != nil {
			return nil, torch.CPU, err
		}
		if !c.IsSet("timestep-offset") {
			offset = meta.TimestepOffset
		}
	}
	if _, err := mergeLoRA(c, m); err != nil {
		return nil, torch.CPU, err
	}
	steps, sched := spec.Diffusion.DiffusionSteps, spec.Diffusion.NoiseSchedule
	ip, err := infer.New(infer.Config{Model: m, DiffusionSteps: steps, NoiseSchedule: sched, TimestepOffset: offset,
		MaxBatch: c.Int("batch-size"), BatchWindow: 50 * time.Millisecond, ChannelsLast: c.Bool("channels-last")})
	return ip, m.Device(), err
}

// unmergedLoRAFlag keeps a loaded adapter's LoRA products apart.
var unmergedLoRAFlag = &cli.BoolFlag{Name: "unmerged-lora", Usage: "keep the adapter's LoRA products apart (the computation " +
	"of training, slower) instead of folding them into the base weights (the same outputs up to float rounding)"}

// mergeLoRA folds m's LoRA adapters, if any, into its weights for
// inference (docs/DESIGN.md §3.3) unless --unmerged-lora; merged says
// whether it did.
func mergeLoRA(c *cli.Context, m *radmodel.UNet) (merged bool, err error) {
	if !m.HasLoRA() || c.Bool("unmerged-lora") {
		return false, nil
	}
	return true, m.MergeLoRA()
}

// inferJobs reads the inputs: one image and mask, folders, or the demo.
func inferJobs(c *cli.Context) ([]job, error) {
	n := max(1, c.Int("n"))
	seed := c.Uint64("seed")
	average := c.Int("average")
	out := c.String("out")
	if c.Bool("random-model") && c.String("image") == "" {
		img, mask := infer.DemoPicture(32)
		return expand([]job{{image: img, mask: mask, name: "demo", out: out}}, n, seed, average, false), nil
	}
	if c.Bool("demo") && c.String("image") == "" {
		img, mask := infer.DemoPicture(96)
		return expand([]job{{image: img, mask: mask, name: "demo", out: out}}, n, seed, average, false), nil
	}
	imgPath, maskPath := c.String("image"), c.String("mask")
	if imgPath == "" || maskPath == "" {
		return nil, fmt.Errorf("give --image and --mask")
	}
	st, err := os.Stat(imgPath)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		img, err := readImage(imgPath)
		if err != nil {
			return nil, err
		}
		mask, err := readImage(maskPath)
		if err != nil {
			return nil, err
		}
		return expand([]job{{image: img, mask: mask, name: imgPath, out: out}}, n, seed, average, false), nil
	}
	names, err := imageFiles(imgPath)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s has no PNG, JPEG, PPM or PGM images", imgPath)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	ms, err := os.Stat(maskPath)
	if err != nil {
		return nil, err
	}
	var jobs []job
	for _, name := range names {
		img, err := readImage(filepath.Join(imgPath, name))
		if err != nil {
			return nil, err
		}
		mp := maskPath
		if ms.IsDir() {
			// the image's name as .png, as .pgm, else as it is
			stem := strings.TrimSuffix(name, filepath.Ext(name))
			mp = filepath.Join(maskPath, name)
			for _, ext := range []string{".pgm", ".png"} {
				if p := filepath.Join(maskPath, stem+ext); fileExists(p) {
					mp = p
				}
			}
		}
		mask, err := readImage(mp)
		if err != nil {
			return nil, fmt.Errorf("mask for %s: %w", name, err)
		}
		jobs = append(jobs, job{image: img, mask: mask, name: name,
			out: filepath.Join(out, strings.TrimSuffix(name, filepath.Ext(name))+".png")})
	}
	return expand(jobs, n, seed, average, true), nil
}

// expand makes n samples of each job, sample k with infer.ResultSeed(seed,
// k, average).
func expand(jobs []job, n int, seed uint64, average int, dir bool) []job {
	var out []job
	for _, j := range jobs {
		for k := 0; k < n; k++ {
			jk := j
			jk.seed = infer.ResultSeed(seed, k, average)
			if n > 1 {
				ext := filepath.Ext(j.out)
				jk.out = fmt.Sprintf("%s_%d%s", strings.TrimSuffix(j.out, ext), k, ext)
			}
			out = append(out, jk)
		}
	}
	return out
}

func imageFiles(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range es {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".pnm":
			if !e.IsDir() {
				out = append(out, e.Name())
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// readImage reads a PNG, JPEG or Netpbm (PPM/PGM) image; errors name the
// file.
func readImage(path string) (image.Image, error) { return infer.ReadImage(path) }

func writePNG(path string, img image.Image) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}

// gridImage is input | mask (white = hole) | result side by side.
func gridImage(img, mask, res image.Image, invert bool) image.Image {
	b := res.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewRGBA(image.Rect(0, 0, 3*w, h))
	draw.Draw(out, image.Rect(0, 0, w, h), img, img.Bounds().Min, draw.Src)
	mb := mask.Bounds()
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g := color.GrayModel.Convert(mask.At(mb.Min.X+x, mb.Min.Y+y)).(color.Gray).Y
			if invert {
				g = 255 - g
			}
			out.Set(w+x, y, color.Gray{g})
		}
	}
	draw.Draw(out, image.Rect(2*w, 0, 3*w, h), res, b.Min, draw.Src)
	return out
}

// shippedModel is the default: the natural-photo RAD model of package
// models, on --device with --dtype.
func shippedModel(c *cli.Context) (*radmodel.UNet, radmodel.Spec, error) {
	dev, dt, err := deviceAndDType(c)
	if err != nil {
		return nil, radmodel.Spec{}, err
	}
	m, err := models.Photo(dev, dt)
	if err != nil {
		return nil, radmodel.Spec{}, err
	}
	spec := radmodel.Spec{Model: m.Config()}
	spec.Diffusion.DiffusionSteps, spec.Diffusion.NoiseSchedule = models.DiffusionSteps, models.NoiseSchedule
	spec.Diffusion.LearnSigma = m.Config().LearnSigma
	return m, spec, nil
}

// randomModel is the fast pipeline smoke test: an ADM of the public
// fixture pub_a's shape with seeded random weights (no download, no file).
func randomModel() (*radmodel.UNet, radmodel.Spec, error) {
	spec, err := radmodel.ParseFlags("--image_size 32 --num_channels 32 --num_res_blocks 1 --channel_mult 1,1,2 " +
		"--attention_resolutions 16 --num_heads 2 --use_scale_shift_norm True --learn_sigma True")
	if err != nil {
		return nil, spec, err
	}
	m, err := radmodel.NewRandom(spec.Model, torch.CPU, torch.Float32, 1102)
	return m, spec, err
}
