package infer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/radinpaint/rad/internal/tensortest"
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
)

const fixtures = "../testdata/adm"

// fixedModel returns a stored model output whatever its input.
type fixedModel struct{ out *torch.Tensor }

func (f fixedModel) Predict(s *torch.Scope, x *torch.Tensor, _ Timesteps, _ *torch.Tensor) *torch.Tensor {
	return s.Clone(f.out)
}
func (f fixedModel) LearnSigma() bool { return f.out.Size(1) == 6 }

// TestOneStepMatchesGuidedDiffusion: with m = 1 everywhere, one RAD
// ancestral step and one DDIM step equal guided-diffusion's p_sample and
// ddim_sample given their noise (scalar and spatial embedding alike).
func TestOneStepMatchesGuidedDiffusion(t *testing.T) {
	s := torch.NewNoGradScope()
	defer s.Close()
	ref, err := torch.LoadPT(s, filepath.Join(fixtures, "diffusion.pt"))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := diffusion.NewNamedBase("linear", 1000)
	for _, chain := range []struct{ name, respacing string }{{"full", "1000"}, {"r100", "100"}} {
		for _, spatial := range []bool{false, true} {
			p, err := NewProcess(base, chain.respacing, 0)
			if err != nil {
				t.Fatal(err)
			}
			p.Spatial = spatial
			ts, _ := ref.Get(chain.name + "/pmv/t").Int64s()
			for i, k := range ts {
				row := func(key string) *torch.Tensor { return s.Narrow(ref.Get(key), 0, int64(i), 1) }
				x := row(chain.name + "/pmv/x")
				ones := s.Ones(torch.Float32, torch.CPU, 1, 1, 32, 32)
				model := fixedModel{row(chain.name + "/pmv/model_output")}
				next, _, err := p.Step(s, model, x, ones, int(k), row(chain.name+"/p_sample/noise"), SampleOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if d := tensortest.MaxAbsDiff(t, next, row(chain.name+"/p_sample/sample")); d > 1e-5 {
					t.Fatalf("%s spatial=%v sample %d: p_sample differs by %g", chain.name, spatial, i, d)
				}
				if chain.name != "r100" {
					continue
				}
				for _, eta := range []float64{0, 1} {
					key := fmt.Sprintf("r100/ddim_eta%d/", int(eta))
					p.DDIM, p.Eta = true, eta
					next, pred, err := p.Step(s, model, x, ones, int(k), row(key+"noise"), SampleOptions{})
					p.DDIM = false
					if err != nil {
						t.Fatal(err)
					}
					if d := tensortest.MaxAbsDiff(t, next, row(key+"sample")); d > 1e-5 {
						t.Fatalf("ddim eta %g sample %d differs by %g", eta, i, d)
					}
					if d := tensortest.MaxAbsDiff(t, pred, row(key+"pred_xstart")); d > 1e-5 {
						t.Fatalf("ddim eta %g pred_xstart %d differs by %g", eta, i, d)
					}
				}
			}
		}
	}
}

// zeroModel predicts zero noise and mid variance: cheap, counts calls.
type zeroModel struct{ sigma bool }

func (z zeroModel) Predict(s *torch.Scope, x *torch.Tensor, _ Timesteps, _ *torch.Tensor) *torch.Tensor {
	if z.sigma {
		return s.Cat(1, s.ZerosLike(x), s.ZerosLike(x))
	}
	return s.ZerosLike(x)
}
func (z zeroModel) LearnSigma() bool { return z.sigma }

func TestModelCallCounts(t *testing.T) {
	if n := RePaintCalls(250, 10, 10); n != 2410 {
		t.Fatalf("RePaint schedule has %d reverse steps, want 2410", n)
	}
	base, _ := diffusion.NewNamedBase("linear", 1000)
	s := torch.NewNoGradScope()
	defer s.Close()
	g := torch.NewGenerator(1)
	defer g.Close()
	x0 := s.Zeros(torch.Float32, torch.CPU, 1, 3, 8, 8)
	m := s.Zeros(torch.Float32, torch.CPU, 1, 1, 8, 8)
	s.Narrow(m, 2, 2, 4).Fill(1)
	var calls atomic.Int64
	out, err := RePaintSample(context.Background(), s, zeroModel{true}, x0, m, base, DefaultRePaint, g, SampleOptions{Calls: &calls})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2410 {
		t.Fatalf("RePaint made %d model calls, want 2410", calls.Load())
	}
	known := s.LeScalar(s.Expand(m, 1, 3, 8, 8), 0)
	if d := tensortest.MaxAbsDiff(t, s.MaskedSelect(out, known), s.MaskedSelect(x0, known)); d != 0 {
		t.Fatalf("RePaint changed known pixels by %g", d)
	}
	calls.Store(0)
	p, _ := NewProcess(base, "100", 0)
	if _, err := p.Sample(context.Background(), s, zeroModel{true}, x0, m, g, SampleOptions{Calls: &calls}); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 100 {
		t.Fatalf("RAD made %d model calls, want 100", calls.Load())
	}
}

// tinyConfig is a small ADM for fast sampler tests.
func tinyConfig(t *testing.T) radmodel.Config {
	c, err := radmodel.ConfigFromFlags("--image_size 16 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2 --attention_resolutions 8 --num_head_channels 32 --learn_sigma True")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newInpainter(t *testing.T, m *radmodel.UNet) *Inpainter {
	t.Helper()
	ip, err := New(Config{Model: m})
	if err != nil {
		t.Fatal(err)
	}
	return ip
}

func pubA(t *testing.T) *radmodel.UNet { t.Helper(); return pubAOn(t, torch.CPU) }

// pubAOn loads the fixture pub_a on dev.
func pubAOn(t *testing.T, dev torch.Device) *radmodel.UNet {
	t.Helper()
	cfg, err := radmodel.ConfigFromJSON(filepath.Join(fixtures, "pub_a.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := radmodel.Load(filepath.Join(fixtures, "pub_a.pt"), cfg, dev, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func randomImage(w, h int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 1))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	return img
}

func boxMask(w, h, x0, y0, x1, y1 int) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			m.SetGray(x, y, color.Gray{255})
		}
	}
	return m
}

func pngRoundTrip(t *testing.T, img image.Image) image.Image {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	out, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// knownEqual checks every pixel outside the mask equals the original.
func knownEqual(t *testing.T, got image.Image, orig *image.RGBA, mask *image.Gray) (changedHole int) {
	t.Helper()
	b := orig.Bounds()
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			g := color.RGBAModel.Convert(got.At(x, y)).(color.RGBA)
			o := orig.RGBAAt(x, y)
			if mask.GrayAt(x, y).Y < 128 {
				if g != o {
					t.Fatalf("known pixel (%d,%d) is %v, input %v", x, y, g, o)
				}
			} else if g != o {
				changedHole++
			}
		}
	}
	return changedHole
}

