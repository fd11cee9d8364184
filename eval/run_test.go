package eval

import (
	"context"
	"encoding/json"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/internal/tensortest"
	"github.com/radinpaint/rad/models"
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/masks"
	"github.com/radinpaint/rad/torch"
)

// tinyUNet is a random-weight 16 x 16 RGB ADM (fast on the CPU).
func tinyUNet(t *testing.T) *radmodel.UNet {
	t.Helper()
	spec, err := radmodel.ParseFlags("--image_size 16 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2 " +
		"--attention_resolutions 8 --num_head_channels 32 --learn_sigma True")
	if err != nil {
		t.Fatal(err)
	}
	m, err := radmodel.NewRandom(spec.Model, torch.CPU, torch.Float32, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	// the model caches its timestep frequencies at its first forward
	s := torch.NewNoGradScope()
	defer s.Close()
	m.Forward(s, s.Zeros(torch.Float32, torch.CPU, 1, 3, 16, 16), s.Zeros(torch.Float32, torch.CPU, 1), nil)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// smoothImages are n smooth c x s x s pictures in [-1, 1].
func smoothImages(n, c, s int, seed uint64) Images {
	rng := rand.New(rand.NewPCG(seed, 1))
	im := Images{N: n, C: c, H: s, W: s, Data: make([]float32, n*c*s*s)}
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			fx, fy, ph := 0.2+rng.Float64(), 0.2+rng.Float64(), 6*rng.Float64()
			p := im.plane(i, ch)
			for y := 0; y < s; y++ {
				for x := 0; x < s; x++ {
					p[y*s+x] = float32(0.8 * math.Sin(fx*float64(x)+fy*float64(y)+ph))
				}
			}
		}
	}
	return im
}

// checkKnown fails unless results equal orig wherever mask is 0.
func checkKnown(t *testing.T, orig, mask, res Images) {
	t.Helper()
	p := orig.H * orig.W
	for i := 0; i < orig.N; i++ {
		m := mask.plane(i, 0)
		holes := 0
		for c := 0; c < orig.C; c++ {
			a, b := orig.plane(i, c), res.plane(i, c)
			for k := 0; k < p; k++ {
				if math.IsNaN(float64(b[k])) || math.IsInf(float64(b[k]), 0) {
					t.Fatalf("image %d: result %v at %d", i, b[k], k)
				}
				if m[k] == 0 && a[k] != b[k] {
					t.Fatalf("image %d channel %d pixel %d: known pixel changed %v -> %v", i, c, k, a[k], b[k])
				}
				if m[k] == 1 {
					holes++
				}
			}
		}
		if holes == 0 {
			t.Fatalf("image %d: mask without a hole", i)
		}
	}
}

func checkFinite(t *testing.T, rep *Report, lpips bool) {
	t.Helper()
	for _, r := range rep.Rows {
		vs := []Value{r.HoleFraction, r.FID, r.KIDMean, r.KIDStd, r.PSNR, r.SSIM, r.SecondsPerImage, r.CallsPerImage}
		if lpips {
			vs = append(vs, r.LPIPS)
		}
		for i, v := range vs {
			if !v.Finite() {
				t.Fatalf("row %+v: value %d not finite", r, i)
			}
		}
		if r.FID < 0 || r.SSIM > 1 || r.HoleFraction <= 0 || r.HoleFraction > 1 {
			t.Fatalf("row %+v out of range", r)
		}
	}
}

