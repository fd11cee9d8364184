package infer

import (
	"context"
	"fmt"
	"image"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/radinpaint/rad/internal/tensortest"
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/torch"
)

func TestTilePositionsAndWeights(t *testing.T) {
	for _, c := range []struct{ n, t, ov, mult int }{
		{40, 16, 4, 4}, {32, 16, 4, 4}, {100, 32, 8, 8}, {1000, 256, 64, 32}, {37, 10, 3, 1},
		{64, 16, 0, 8}, {48, 16, 12, 4}, {17, 16, 4, 4}, {30, 8, 8, 8}, {96, 8, 2, 4}, {16, 16, 4, 4},
		{30, 6, 2, 8}, {103, 24, 6, 8}, {5, 1, 0, 1},
	} {
		pos := tilePositions(c.n, c.t, c.ov, c.mult)
		if c.t < c.mult {
			c.mult = 1 // a tile below the multiple: any position
		}
		name := fmt.Sprintf("n %d, tile %d, overlap %d, multiple %d: %v", c.n, c.t, c.ov, c.mult, pos)
		if pos[0] != 0 || pos[len(pos)-1] != max(c.n-c.t, 0) {
			t.Fatalf("%s: want first 0, last %d", name, c.n-c.t)
		}
		for i := 1; i < len(pos); i++ {
			gap := pos[i] - pos[i-1]
			if gap <= 0 || gap > c.t {
				t.Fatalf("%s: gap %d", name, gap)
			}
			if pos[i]%c.mult != 0 && (i < len(pos)-1 || (c.n-c.t)%c.mult == 0) {
				t.Fatalf("%s: %d is not a multiple of %d", name, pos[i], c.mult)
			}
			if want := min(c.ov, c.t-c.mult); c.t-gap < want {
				t.Fatalf("%s: overlap %d < %d", name, c.t-gap, want)
			}
		}
		// per axis the weights of the tiles over a pixel sum to 1
		tt := min(c.t, c.n)
		w := blendWeights(c.n, tt, pos)
		sum := make([]float64, c.n)
		for i, p := range pos {
			for d, v := range w[i] {
				if v <= 0 || v > 1 {
					t.Fatalf("%s: weight %g", name, v)
				}
				sum[p+d] += float64(v)
			}
		}
		for x, v := range sum {
			if math.Abs(v-1) > 1e-6 {
				t.Fatalf("%s: weights at %d sum to %g", name, x, v)
			}
		}
	}
	// every small case: covered, first 0, last n - t, overlap as asked
	for n := 1; n <= 70; n++ {
		for tl := 1; tl <= n; tl++ {
			for ov := 0; ov <= tl; ov++ {
				for _, mult := range []int{1, 2, 4, 8} {
					pos := tilePositions(n, tl, ov, mult)
					me := mult
					if tl < mult {
						me = 1
					}
					if pos[0] != 0 || pos[len(pos)-1] != n-tl {
						t.Fatalf("n %d t %d ov %d mult %d: %v", n, tl, ov, mult, pos)
					}
					for i := 1; i < len(pos); i++ {
						if g := pos[i] - pos[i-1]; g <= 0 || tl-g < min(ov, tl-me) {
							t.Fatalf("n %d t %d ov %d mult %d: %v", n, tl, ov, mult, pos)
						}
					}
				}
			}
		}
	}
	// in 2-D: products of the axes' weights, summing to 1 at every pixel
	h, w, th, tw := 40, 56, 16, 24
	ys, xs := tilePositions(h, th, 6, 4), tilePositions(w, tw, 6, 4)
	wy, wx := blendWeights(h, th, ys), blendWeights(w, tw, xs)
	sum := make([]float64, h*w)
	for i, py := range ys {
		for j, px := range xs {
			for y := 0; y < th; y++ {
				for x := 0; x < tw; x++ {
					sum[(py+y)*w+px+x] += float64(wy[i][y] * wx[j][x])
				}
			}
		}
	}
	for i, v := range sum {
		if math.Abs(v-1) > 1e-6 {
			t.Fatalf("2-D weights at (%d,%d) sum to %g", i%w, i/w, v)
		}
	}
	// budgets: tiles within the budget, multiples of f, at least 2f
	for _, c := range []struct{ h, w, f, budget int }{{32, 40, 4, 256}, {512, 4096, 32, 1 << 20}, {64, 64, 8, 10}, {8, 4000, 8, 4096}} {
		th, tw, ov := tileLayout(c.h, c.w, c.f, c.budget)
		if th%c.f != 0 && th != c.h || tw%c.f != 0 && tw != c.w || ov%c.f != 0 || ov < c.f {
			t.Fatalf("layout %+v: %dx%d overlap %d", c, th, tw, ov)
		}
		if th*tw > max(c.budget, 4*c.f*c.f) {
			t.Fatalf("layout %+v: %dx%d above the budget", c, th, tw)
		}
	}
}

