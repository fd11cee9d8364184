package infer

import (
	"context"
	"image"
	"math"
	"testing"

	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/torch"
)

// TestHarmonicFill: the membrane fill of a box hole in a linear gradient
// (a harmonic function) is the gradient itself; known pixels are kept, and
// whatever lies under the hole does not change the fill.
func TestHarmonicFill(t *testing.T) {
	const w, h, c = 96, 80, 2
	x := make([]float32, c*w*h)
	known := make([]bool, w*h)
	for y := 0; y < h; y++ {
		for xx := 0; xx < w; xx++ {
			i := y*w + xx
			x[i] = float32(0.01*float64(xx) - 0.005*float64(y))
			x[w*h+i] = float32(-0.5 + 0.008*float64(y))
			known[i] = !(xx >= 20 && xx < 70 && y >= 15 && y < 60)
		}
	}
	want := append([]float32(nil), x...)
	for i, k := range known {
		if !k {
			x[i], x[w*h+i] = 9, -9 // content under the hole: never read
		}
	}
	got := harmonicFill(x, known, c, w, h)
	worst := 0.0
	for i := range got {
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
		if known[i%(w*h)] && got[i] != x[i] {
			t.Fatalf("known value %d moved", i)
		}
	}
	if worst > 0.01 {
		t.Errorf("membrane fill of a gradient off by %g", worst)
	}
	none := harmonicFill(x, make([]bool, w*h), c, w, h)
	for _, v := range none {
		if v != 0 {
			t.Fatal("without known pixels the fill is not 0")
		}
	}
}

// TestDistanceAndGuidedStart: chamfer distances are close to Euclidean;
// a guided start's levels lie in [lo, hi], take at most guideLevels values,
// grow with the distance from the known region, and leave known pixels
// and their levels alone.
func TestDistanceAndGuidedStart(t *testing.T) {
	const w, h = 40, 30
	known := make([]bool, w*h)
	known[0] = true
	d := distanceToKnown(known, w, h)
	for _, p := range [][2]int{{39, 0}, {0, 29}, {39, 29}, {20, 10}} {
		e := math.Hypot(float64(p[0]), float64(p[1]))
		if got := d[p[1]*w+p[0]]; math.Abs(got-e) > 0.09*e {
			t.Errorf("distance to (%d,%d) %.2f, Euclidean %.2f", p[0], p[1], got, e)
		}
	}
	m := make([]float32, w*h)
	x := make([]float32, w*h)
	guess := make([]float32, w*h)
	for i := range m {
		if xx, y := i%w, i/w; xx >= 5 && xx < 35 && y >= 5 && y < 25 {
			m[i] = 1
		}
		x[i], guess[i] = 0.25, -0.5
	}
	gx, gm := guidedStart(x, m, guess, 1, w, h, 0.2, 0.5, 8)
	levels := map[float32]bool{}
	for i := range m {
		if m[i] == 0 {
			if gm[i] != 0 || gx[i] != 0.25 {
				t.Fatalf("known pixel %d: level %g value %g", i, gm[i], gx[i])
			}
			continue
		}
		levels[gm[i]] = true
		if gm[i] < 0.2-1e-6 || gm[i] > 0.5+1e-6 || gx[i] != -0.5 {
			t.Fatalf("hole pixel %d: level %g value %g", i, gm[i], gx[i])
		}
	}
	if len(levels) > guideLevels || len(levels) < 2 {
		t.Errorf("%d distinct levels, want 2..%d", len(levels), guideLevels)
	}
	if border, centre := gm[5*w+5], gm[15*w+20]; !(border < centre) {
		t.Errorf("level at the border %g, at the centre %g: want growing with distance", border, centre)
	}
	if got := maxHoleDistance(m, w, h); math.Abs(got-10) > 1.01 {
		t.Errorf("largest hole distance %g, want about 10", got)
	}
}