func TestRunTinyModel(t *testing.T) {
	model := tinyUNet(t)
	net := loadTS(t, "tuple")
	defer net.Close()
	live := torch.LiveTensors() // Run frees everything it makes
	im := smoothImages(8, 3, 16, 1)
	out := t.TempDir()
	got := map[masks.Kind]Images{}
	var last Progress
	cfg := RunConfig{Model: model, ModelName: "tiny", Images: im, Steps: 2, BatchSize: 3, Subset: 4,
		Masks: []masks.Kind{masks.Box, masks.Wide}, MaskSeed: 5, Seed: 7, IndexOffset: 10,
		Features: net, FeaturesDesc: "ts_tuple.pt", KIDSubsets: 10, Out: out, SaveImages: true,
		Results:  func(k masks.Kind, m, r Images) { checkKnown(t, im, m, r); got[k] = r },
		Progress: func(p Progress) { last = p }}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 4 || rep.Rows[0].Masks != "box" || rep.Rows[1].Masks != "wide" || !rep.Rows[2].Subset || rep.Rows[2].Images != 4 || rep.Rows[0].Images != 8 {
		t.Fatalf("rows %+v", rep.Rows)
	}
	checkFinite(t, rep, true)
	for _, r := range rep.Rows {
		if r.CallsPerImage != 2 || r.KIDSubsetSize != KIDSubsetSizeFor(r.Images) || r.KIDSubsets != 10 {
			t.Fatalf("row %+v: want 2 calls per image, KID subsets of %d", r, KIDSubsetSizeFor(r.Images))
		}
	}
	if last.Masks != "wide" || last.Done != 8 || last.Total != 8 || last.Kinds != 2 {
		t.Fatalf("last progress %+v", last)
	}
	for _, f := range []string{"report.json", "report.md", "grid-box.png", "grid-wide.png", "per-image-box.csv", "images/wide/00017.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatal(err)
		}
	}
	var back Report
	b, _ := os.ReadFile(filepath.Join(out, "report.json"))
	if err := json.Unmarshal(b, &back); err != nil || len(back.Rows) != 4 || back.Rows[0].FID != rep.Rows[0].FID || back.Config.Method != "rad" {
		t.Fatalf("report.json: %v %s", err, b)
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	for _, s := range []string{"| FID |", "KID (mean ± std)", "| box (first 4) | 4 |", "LPIPS-style", "calls/image"} {
		if !strings.Contains(string(md), s) {
			t.Fatalf("report.md lacks %q:\n%s", s, md)
		}
	}
	g, _ := os.Open(filepath.Join(out, "grid-box.png"))
	gi, err := png.Decode(g)
	g.Close()
	if err != nil || gi.Bounds().Dy() != 8*64+9*2 || gi.Bounds().Dx() != 4*64+5*2 {
		t.Fatalf("grid %v %v", err, gi.Bounds())
	}
	csv, _ := os.ReadFile(filepath.Join(out, "per-image-box.csv"))
	if lines := strings.Split(strings.TrimSpace(string(csv)), "\n"); len(lines) != 9 || !strings.HasPrefix(lines[1], "10,") {
		t.Fatalf("csv:\n%s", csv)
	}

	// the batch size changes nothing but float rounding; the images 2..5
	// run with offset 12 get the same masks and noise
	cfg2 := cfg
	cfg2.BatchSize, cfg2.Out, cfg2.Subset, cfg2.Progress = 8, "", 0, nil
	cfg2.Images = Images{N: 4, C: 3, H: 16, W: 16, Data: im.Data[2*3*256 : 6*3*256]}
	cfg2.IndexOffset = 12
	cfg2.Results = func(k masks.Kind, m, r Images) {
		want := got[k].Data[2*3*256 : 6*3*256]
		for i, v := range r.Data {
			if d := math.Abs(float64(v - want[i])); d > 1e-4 {
				t.Fatalf("%s: value %d differs by %g with another batch size and offset", k, i, d)
			}
		}
	}
	if _, err := Run(context.Background(), cfg2); err != nil {
		t.Fatal(err)
	}
	if l := torch.LiveTensors(); l != live {
		t.Fatalf("live tensors %d -> %d", live, l)
	}
}