// TestInpaintKnownRegionAndSeeds uses the public fixture pub_a as a
// random-weight model: the known region survives a PNG round trip bit for
// bit, the same seed gives the same output and another seed another.
func TestInpaintKnownRegionAndSeeds(t *testing.T) {
	m := pubA(t)
	defer m.Close()
	ip := newInpainter(t, m)
	img := randomImage(32, 32, 1)
	mask := boxMask(32, 32, 8, 8, 24, 20)
	out, st, err := ip.Inpaint(context.Background(), img, mask, Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	// the default start is guided: DefaultGuidedSteps; from noise: DefaultSteps
	if st.ModelCalls != DefaultGuidedSteps || st.Steps != DefaultGuidedSteps || st.Sampler != "rad" || st.Init != string(DefaultInit) {
		t.Fatalf("stats %+v", st)
	}
	if _, st, err := ip.Inpaint(context.Background(), img, mask, Options{Seed: 7, Init: InitNoise}); err != nil ||
		st.ModelCalls != DefaultSteps || st.Steps != DefaultSteps {
		t.Fatalf("noise start: %v, stats %+v", err, st)
	}
	if _, st, err := ip.Inpaint(context.Background(), img, mask, Options{Seed: 7, Steps: 7}); err != nil || st.ModelCalls != 7 {
		t.Fatalf("7 steps: %v, stats %+v", err, st)
	}
	if n := knownEqual(t, pngRoundTrip(t, out), img, mask); n < 100 {
		t.Fatalf("only %d hole pixels changed", n)
	}
	a, _, _ := ip.Inpaint(context.Background(), img, mask, Options{Seed: 7, Steps: 10})
	b, _, _ := ip.Inpaint(context.Background(), img, mask, Options{Seed: 7, Steps: 10})
	c, _, _ := ip.Inpaint(context.Background(), img, mask, Options{Seed: 8, Steps: 10})
	if !bytes.Equal(a.Pix, b.Pix) {
		t.Fatal("same seed, different outputs")
	}
	if bytes.Equal(a.Pix, c.Pix) {
		t.Fatal("different seeds, same output")
	}
	for _, k := range []Kind{RADDDIM, RePaint} {
		o := Options{Seed: 3, Sampler: k, Steps: 10}
		if k == RePaint {
			o.RePaint = RePaintOpts{Respacing: "20", JumpLength: 5, JumpNSample: 2}
		}
		out, st, err := ip.Inpaint(context.Background(), img, mask, o)
		if err != nil {
			t.Fatal(err)
		}
		knownEqual(t, pngRoundTrip(t, out), img, mask)
		if k == RePaint && st.ModelCalls != int64(RePaintCalls(20, 5, 2)) {
			t.Fatalf("repaint calls %d", st.ModelCalls)
		}
	}
}

func TestInpaintSizesAndEdgeCases(t *testing.T) {
	m, err := radmodel.NewRandom(tinyConfig(t), torch.CPU, torch.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ip := newInpainter(t, m)
	ctx := context.Background()
	// another size: resized to 16x16 and back, known region exact
	img := randomImage(40, 24, 2)
	mask := boxMask(40, 24, 5, 3, 30, 15)
	out, st, err := ip.Inpaint(ctx, img, mask, Options{Steps: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Resized || out.Bounds().Dx() != 40 || out.Bounds().Dy() != 24 {
		t.Fatalf("resized output %v, stats %+v", out.Bounds(), st)
	}
	knownEqual(t, pngRoundTrip(t, out), img, mask)
	// empty mask: input back, no model call
	empty := image.NewGray(image.Rect(0, 0, 40, 24))
	out, st, err = ip.Inpaint(ctx, img, empty, Options{})
	if err != nil || st.ModelCalls != 0 || !bytes.Equal(out.Pix, img.Pix) {
		t.Fatalf("empty mask: %v, %+v", err, st)
	}
	// inverted mask (RePaint's 255 = keep): the empty mask becomes all hole
	_, st, err = ip.Inpaint(ctx, img, empty, Options{InvertMask: true, Steps: 3})
	if err != nil || st.HoleFraction != 1 || st.ModelCalls != 3 {
		t.Fatalf("all-hole: %v %+v", err, st)
	}
	// a colour mask with alpha counts by luminance
	cm := image.NewNRGBA(image.Rect(0, 0, 40, 24))
	cm.SetNRGBA(1, 1, color.NRGBA{255, 255, 255, 255})
	_, st, err = ip.Inpaint(ctx, img, cm, Options{Steps: 2})
	if err != nil || st.HoleFraction != 1.0/(40*24) {
		t.Fatalf("colour mask: %v %+v", err, st)
	}
	// errors
	if _, _, err := ip.Inpaint(ctx, img, boxMask(10, 10, 0, 0, 5, 5), Options{}); err == nil || !strings.Contains(err.Error(), "mask is 10x10") {
		t.Fatalf("size mismatch: %v", err)
	}
	if _, _, err := ip.Inpaint(ctx, img, mask, Options{Steps: 5000}); err == nil || !strings.Contains(err.Error(), "1000") {
		t.Fatalf("steps beyond the chain: %v", err)
	}
	if _, _, err := ip.Inpaint(ctx, img, mask, Options{Sampler: "magic"}); err == nil {
		t.Fatal("unknown sampler accepted")
	}
}

func TestInpaintConcurrentCancelAndMemory(t *testing.T) {
	m, err := radmodel.NewRandom(tinyConfig(t), torch.CPU, torch.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ip := newInpainter(t, m)
	ctx := context.Background()
	img := randomImage(16, 16, 3)
	mask := boxMask(16, 16, 4, 4, 12, 12)
	// 8 goroutines share the Inpainter: same results as serial calls
	serial := make([][]byte, 8)
	for i := range serial {
		out, _, err := ip.Inpaint(ctx, img, mask, Options{Seed: uint64(i), Steps: 8})
		if err != nil {
			t.Fatal(err)
		}
		serial[i] = out.Pix
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out, _, err := ip.Inpaint(ctx, img, mask, Options{Seed: uint64(i), Steps: 8})
			if err == nil && !bytes.Equal(out.Pix, serial[i]) {
				err = fmt.Errorf("goroutine %d differs from the serial call", i)
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// a cancelled context stops within one step
	cctx, cancel := context.WithCancel(ctx)
	seen := 0
	_, _, err = ip.Inpaint(cctx, img, mask, Options{Steps: 50, Progress: func(i, total int) {
		seen = i
		if i == 3 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || seen != 3 {
		t.Fatalf("cancel: %v after %d steps", err, seen)
	}
	// RSS and live tensors flat over 200 calls
	live := torch.LiveTensors()
	rss := func() int64 {
		b, _ := os.ReadFile("/proc/self/statm")
		f := strings.Fields(string(b))
		p, _ := strconv.ParseInt(f[1], 10, 64)
		return p * int64(os.Getpagesize())
	}
	for i := 0; i < 20; i++ {
		ip.Inpaint(ctx, img, mask, Options{Seed: uint64(i), Steps: 2})
	}
	before := rss()
	for i := 0; i < 200; i++ {
		if _, _, err := ip.Inpaint(ctx, img, mask, Options{Seed: uint64(i), Steps: 2}); err != nil {
			t.Fatal(err)
		}
	}
	after := rss()
	if torch.LiveTensors() != live {
		t.Fatalf("live tensors %d -> %d", live, torch.LiveTensors())
	}
	if after-before > 32<<20 {
		t.Fatalf("RSS grew %d MiB over 200 calls", (after-before)>>20)
	}
	t.Logf("RSS %d -> %d MiB over 200 calls", before>>20, after>>20)
}

func TestJumpSchedule(t *testing.T) {
	ts := JumpSchedule(20, 5, 2)
	if ts[0] != 19 || ts[len(ts)-1] != -1 {
		t.Fatalf("schedule %v", ts)
	}
	up := 0
	for i := 0; i+1 < len(ts); i++ {
		if ts[i+1] > ts[i] {
			up++
		}
		if d := ts[i+1] - ts[i]; math.Abs(float64(d)) != 1 {
			t.Fatalf("step of %d in %v", d, ts)
		}
	}
	if up != 15 { // jumps at 0, 5, 10: one resampling each of 5 steps
		t.Fatalf("%d forward steps in %v", up, ts)
	}
}

// TestInpaintBatching: concurrent calls share batched forwards (fewer model
// calls), each keeps its own seed's noise, so results match the unbatched
// ones up to float rounding, and the known region stays exact.
func TestInpaintBatching(t *testing.T) {
	m, err := radmodel.NewRandom(tinyConfig(t), torch.CPU, torch.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	serial := newInpainter(t, m)
	batched, err := New(Config{Model: m, MaxBatch: 4, BatchWindow: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer batched.Close()
	ctx := context.Background()
	img := randomImage(16, 16, 3)
	mask := boxMask(16, 16, 4, 4, 12, 12)
	want := make([][]byte, 8)
	for i := range want {
		out, _, err := serial.Inpaint(ctx, img, mask, Options{Seed: uint64(i), Steps: 6})
		if err != nil {
			t.Fatal(err)
		}
		want[i] = out.Pix
	}
	var wg sync.WaitGroup
	got := make([]*image.RGBA, 8)
	stats := make([]*Stats, 8)
	errs := make([]error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			got[i], stats[i], errs[i] = batched.Inpaint(ctx, img, mask, Options{Seed: uint64(i), Steps: 6})
		}(i)
	}
	wg.Wait()
	maxBatch := 0
	for i := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		knownEqual(t, got[i], img, mask)
		maxBatch = max(maxBatch, stats[i].BatchSize)
		for j := range got[i].Pix {
			d := int(got[i].Pix[j]) - int(want[i][j])
			if d > 2 || d < -2 {
				t.Fatalf("request %d: byte %d is %d batched, %d alone", i, j, got[i].Pix[j], want[i][j])
			}
		}
	}
	if maxBatch < 2 || batched.ModelCalls() >= 8*6 {
		t.Fatalf("no batching: largest batch %d, %d model calls for 8 requests of 6 steps", maxBatch, batched.ModelCalls())
	}
	t.Logf("8 requests: %d model calls, largest batch %d", batched.ModelCalls(), maxBatch)
}

// TestBatchCancelOne: cancelling one call of a batch returns that call at
// once with its context's error; the others of the batch finish and equal
// their results from a batch nobody left (up to float rounding).
func TestBatchCancelOne(t *testing.T) {
	m, err := radmodel.NewRandom(tinyConfig(t), torch.CPU, torch.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	img := randomImage(16, 16, 3)
	mask := boxMask(16, 16, 4, 4, 12, 12)
	run := func(cancelFirst bool) ([]*image.RGBA, []error, time.Duration) {
		ip, err := New(Config{Model: m, MaxBatch: 3, BatchWindow: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer ip.Close()
		outs := make([]*image.RGBA, 3)
		errs := make([]error, 3)
		var took time.Duration
		ctx0, cancel := context.WithCancel(context.Background())
		defer cancel()
		var once sync.Once
		var wg sync.WaitGroup
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				ctx, o := context.Background(), Options{Seed: uint64(i), Steps: 40}
				if i == 0 {
					ctx = ctx0
					if cancelFirst {
						o.Progress = func(k, _ int) {
							if k == 5 {
								once.Do(cancel)
							}
						}
					}
				}
				start := time.Now()
				outs[i], _, errs[i] = ip.Inpaint(ctx, img, mask, o)
				if i == 0 {
					took = time.Since(start)
				}
			}(i)
		}
		wg.Wait()
		return outs, errs, took
	}
	want, errs, full := run(false)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, errs, took := run(true)
	if !errors.Is(errs[0], context.Canceled) || got[0] != nil {
		t.Fatalf("cancelled call: %v", errs[0])
	}
	if took > full*3/4 {
		t.Fatalf("cancelled call returned after %v, a whole batch takes %v", took, full)
	}
	for i := 1; i < 3; i++ {
		if errs[i] != nil {
			t.Fatalf("call %d of the batch: %v", i, errs[i])
		}
		knownEqual(t, got[i], img, mask)
		for j := range got[i].Pix {
			if d := int(got[i].Pix[j]) - int(want[i].Pix[j]); d > 2 || d < -2 {
				t.Fatalf("call %d: byte %d is %d, %d without the cancel", i, j, got[i].Pix[j], want[i].Pix[j])
			}
		}
	}
}

// TestPreview: Options.Preview sees every PreviewEvery-th step and the
// last, at the working size scaled down to PreviewSide (native mode here:
// a 40 x 24 image, previews 20 x 12), with the input's pixels outside the
// hole; the result is the one without previews.
func TestPreview(t *testing.T) {
	m, err := radmodel.NewRandom(tinyConfig(t), torch.CPU, torch.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ip := newInpainter(t, m)
	img := randomImage(40, 24, 3)
	mask := boxMask(40, 24, 10, 4, 30, 20)
	o := Options{Seed: 2, Steps: 12, Resolution: ResolutionNative}
	want, _, err := ip.Inpaint(context.Background(), img, mask, o)
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	var last *image.RGBA
	o.PreviewEvery, o.PreviewSide = 5, 20
	o.Preview = func(i, total int, p *image.RGBA) {
		if total != 12 || p.Rect.Dx() != 20 || p.Rect.Dy() != 12 {
			t.Errorf("preview at %d of %d is %v", i, total, p.Rect)
		}
		steps = append(steps, i)
		last = p
	}
	got, _, err := ip.Inpaint(context.Background(), img, mask, o)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(steps) != "[5 10 12]" {
		t.Fatalf("previews at steps %v, want [5 10 12]", steps)
	}
	if !bytes.Equal(got.Pix, want.Pix) {
		t.Fatal("previews changed the result")
	}
	// a known corner of the last preview is the input's, scaled alike
	c, in := last.RGBAAt(0, 0), resizeRGBA(img, 20, 12).RGBAAt(0, 0)
	if d := int(c.R) - int(in.R); d > 2 || d < -2 {
		t.Fatalf("preview corner %v, the scaled input's %v", c, in)
	}
}

// TestInpaintAverage: Options.Average K is the mean of the K samples of
// seeds Seed..Seed+K-1 (each as a single call makes it), run as one batch
// without a batcher and as ceil(K/MaxBatch) batches with one.
func TestInpaintAverage(t *testing.T) {
	m := pubA(t)
	defer m.Close()
	serial := newInpainter(t, m)
	batched, err := New(Config{Model: m, MaxBatch: 2, BatchWindow: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer batched.Close()
	ctx := context.Background()
	img := randomImage(32, 32, 4)
	mask := boxMask(32, 32, 6, 6, 26, 22)
	var singles [][]byte
	for k := uint64(0); k < 3; k++ {
		out, _, err := serial.Inpaint(ctx, img, mask, Options{Seed: 5 + k, Steps: 6})
		if err != nil {
			t.Fatal(err)
		}
		singles = append(singles, out.Pix)
	}
	for _, tc := range []struct {
		name  string
		ip    *Inpainter
		calls int64
	}{{"one batch", serial, 6}, {"batches of 2", batched, 12}} {
		out, st, err := tc.ip.Inpaint(ctx, img, mask, Options{Seed: 5, Steps: 6, Average: 3})
		if err != nil {
			t.Fatal(err)
		}
		if st.Samples != 3 || st.ModelCalls != tc.calls {
			t.Fatalf("%s: %d samples, %d model calls (want 3, %d)", tc.name, st.Samples, st.ModelCalls, tc.calls)
		}
		knownEqual(t, out, img, mask)
		var far, differs int
		for j, v := range out.Pix {
			mean := float64(int(singles[0][j])+int(singles[1][j])+int(singles[2][j])) / 3
			if d := float64(v) - mean; d > 2.5 || d < -2.5 {
				far++
			}
			if v != singles[0][j] {
				differs++
			}
		}
		if far > 0 || differs < 100 {
			t.Fatalf("%s: %d bytes off the mean of the 3 samples, %d differ from the first sample", tc.name, far, differs)
		}
	}
	if _, _, err := serial.Inpaint(ctx, img, mask, Options{Average: -1}); err == nil || !strings.Contains(err.Error(), "average") {
		t.Fatalf("average -1: %v", err)
	}
}