// TestGuidedStartsAndCoarseToFine runs a fully convolutional random model
// in native resolution: a harmonic start and coarse-to-fine keep the
// known pixels byte for byte, never read the content under the hole,
// count the coarser level's model calls, and run the levels asked for.
func TestGuidedStartsAndCoarseToFine(t *testing.T) {
	cfg, err := radmodel.ConfigFromFlags("--image_size 16 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2 --attention_resolutions \"\" --learn_sigma True")
	if err != nil {
		t.Fatal(err)
	}
	m, err := radmodel.NewRandom(cfg, torch.CPU, torch.Float32, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ip := newInpainter(t, m)
	defer ip.Close()
	ctx := context.Background()
	img := randomImage(40, 36, 3)
	mask := boxMask(40, 36, 6, 8, 34, 30)
	other := image.NewRGBA(img.Bounds())
	copy(other.Pix, img.Pix)
	for y := 8; y < 30; y++ {
		for x := 6; x < 34; x++ {
			other.Pix[other.PixOffset(x, y)] ^= 0xff
		}
	}
	// auto starts coarse-to-fine only with an explicit CoarseReach, even
	// for a hole far wider than the model's training size
	big, bigMask := randomImage(80, 72, 3), boxMask(80, 72, 8, 8, 72, 64)
	for _, tc := range []struct {
		reach  float64
		levels int
	}{{0, 1}, {16, 2}} { // 28 px at 80 x 72, 14 at 40 x 36
		_, st, err := ip.Inpaint(ctx, big, bigMask, Options{Steps: 3, Seed: 1, Resolution: ResolutionNative, CoarseReach: tc.reach})
		if err != nil || st.Levels != tc.levels {
			t.Errorf("auto, reach %g: %v, %d levels (want %d)", tc.reach, err, st.Levels, tc.levels)
		}
	}
	// default steps: a noise start takes DefaultSteps, a guided one
	// DefaultGuidedSteps, and coarse-to-fine's finer levels start guided
	for _, tc := range []struct {
		o     Options
		calls int64
	}{
		{Options{Init: InitNoise, CoarseToFine: SwitchOff}, DefaultSteps},
		{Options{Init: InitEdges, CoarseToFine: SwitchOff}, DefaultGuidedSteps},
		{Options{Init: InitNoise, CoarseToFine: SwitchOn}, DefaultSteps + 2*DefaultGuidedSteps},
	} {
		tc.o.Seed, tc.o.Resolution = 4, ResolutionNative
		_, st, err := ip.Inpaint(ctx, img, mask, tc.o)
		if err != nil || st.ModelCalls != tc.calls || st.Steps != tc.o.SamplingSteps() && tc.o.CoarseToFine == SwitchOff {
			t.Errorf("%+v: %v, %d calls (want %d), %d steps", tc.o, err, st.ModelCalls, tc.calls, st.Steps)
		}
	}
	for _, tc := range []struct {
		name   string
		o      Options
		levels int
	}{
		{"harmonic", Options{Init: InitHarmonic, CoarseToFine: SwitchOff}, 1},
		{"edges", Options{Init: InitEdges, CoarseToFine: SwitchOff}, 1},
		// 40x36 -> 20x18 -> 10x9 (not below half the model's 16)
		{"coarse on", Options{CoarseToFine: SwitchOn}, 3},
		{"coarse auto", Options{}, 1}, // without CoarseReach auto never starts
		{"coarse auto, reach 4", Options{CoarseReach: 4}, 3},
		{"coarse auto, reach 8", Options{CoarseReach: 8}, 2}, // 11 px, then 5.5
		{"coarse auto, long reach", Options{CoarseReach: 30}, 1},
		{"coarse off", Options{CoarseToFine: SwitchOff}, 1},
	} {
		tc.o.Steps, tc.o.Seed, tc.o.Resolution = 10, 4, ResolutionNative
		out, st, err := ip.Inpaint(ctx, img, mask, tc.o)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if changed := knownEqual(t, out, img, mask); changed == 0 {
			t.Errorf("%s: the hole did not change", tc.name)
		}
		if st.Levels != tc.levels || st.ModelCalls != int64(10*tc.levels) {
			t.Errorf("%s: %d levels, %d model calls; want %d and %d", tc.name, st.Levels, st.ModelCalls, tc.levels, 10*tc.levels)
		}
		out2, _, err := ip.Inpaint(ctx, other, mask, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		same := true
		for y := 8; y < 30; y++ {
			for x := 6; x < 34; x++ {
				same = same && out.RGBAAt(x, y) == out2.RGBAAt(x, y)
			}
		}
		if !same {
			t.Errorf("%s: the fill depends on the content under the hole", tc.name)
		}
	}
	for _, bad := range []Options{{Init: "blur"}, {CoarseToFine: "maybe"}, {InitStrength: 1.5}, {RefineStrength: -0.1}, {CoarseReach: -1}} {
		if _, _, err := ip.Inpaint(ctx, img, mask, bad); err == nil {
			t.Errorf("options %+v: no error", bad)
		}
	}
}

func BenchmarkHarmonicFill256(b *testing.B) {
	const w, h, c = 256, 256, 3
	x := make([]float32, c*w*h)
	known := make([]bool, w*h)
	for i := range known {
		known[i] = !(i%w >= 64 && i%w < 192 && i/w >= 64 && i/w < 192)
		x[i] = float32(i%w) / w
	}
	for i := 0; i < b.N; i++ {
		harmonicFill(x, known, c, w, h)
	}
}

// TestCropAroundMask: a wide image with two small holes far apart is
// inpainted as two regions (each hole's box grown by the margin), the
// known pixels stay byte for byte, each region's fill is what inpainting
// that region alone gives, and Off (or a small image in auto mode)
// inpaints the whole image.
func TestCropAroundMask(t *testing.T) {
	cfg, err := radmodel.ConfigFromFlags("--image_size 16 --num_channels 32 --num_res_blocks 1 --channel_mult 1,1,2,2 --attention_resolutions \"\" --learn_sigma True")
	if err != nil {
		t.Fatal(err)
	}
	m, err := radmodel.NewRandom(cfg, torch.CPU, torch.Float32, 6)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ip := newInpainter(t, m)
	defer ip.Close()
	ctx := context.Background()
	const w, h = 840, 60
	img := randomImage(w, h, 8)
	mask := boxMask(w, h, 40, 20, 50, 28)
	for y := 30; y < 36; y++ {
		for x := 700; x < 712; x++ {
			mask.Pix[y*mask.Stride+x] = 255
		}
	}
	o := Options{Steps: 5, Seed: 2, Resolution: ResolutionNative, CropMargin: 16, CoarseToFine: SwitchOff}
	out, st, err := ip.Inpaint(ctx, img, mask, o)
	if err != nil {
		t.Fatal(err)
	}
	if st.Regions != 2 || st.ModelCalls != 10 || st.Width != w || st.Height != h {
		t.Fatalf("stats %+v: want 2 regions, 10 model calls, %dx%d", st, w, h)
	}
	if st.WorkWidth != 48 || st.WorkHeight != 40 { // the regions 42x40 and 44x38, padded to multiples of 8
		t.Errorf("largest region's model input %dx%d, want 48x40", st.WorkWidth, st.WorkHeight)
	}
	if changed := knownEqual(t, out, img, mask); changed == 0 {
		t.Error("the holes did not change")
	}
	// the second region alone
	r := image.Rect(700-16, 30-16, 712+16, 36+16)
	sub := img.SubImage(r).(*image.RGBA)
	subMask := mask.SubImage(r).(*image.Gray)
	alone, _, err := ip.Inpaint(ctx, sub, subMask, Options{Steps: 5, Seed: 2, Resolution: ResolutionNative, Crop: SwitchOff, CoarseToFine: SwitchOff})
	if err != nil {
		t.Fatal(err)
	}
	for y := 30; y < 36; y++ {
		for x := 700; x < 712; x++ {
			if out.RGBAAt(x, y) != alone.RGBAAt(x-r.Min.X, y-r.Min.Y) {
				t.Fatalf("(%d,%d): cropped run %v, the region alone %v", x, y, out.RGBAAt(x, y), alone.RGBAAt(x-r.Min.X, y-r.Min.Y))
			}
		}
	}
	o.Crop = SwitchOff
	_, st, err = ip.Inpaint(ctx, img, mask, o)
	if err != nil {
		t.Fatal(err)
	}
	if st.Regions != 0 || st.WorkWidth != w {
		t.Errorf("crop off: %d regions, model input width %d", st.Regions, st.WorkWidth)
	}
	small := randomImage(200, 60, 1)
	o.Crop = SwitchAuto
	if _, st, err = ip.Inpaint(ctx, small, boxMask(200, 60, 10, 10, 20, 20), o); err != nil || st.Regions != 0 {
		t.Errorf("a 200 px image in auto mode: %d regions, %v (want the whole image)", st.Regions, err)
	}
	if _, _, err := ip.Inpaint(ctx, img, mask, Options{Crop: "sometimes"}); err == nil {
		t.Error("crop \"sometimes\": no error")
	}
}

// SamplingSteps: Steps when set, else by the start.
func TestSamplingSteps(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want int
	}{
		{Options{}, DefaultGuidedSteps},
		{Options{Init: InitHarmonic}, DefaultGuidedSteps},
		{Options{Init: InitEdges}, DefaultGuidedSteps},
		{Options{Init: InitNoise}, DefaultSteps},
		{Options{Init: InitNoise, Steps: 40}, 40},
		{Options{Steps: 3}, 3},
	} {
		if got := tc.o.SamplingSteps(); got != tc.want {
			t.Errorf("%+v: %d steps, want %d", tc.o, got, tc.want)
		}
	}
}