func TestRunMeanFillAndRePaint(t *testing.T) {
	cls, err := NewClassifier(ClassifierConfig{Size: 16, Channels: []int{8, 8}, Groups: 4, Hidden: 16, Classes: 2}, 1, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer cls.Close()
	model := tinyUNet(t)
	live := torch.LiveTensors()
	im := smoothImages(8, 3, 16, 2)
	// mean fill: no model, no call, the hole is the known pixels' mean
	rep, err := Run(context.Background(), RunConfig{Method: MethodMeanFill, Images: im, Masks: []masks.Kind{masks.Extreme},
		Features: cls, FeaturesName: "TEST", Results: func(k masks.Kind, m, r Images) {
			checkKnown(t, im, m, r)
			for c := 0; c < 3; c++ {
				var sum float64
				var n int
				mp, a := m.plane(5, 0), im.plane(5, c)
				for k, v := range mp {
					if v == 0 {
						sum += float64(a[k])
						n++
					}
				}
				for k, v := range mp {
					if v == 1 && math.Abs(float64(r.plane(5, c)[k])-sum/float64(n)) > 1e-5 {
						t.Fatalf("channel %d: hole %v, known mean %v", c, r.plane(5, c)[k], sum/float64(n))
					}
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	checkFinite(t, rep, true)
	if rep.Rows[0].CallsPerImage != 0 || rep.Config.FIDName != "FID-TEST" || rep.Config.KIDName != "KID-TEST" {
		t.Fatalf("mean fill: %+v %+v", rep.Rows[0], rep.Config)
	}
	if !strings.Contains(rep.Markdown(), "| FID-TEST | KID-TEST (mean ± std) |") {
		t.Fatalf("markdown:\n%s", rep.Markdown())
	}

	// RePaint with a small respacing: its jump schedule's calls per image
	rep, err = Run(context.Background(), RunConfig{Model: model, Method: MethodRePaint, Steps: 4, JumpLength: 2, JumpNSample: 2,
		Images: im, BatchSize: 4, Masks: []masks.Kind{masks.Box}, Features: cls, Out: t.TempDir(),
		Results: func(k masks.Kind, m, r Images) { checkKnown(t, im, m, r) }})
	if err != nil {
		t.Fatal(err)
	}
	want := infer.RePaintCalls(4, 2, 2)
	if want <= 4 || rep.Rows[0].CallsPerImage != Value(want) || rep.Config.CallsPerRun != want {
		t.Fatalf("repaint: %v calls per image, want %d", rep.Rows[0].CallsPerImage, want)
	}
	checkFinite(t, rep, true)

	// RAD DDIM on the scalar embedding
	rep, err = Run(context.Background(), RunConfig{Model: model, Method: MethodRADDDIM, Steps: 3, ScalarEmbedding: true,
		Images: im, Masks: []masks.Kind{masks.Wide}, Features: cls,
		Results: func(k masks.Kind, m, r Images) { checkKnown(t, im, m, r) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows[0].CallsPerImage != 3 || !rep.Config.ScalarEmbedding {
		t.Fatalf("ddim: %+v", rep.Rows[0])
	}

	// RAD resampled with RePaint's jumps: its calls per image, recorded
	rep, err = Run(context.Background(), RunConfig{Model: model, Method: MethodRAD, Steps: 4, JumpLength: 2, Resample: 3,
		Images: im, BatchSize: 4, Masks: []masks.Kind{masks.Box}, Features: cls,
		Results: func(k masks.Kind, m, r Images) { checkKnown(t, im, m, r) }})
	if err != nil {
		t.Fatal(err)
	}
	want = infer.RePaintCalls(4, 2, 3)
	if want <= 4 || rep.Rows[0].CallsPerImage != Value(want) || rep.Config.Resample != 3 || !strings.Contains(rep.Markdown(), "resampled") {
		t.Fatalf("resampled rad: %v calls per image (want %d), config %+v", rep.Rows[0].CallsPerImage, want, rep.Config)
	}
	if _, err := Run(context.Background(), RunConfig{Model: model, Method: MethodRePaint, Resample: 2, Images: im, Features: cls}); err == nil {
		t.Fatal("resampling RePaint: no error")
	}
	if l := torch.LiveTensors(); l != live {
		t.Fatalf("live tensors %d -> %d", live, l)
	}
}

func TestRunErrors(t *testing.T) {
	model := tinyUNet(t)
	net := loadTS(t, "tuple")
	defer net.Close()
	ok := RunConfig{Model: model, Images: smoothImages(4, 3, 16, 3), Steps: 1, Masks: []masks.Kind{masks.Box}, Features: net}
	for _, c := range []struct {
		edit func(*RunConfig)
		want string
	}{
		{func(c *RunConfig) { c.Images = smoothImages(4, 3, 8, 1) }, "model of 3 channels at 16 x 16"},
		{func(c *RunConfig) { c.Images = smoothImages(4, 1, 16, 1) }, "images [N, 1, 16, 16]"},
		{func(c *RunConfig) { c.Method = "nope" }, `unknown method "nope"`},
		{func(c *RunConfig) { c.Model = nil }, "method rad needs a model"},
		{func(c *RunConfig) { c.Masks = []masks.Kind{"stars"} }, `unknown mask kind "stars"`},
		{func(c *RunConfig) { c.Subset = 5 }, "subset of 5 images out of 4"},
		{func(c *RunConfig) { c.Steps = 2000 }, "2000 steps for a 1000-step chain"},
		{func(c *RunConfig) { c.Features = nil }, "no feature network"},
		{func(c *RunConfig) { c.KIDSubsetSize = 9 }, "KID subsets of 9 vectors from a set of 4"},
		{func(c *RunConfig) { c.Images.N = 1; c.Images.Data = c.Images.Data[:3*256] }, "N >= 2"},
	} {
		cfg := ok
		c.edit(&cfg)
		if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error with %q, got %v", c.want, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, ok); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("cancelled: %v", err)
	}
	// a feature net without maps: no LPIPS-style value, the rest measured
	pooled := loadTS(t, "pooled")
	defer pooled.Close()
	cfg := ok
	cfg.Features = pooled
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows[0].LPIPS.Finite() || !strings.Contains(rep.Table(), "| n/a |") {
		t.Fatalf("LPIPS-style %v without feature maps:\n%s", rep.Rows[0].LPIPS, rep.Table())
	}
	checkFinite(t, rep, false)
	b, err := json.Marshal(rep)
	if err != nil || !strings.Contains(string(b), `"lpips_style":null`) {
		t.Fatalf("json: %v %s", err, b)
	}
}

func TestLoadImages(t *testing.T) {
	dir := tinyFashion(t, 6)
	path := filepath.Join(dir, "t10k-images-idx3-ubyte.gz")
	all, err := LoadImages(path, 32, 1, 0, 0)
	if err != nil || all.N != 6 || all.C != 1 || all.H != 32 {
		t.Fatalf("%v %v", err, all.Shape())
	}
	part, err := LoadImages(path, 32, 1, 2, 3)
	if err != nil || part.N != 3 {
		t.Fatal(err)
	}
	for i, v := range part.Data {
		if v != all.Data[2*1024+i] {
			t.Fatalf("offset images differ at %d", i)
		}
	}
	set, err := LoadFashionMNIST(dir, "t10k", 32, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range set.Images {
		if v != all.Data[i] {
			t.Fatalf("LoadImages and LoadFashionMNIST differ at %d", i)
		}
	}
	rgb, err := LoadImages(path, 16, 3, 0, 2)
	if err != nil || rgb.C != 3 || rgb.N != 2 {
		t.Fatal(err)
	}
	if _, err := LoadImages(path, 32, 1, 4, 3); err == nil || !strings.Contains(err.Error(), "has 6 images: cannot take 3 from index 4") {
		t.Fatalf("too many: %v", err)
	}
	if _, err := LoadImages(filepath.Join(dir, "missing.gz"), 32, 1, 0, 1); err == nil || !strings.Contains(err.Error(), "missing.gz") {
		t.Fatalf("missing: %v", err)
	}
}

func TestLoadClassifierBytes(t *testing.T) {
	live := torch.LiveTensors()
	c := newTestClassifier(t)
	p := filepath.Join(t.TempDir(), "c.safetensors")
	if err := c.Save(p); err != nil {
		t.Fatal(err)
	}
	c.Close()
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	fromBytes, err := LoadClassifierBytes("mem.safetensors", raw, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := LoadClassifier(p, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	s := torch.NewNoGradScope()
	x := testImages(s, 3, 4)
	a, _, err := fromBytes.Features(s, x)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := fromFile.Features(s, x)
	if d := tensortest.MaxAbsDiff(t, a, b); d != 0 {
		t.Fatalf("bytes and file differ by %g", d)
	}
	s.Close()
	fromBytes.Close()
	fromFile.Close()
	if _, err := LoadClassifierBytes("bad.safetensors", raw[:20], torch.CPU); err == nil || !strings.Contains(err.Error(), "bad.safetensors") {
		t.Fatalf("truncated: %v", err)
	}
	shipped, err := LoadClassifierBytes("models/fmnist-classifier.safetensors", models.FMNISTClassifierBytes(), torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := shipped.Config(); cfg.Size != 32 || cfg.Classes != 10 {
		t.Fatalf("shipped classifier config %+v", cfg)
	}
	shipped.Close()
	if l := torch.LiveTensors(); l != live {
		t.Fatalf("live tensors %d -> %d", live, l)
	}
}

// With Parts, an interrupted run goes on where it stopped: the kept
// batches are read back (no model call), the others sampled, and the
// results equal an uninterrupted run's bit for bit; a batch kept under
// another seed, or a damaged file, is sampled again.
func TestRunResumeParts(t *testing.T) {
	model := tinyUNet(t)
	net := loadTS(t, "tuple")
	defer net.Close()
	im := smoothImages(7, 3, 16, 3)
	parts := filepath.Join(t.TempDir(), "parts")
	results := map[masks.Kind][]float32{}
	base := RunConfig{Model: model, Images: im, Steps: 3, BatchSize: 3, Masks: []masks.Kind{masks.Box, masks.Wide},
		MaskSeed: 2, Seed: 4, Features: net, KIDSubsets: 4, GridImages: -1}
	run := func(cfg RunConfig, ctx context.Context) (*Report, map[masks.Kind][]float32, int, error) {
		got := map[masks.Kind][]float32{}
		calls := 0
		cfg.Results = func(k masks.Kind, _, r Images) { got[k] = append([]float32(nil), r.Data...) }
		cfg.Progress = func(p Progress) {
			if p.Step > 0 {
				calls++
			}
		}
		rep, err := Run(ctx, cfg)
		return rep, got, calls, err
	}
	// the reference: no parts
	rep0, want, calls0, err := run(base, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep0.Reused != 0 || calls0 != 2*3*3 { // 2 kinds x 3 batches x 3 steps
		t.Fatalf("reference: %d reused, %d calls", rep0.Reused, calls0)
	}
	// interrupted after the first batch of the first kind
	ctx, cancel := context.WithCancel(context.Background())
	cut := base
	cut.Parts = parts
	n := 0
	cut.Progress = nil
	cutRun := cut
	cutRun.Results = nil
	cutRun.Progress = func(p Progress) {
		if p.Step == 0 && p.Done > 0 {
			n++
			cancel()
		}
	}
	if _, err := Run(ctx, cutRun); err == nil {
		t.Fatal("cancelled run returned no error")
	}
	if files, _ := filepath.Glob(filepath.Join(parts, "*.safetensors")); len(files) != 1 || n != 1 {
		t.Fatalf("kept %v after one batch", files)
	}
	// resumed: one batch read back, five sampled, the same results
	rep1, got, calls1, err := run(cut, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep1.Reused != 3 || calls1 != 5*3 {
		t.Fatalf("resumed: %d reused, %d calls", rep1.Reused, calls1)
	}
	for k, w := range want {
		for i, v := range got[k] {
			if v != w[i] {
				t.Fatalf("%s: value %d: resumed %v, uninterrupted %v", k, i, v, w[i])
			}
		}
		results[k] = got[k]
	}
	if rep1.Rows[0].FID != rep0.Rows[0].FID || rep1.Rows[1].PSNR != rep0.Rows[1].PSNR {
		t.Fatalf("metrics differ: %+v vs %+v", rep1.Rows, rep0.Rows)
	}
	// all kept now: nothing sampled
	if rep, _, calls, err := run(cut, context.Background()); err != nil || rep.Reused != 7*2 || calls != 0 {
		t.Fatalf("second resume: %v, %d reused, %d calls", err, rep.Reused, calls)
	}
	// a damaged file is sampled again (and kept again)
	files, _ := filepath.Glob(filepath.Join(parts, "wide-*.safetensors"))
	if len(files) != 3 {
		t.Fatalf("wide parts %v", files)
	}
	if err := os.WriteFile(files[0], []byte("not safetensors"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rep, got, calls, err := run(cut, context.Background()); err != nil || rep.Reused != 7*2-3 || calls != 3 || got[masks.Wide][0] != results[masks.Wide][0] {
		t.Fatalf("damaged part: %v, %d reused, %d calls", err, rep.Reused, calls)
	}
	// another seed: every kept batch is stale
	other := cut
	other.Seed = 5
	if rep, got, calls, err := run(other, context.Background()); err != nil || rep.Reused != 0 || calls != 18 || !differ(got[masks.Box], results[masks.Box]) {
		t.Fatalf("other seed: %v, %d reused, %d calls", err, rep.Reused, calls)
	}
}

func differ(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return true
		}
	}
	return len(a) != len(b)
}
