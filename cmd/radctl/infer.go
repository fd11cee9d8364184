package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/jpeg"
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
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/torch"
)

func init() {
	flags := modelFlagsWith(&cli.StringFlag{Name: "base", Usage: "checkpoint: torch.save state dict, TorchScript archive or safetensors (or --demo)"})
	commands = append(commands, &cli.Command{
		Name:  "infer",
		Usage: "inpaint images: RAD (100 model calls), RAD DDIM or the RePaint baseline",
		Description: "Masks: white (>= 128) = hole (--invert-mask: 255 = keep, RePaint's convention); a colour or\n" +
			"alpha mask counts by its luminance (transparent = black = keep); --soft-mask reads gray levels as\n" +
			"partial-strength regeneration. Images of another size than the model's are resized to it,\n" +
			"inpainted, resized back and pasted into the original under the mask: known pixels are never\n" +
			"changed. --image and --mask may be folders (masks matched by file name, or one mask for all);\n" +
			"then --out is a folder. --demo runs the pipeline on an embedded random-weight model and a\n" +
			"generated image (a smoke test of the whole system, not a trained model).",
		Flags: append(flags,
			&cli.StringFlag{Name: "lora", Usage: "RAD LoRA adapter (safetensors from radctl train)"},
			&cli.BoolFlag{Name: "ignore-lora-hash", Usage: "apply an adapter trained on another file of the same config"},
			&cli.StringFlag{Name: "image", Usage: "input image (PNG/JPEG) or folder"},
			&cli.StringFlag{Name: "mask", Usage: "mask PNG or folder"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "output PNG (or folder for folder inputs)"},
			&cli.IntFlag{Name: "steps", Value: 100, Usage: "sampling steps (RePaint: respaced steps, 250 by default)"},
			&cli.StringFlag{Name: "sampler", Value: "rad", Usage: "rad, rad-ddim or repaint"},
			&cli.Float64Flag{Name: "eta", Value: 0, Usage: "DDIM eta"},
			&cli.Uint64Flag{Name: "seed", Value: 0, Usage: "random seed (sample k of an image uses seed+k)"},
			&cli.IntFlag{Name: "n", Value: 1, Usage: "samples per input"},
			&cli.IntFlag{Name: "batch-size", Value: 1, Usage: "inputs sampled together as one batch (same model calls for up to this many images)"},
			&cli.BoolFlag{Name: "invert-mask", Usage: "mask 255 = keep (RePaint's convention)"},
			&cli.BoolFlag{Name: "soft-mask", Usage: "gray mask levels are partial-strength regeneration"},
			&cli.BoolFlag{Name: "scalar-embedding", Usage: "feed the hole's scalar timestep instead of the per-pixel map"},
			&cli.IntFlag{Name: "class", Value: 0, Usage: "class label for class-conditional models"},
			&cli.Float64Flag{Name: "timestep-offset", Value: 0, Usage: "timestep map offset (default: the adapter's)"},
			&cli.IntFlag{Name: "repaint-jump-length", Value: 10},
			&cli.IntFlag{Name: "repaint-jump-n-sample", Value: 10},
			&cli.StringFlag{Name: "grid", Usage: "also write input | mask | result as one PNG"},
			&cli.StringFlag{Name: "stats", Usage: "write JSON stats (model_calls, seconds, steps, sampler, device, ...)"},
			&cli.BoolFlag{Name: "demo", Usage: "use the embedded demo model and a generated image and mask"},
		),
		Action: runInfer,
	})
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
		ScalarEmbedding: c.Bool("scalar-embedding"),
	}
	if o.Sampler == infer.RePaint {
		o.RePaint = infer.RePaintOpts{Respacing: "250", JumpLength: c.Int("repaint-jump-length"), JumpNSample: c.Int("repaint-jump-n-sample")}
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
	if c.Bool("demo") {
		m, spec, err = demoModel()
	} else {
		if c.String("base") == "" {
			return nil, torch.CPU, fmt.Errorf("give --base CHECKPOINT (or --demo)")
		}
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
	steps, sched := spec.Diffusion.DiffusionSteps, spec.Diffusion.NoiseSchedule
	ip, err := infer.New(infer.Config{Model: m, DiffusionSteps: steps, NoiseSchedule: sched, TimestepOffset: offset,
		MaxBatch: c.Int("batch-size"), BatchWindow: 50 * time.Millisecond})
	return ip, m.Device(), err
}

// inferJobs reads the inputs: one image and mask, folders, or the demo.
func inferJobs(c *cli.Context) ([]job, error) {
	n := max(1, c.Int("n"))
	seed := c.Uint64("seed")
	out := c.String("out")
	if c.Bool("demo") && c.String("image") == "" {
		img, mask := demoInputs()
		return expand([]job{{image: img, mask: mask, name: "demo", out: out}}, n, seed, false), nil
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
		return expand([]job{{image: img, mask: mask, name: imgPath, out: out}}, n, seed, false), nil
	}
	names, err := imageFiles(imgPath)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s has no PNG or JPEG images", imgPath)
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
			mp = filepath.Join(maskPath, strings.TrimSuffix(name, filepath.Ext(name))+".png")
			if _, err := os.Stat(mp); err != nil {
				mp = filepath.Join(maskPath, name)
			}
		}
		mask, err := readImage(mp)
		if err != nil {
			return nil, fmt.Errorf("mask for %s: %w", name, err)
		}
		jobs = append(jobs, job{image: img, mask: mask, name: name,
			out: filepath.Join(out, strings.TrimSuffix(name, filepath.Ext(name))+".png")})
	}
	return expand(jobs, n, seed, true), nil
}

// expand makes n samples of each job with seeds seed, seed+1, ...
func expand(jobs []job, n int, seed uint64, dir bool) []job {
	var out []job
	for _, j := range jobs {
		for k := 0; k < n; k++ {
			jk := j
			jk.seed = seed + uint64(k)
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
		case ".png", ".jpg", ".jpeg":
			if !e.IsDir() {
				out = append(out, e.Name())
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func readImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable PNG or JPEG image: %w", path, err)
	}
	return img, nil
}

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

// demoModel is the embedded default: an ADM of the public fixture pub_a's
// shape with seeded random weights (no download, no file).
func demoModel() (*radmodel.UNet, radmodel.Spec, error) {
	spec, err := radmodel.ParseFlags("--image_size 32 --num_channels 32 --num_res_blocks 1 --channel_mult 1,1,2 " +
		"--attention_resolutions 16 --num_heads 2 --use_scale_shift_norm True --learn_sigma True")
	if err != nil {
		return nil, spec, err
	}
	m, err := radmodel.NewRandom(spec.Model, torch.CPU, torch.Float32, 1102)
	return m, spec, err
}

// demoInputs is a generated 32x32 picture (sky, ground, a sun) and a box
// hole over its middle.
func demoInputs() (image.Image, image.Image) {
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	mask := image.NewGray(image.Rect(0, 0, 32, 32))
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			c := color.RGBA{uint8(90 + 4*y), uint8(140 + 3*y), 235, 255}
			if y > 20 {
				c = color.RGBA{60, uint8(120 + 2*x), 50, 255}
			}
			if (x-8)*(x-8)+(y-8)*(y-8) < 16 {
				c = color.RGBA{250, 220, 60, 255}
			}
			img.SetRGBA(x, y, c)
			if x >= 12 && x < 24 && y >= 10 && y < 26 {
				mask.SetGray(x, y, color.Gray{255})
			}
		}
	}
	return img, mask
}