// pointwise is a 1x1-convolution model that also reads the timestep map
// pixel by pixel: tiling must not change its output beyond rounding.
type pointwise struct{ w *torch.Tensor }

func (p pointwise) Predict(s *torch.Scope, x *torch.Tensor, t Timesteps, _ *torch.Tensor) *torch.Tensor {
	out := s.Conv2d(x, p.w, nil, torch.ConvOpts{})
	if t.Map != nil {
		out = s.Add(out, s.MulScalar(t.Map, 0.001))
	}
	return out
}
func (p pointwise) LearnSigma() bool { return true }

func TestTiledDenoiser(t *testing.T) {
	live := torch.LiveTensors()
	s := torch.NewNoGradScope()
	g := torch.NewGenerator(5)
	x := s.Randn(g, torch.Float32, torch.CPU, 2, 3, 40, 56)
	tmap := s.MulScalar(s.Rand(g, torch.Float32, torch.CPU, 2, 1, 40, 56), 999)
	ts := Timesteps{Map: tmap}
	pw := pointwise{w: s.Randn(g, torch.Float32, torch.CPU, 6, 3, 1, 1)}
	want := pw.Predict(s, x, ts, nil)

	// one tile covers the input: exactly the inner model's output
	one := TiledDenoiser{Inner: pw, TileH: 64, TileW: 64, Overlap: 16, Multiple: 8}
	if n := one.Tiles(40, 56); n != 1 {
		t.Fatalf("%d tiles", n)
	}
	if d := tensortest.MaxAbsDiff(t, one.Predict(s, x, ts, nil), want); d != 0 {
		t.Fatalf("one tile differs by %g", d)
	}
	// a real split: 3 x 3 tiles, blended
	split := TiledDenoiser{Inner: pw, TileH: 16, TileW: 24, Overlap: 6, Multiple: 4}
	if n := split.Tiles(40, 56); n < 6 {
		t.Fatalf("only %d tiles", n)
	}
	got := split.Predict(s, x, ts, nil)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if d := tensortest.MaxAbsDiff(t, got, want); d > 1e-5 {
		t.Fatalf("tiled pointwise model differs by %g", d)
	}
	// scalar timesteps pass through
	sc := Timesteps{Scalar: s.Full(3, torch.Float32, torch.CPU, 2)}
	if d := tensortest.MaxAbsDiff(t, split.Predict(s, x, sc, nil), pw.Predict(s, x, sc, nil)); d > 1e-5 {
		t.Fatalf("scalar timesteps: %g", d)
	}
	// a mismatched map is an error naming both shapes
	split.Predict(s, x, Timesteps{Map: s.Narrow(tmap, 2, 0, 20)}, nil)
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "[2 1 20 56]") {
		t.Fatalf("mismatched map: %v", err)
	}
	s.ClearErr()

	// a real UNet: one covering tile is exactly the model; a split runs
	// every tile at one shape and blends to the input's size
	m, err := radmodel.NewRandom(tinyConfig(t), torch.CPU, torch.Float32, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	un := UNetDenoiser{Model: m}
	xs := s.Narrow(s.Narrow(x, 2, 0, 24), 3, 0, 32)
	tm := s.Narrow(s.Narrow(tmap, 2, 0, 24), 3, 0, 32)
	ref := un.Predict(s, xs, Timesteps{Map: tm}, nil)
	cover := TiledDenoiser{Inner: un, TileH: 24, TileW: 32, Multiple: 2}
	if d := tensortest.MaxAbsDiff(t, cover.Predict(s, xs, Timesteps{Map: tm}, nil), ref); d != 0 {
		t.Fatalf("covering tile differs from the model by %g", d)
	}
	var shapes sync.Map
	rec := recorder{inner: un, seen: func(x *torch.Tensor, _ Timesteps) { shapes.Store(fmt.Sprint(x.Shape()), true) }}
	tiled := TiledDenoiser{Inner: rec, TileH: 16, TileW: 16, Overlap: 4, Multiple: 2}
	out := tiled.Predict(s, xs, Timesteps{Map: tm}, nil)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	n := 0
	shapes.Range(func(k, _ any) bool { n++; return k == "[2 3 16 16]" })
	if n != 1 || fmt.Sprint(out.Shape()) != "[2 6 24 32]" {
		t.Fatalf("tile shapes %d, output %v", n, out.Shape())
	}
	g.Close()
	s.Close()
	m.Close()
	if l := torch.LiveTensors(); l != live {
		t.Fatalf("live tensors %d -> %d", live, l)
	}
}

// recorder shows a test every model call.
type recorder struct {
	inner Denoiser
	seen  func(x *torch.Tensor, t Timesteps)
}

func (r recorder) Predict(s *torch.Scope, x *torch.Tensor, t Timesteps, y *torch.Tensor) *torch.Tensor {
	r.seen(x, t)
	return r.inner.Predict(s, x, t, y)
}
func (r recorder) LearnSigma() bool { return r.inner.LearnSigma() }

func TestPadToMultiple(t *testing.T) {
	// 3 x 2, one channel, the pixel at (2,0) is a hole
	x := []float32{1, 2, 3, 4, 5, 6}
	m := []float32{0, 0, 1, 0, 0, 0}
	px, pm, pw, ph := padToMultiple(x, m, 1, 3, 2, 4)
	if pw != 4 || ph != 4 {
		t.Fatalf("padded to %dx%d", pw, ph)
	}
	mean := float32(1+2+4+5+6) / 5
	wantX := []float32{
		1, 2, 3, 2,
		4, 5, 6, 5,
		1, 2, mean, 2, // reflected row 0: (2,0) is a hole, never read
		4, 5, 6, 5,
	}
	wantM := []float32{0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for i := range wantX {
		if px[i] != wantX[i] || pm[i] != wantM[i] {
			t.Fatalf("padded %v mask %v, want %v %v", px, pm, wantX, wantM)
		}
	}
	if c := cropCHW(px, 1, 4, 4, 3, 2); fmt.Sprint(c) != fmt.Sprint(x) {
		t.Fatalf("crop %v", c)
	}
	// already a multiple: unchanged; a 1-pixel image reflects to itself
	if _, _, w, h := padToMultiple(x, m, 1, 3, 2, 1); w != 3 || h != 2 {
		t.Fatal("padded a multiple")
	}
	if px, _, _, _ := padToMultiple([]float32{7, 8}, []float32{0}, 2, 1, 1, 2); fmt.Sprint(px) != "[7 7 7 7 8 8 8 8]" {
		t.Fatalf("1x1: %v", px)
	}
	if w, h := workSize(495, 498, 128); w != 127 || h != 128 {
		t.Fatalf("work size %dx%d", w, h)
	}
	if w, h := workSize(37, 29, 0); w != 37 || h != 29 {
		t.Fatalf("work size %dx%d", w, h)
	}
}

// TestInpaintNative runs pub_a (downsampling factor 4) on a 37x29 image
// at its own size: the output has the input's size, known pixels are
// byte-exact, and the sampler sees the padding as known pixels that
// never move.
func TestInpaintNative(t *testing.T) {
	m := pubA(t)
	defer m.Close()
	ip := newInpainter(t, m)
	ctx := context.Background()
	img := randomImage(37, 29, 4)
	mask := boxMask(37, 29, 30, 20, 37, 29) // a hole at the corner the padding mirrors
	if r, _ := ip.Resolution(ResolutionAuto); r != ResolutionModel {
		t.Fatalf("pub_a has attention resolutions: auto is %q", r)
	}
	// what the sampler must see over the padding: the padded input, known
	x0, m0, pw, ph := padToMultiple(rgbaToCHW(img, 3), maskLevels(mask, false, false), 3, 37, 29, 4)
	if pw != 40 || ph != 32 {
		t.Fatalf("padded %dx%d", pw, ph)
	}
	calls := 0
	var bad error
	ip.den = recorder{inner: ip.den, seen: func(x *torch.Tensor, ts Timesteps) {
		calls++
		s := torch.NewNoGradScope()
		defer s.Close()
		if fmt.Sprint(x.Shape()) != "[1 3 32 40]" || ts.Map == nil || len(ts.Levels) != 2 {
			bad = fmt.Errorf("model input %v, levels %v", x.Shape(), ts.Levels)
			return
		}
		xv, _ := x.Float32s()
		tv, _ := ts.Map.Float32s()
		for y := 0; y < ph; y++ {
			for xx := 0; xx < pw; xx++ {
				i := y*pw + xx
				if y < 29 && xx < 37 {
					continue
				}
				if m0[i] != 0 || tv[i] != float32(ts.Levels[0]) {
					bad = fmt.Errorf("padding (%d,%d): mask %g, timestep %g, known level %g", xx, y, m0[i], tv[i], ts.Levels[0])
					return
				}
				for c := 0; c < 3; c++ {
					if xv[c*pw*ph+i] != x0[c*pw*ph+i] {
						bad = fmt.Errorf("padding (%d,%d) moved at call %d: %g, padded input %g", xx, y, calls, xv[c*pw*ph+i], x0[c*pw*ph+i])
						return
					}
				}
			}
		}
	}}
	out, st, err := ip.Inpaint(ctx, img, mask, Options{Seed: 2, Steps: 4, Resolution: ResolutionNative, Init: InitNoise}) // the padding check wants the binary levels
	if err != nil {
		t.Fatal(err)
	}
	if bad != nil {
		t.Fatal(bad)
	}
	if calls != 4 || st.Resolution != "native" || st.Resized || st.WorkWidth != 40 || st.WorkHeight != 32 || st.Tiles != 1 {
		t.Fatalf("calls %d, stats %+v", calls, st)
	}
	if out.Bounds() != image.Rect(0, 0, 37, 29) {
		t.Fatalf("output %v", out.Bounds())
	}
	if n := knownEqual(t, pngRoundTrip(t, out), img, mask); n < 30 {
		t.Fatalf("only %d hole pixels changed", n)
	}

	// tiled: 9 tiles of 16x16 per step, known pixels still exact
	calls = 0
	ip.den = recorder{inner: UNetDenoiser{Model: m}, seen: func(x *torch.Tensor, _ Timesteps) {
		calls++
		if fmt.Sprint(x.Shape()) != "[1 3 16 16]" {
			bad = fmt.Errorf("tile %v", x.Shape())
		}
	}}
	out, st, err = ip.Inpaint(ctx, img, mask, Options{Seed: 2, Steps: 3, Resolution: ResolutionNative, MaxTilePixels: 256})
	if err != nil {
		t.Fatal(err)
	}
	if bad != nil {
		t.Fatal(bad)
	}
	if st.Tiles != 9 || st.ModelCalls != 3 || calls != 27 {
		t.Fatalf("tiled: %d inner calls, stats %+v", calls, st)
	}
	knownEqual(t, pngRoundTrip(t, out), img, mask)
	ip.den = UNetDenoiser{Model: m}

	// max side: scaled to 16x13 (padded 16x16), pasted back at full size
	out, st, err = ip.Inpaint(ctx, img, mask, Options{Seed: 2, Steps: 3, Resolution: ResolutionNative, MaxSide: 16})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Resized || st.WorkWidth != 16 || st.WorkHeight != 16 || out.Bounds().Dx() != 37 {
		t.Fatalf("max side: %+v", st)
	}
	if n := knownEqual(t, pngRoundTrip(t, out), img, mask); n < 30 {
		t.Fatalf("max side: only %d hole pixels changed", n)
	}
	// model resolution (pub_a's default) still resizes to 32x32
	_, st, err = ip.Inpaint(ctx, img, mask, Options{Steps: 2, MaxSide: 16})
	if err != nil || st.Resolution != "model" || st.WorkWidth != 32 || !st.Resized {
		t.Fatalf("model resolution: %v %+v", err, st)
	}
	for _, o := range []Options{{Resolution: "huge"}, {MaxSide: -1}} {
		if _, _, err := ip.Inpaint(ctx, img, mask, o); err == nil {
			t.Fatalf("%+v accepted", o)
		}
	}
}

// TestInpaintNativeAuto: a model without attention resolutions runs at
// the image's size by default; batches group requests by size.
func TestInpaintNativeAuto(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.AttentionResolutions = nil
	m, err := radmodel.NewRandom(cfg, torch.CPU, torch.Float32, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if SizeBound(cfg) || !SizeBound(tinyConfig(t)) || DownsamplingFactor(cfg) != 2 {
		t.Fatal("SizeBound / DownsamplingFactor")
	}
	ip, err := New(Config{Model: m, MaxBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	ctx := context.Background()
	sizes := [][2]int{{21, 13}, {21, 13}, {8, 30}}
	var wg sync.WaitGroup
	errs := make([]error, len(sizes))
	stats := make([]*Stats, len(sizes))
	outs := make([]*image.RGBA, len(sizes))
	for i, sz := range sizes {
		wg.Add(1)
		go func(i, w, h int) {
			defer wg.Done()
			outs[i], stats[i], errs[i] = ip.Inpaint(ctx, randomImage(w, h, uint64(i)), boxMask(w, h, 2, 3, w-2, h-4),
				Options{Seed: uint64(i), Steps: 3})
		}(i, sz[0], sz[1])
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		st := stats[i]
		w, h := sizes[i][0], sizes[i][1]
		if outs[i].Bounds() != image.Rect(0, 0, w, h) {
			t.Fatalf("%dx%d: output %v", w, h, outs[i].Bounds())
		}
		knownEqual(t, outs[i], randomImage(w, h, uint64(i)), boxMask(w, h, 2, 3, w-2, h-4))
		if st.Resolution != "native" || st.WorkWidth != (w+1)/2*2 || st.WorkHeight != (h+1)/2*2 || st.Resized {
			t.Fatalf("%dx%d: %+v", w, h, st)
		}
	}
	if stats[2].BatchSize != 1 {
		t.Fatalf("an 8x30 image shared a batch with 21x13 ones: %+v", stats[2])
	}
}

// TestSizeBoundMetadata: the model's saved resolution note decides the
// auto resolution before the attention rule; a model with attention
// resolutions noted "native" runs at the image's own size.
func TestSizeBoundMetadata(t *testing.T) {
	for _, c := range []struct {
		note string
		attn []int
		want bool
	}{
		{"", nil, false}, {"", []int{2}, true},
		{radmodel.SizeNative, []int{2}, false}, {radmodel.SizeNative, nil, false},
		{radmodel.SizeModel, nil, true}, {radmodel.SizeModel, []int{2}, true},
	} {
		cfg := tinyConfig(t)
		cfg.AttentionResolutions, cfg.Resolution = c.attn, c.note
		if got := SizeBound(cfg); got != c.want {
			t.Errorf("SizeBound(attention %v, note %q) = %v, want %v", c.attn, c.note, got, c.want)
		}
	}
	cfg := tinyConfig(t) // attention at ds 2: size-bound without the note
	cfg.Resolution = radmodel.SizeNative
	m, err := radmodel.NewRandom(cfg, torch.CPU, torch.Float32, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ip, err := New(Config{Model: m, MaxBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	w, h := 21, 13
	img, mask := randomImage(w, h, 1), boxMask(w, h, 2, 3, w-2, h-4)
	out, st, err := ip.Inpaint(context.Background(), img, mask, Options{Seed: 1, Steps: 2})
	if err != nil {
		t.Fatal(err)
	}
	knownEqual(t, out, img, mask)
	if st.Resolution != "native" || st.WorkWidth != 22 || st.WorkHeight != 14 || st.Resized {
		t.Fatalf("a model noted native ran %+v", st)
	}
	// forcing the model's size still works
	if _, st, err = ip.Inpaint(context.Background(), img, mask, Options{Seed: 1, Steps: 2, Resolution: ResolutionModel}); err != nil || st.Resolution != "model" {
		t.Fatalf("forced model resolution: %v %+v", err, st)
	}
}
