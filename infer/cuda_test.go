package infer

import (
	"bytes"
	"context"
	"testing"

	"github.com/radinpaint/rad/internal/tensortest"
	"github.com/radinpaint/rad/torch"
)

// TestCUDAInpaint runs RAD on CUDA with pub_a (skips without CUDA).
func TestCUDAInpaint(t *testing.T) {
	if !torch.CUDAAvailable() {
		t.Skip("no CUDA device")
	}
	m := pubAOn(t, torch.CUDA(0))
	defer m.Close()
	ip := newInpainter(t, m)
	img := randomImage(32, 32, 1)
	mask := boxMask(32, 32, 8, 8, 24, 20)
	a, st, err := ip.Inpaint(context.Background(), img, mask, Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if st.ModelCalls != DefaultGuidedSteps || st.Device != "cuda:0" {
		t.Fatalf("stats %+v", st)
	}
	knownEqual(t, pngRoundTrip(t, a), img, mask)
	b, _, _ := ip.Inpaint(context.Background(), img, mask, Options{Seed: 7})
	if !bytes.Equal(a.Pix, b.Pix) {
		t.Fatal("same seed, different outputs on CUDA")
	}
	t.Logf("RAD 100 steps on cuda:0 (pub_a, 32x32): %.2f s", st.Seconds)
}

// TestCUDANative runs native-resolution and tiled RAD on CUDA with pub_a
// (skips without CUDA): the known region is exact, a pointwise model's
// tiled output equals its untiled one, and tiling a large image works.
func TestCUDANative(t *testing.T) {
	if !torch.CUDAAvailable() {
		t.Skip("no CUDA device")
	}
	m := pubAOn(t, torch.CUDA(0))
	defer m.Close()
	ip := newInpainter(t, m)
	ctx := context.Background()
	img := randomImage(37, 29, 4)
	mask := boxMask(37, 29, 20, 10, 37, 29)
	out, st, err := ip.Inpaint(ctx, img, mask, Options{Seed: 1, Steps: 10, Resolution: ResolutionNative, MaxTilePixels: 256})
	if err != nil {
		t.Fatal(err)
	}
	if st.Tiles != 9 || st.WorkWidth != 40 || out.Bounds().Dx() != 37 {
		t.Fatalf("stats %+v", st)
	}
	knownEqual(t, pngRoundTrip(t, out), img, mask)

	s := torch.NewNoGradScope()
	defer s.Close()
	g := torch.NewGenerator(5)
	defer g.Close()
	dev := torch.CUDA(0)
	x := s.Randn(g, torch.Float32, dev, 2, 3, 40, 56)
	ts := Timesteps{Map: s.MulScalar(s.Rand(g, torch.Float32, dev, 2, 1, 40, 56), 999)}
	pw := pointwise{w: s.Randn(g, torch.Float32, dev, 6, 3, 1, 1)}
	tiled := TiledDenoiser{Inner: pw, TileH: 16, TileW: 24, Overlap: 6, Multiple: 4}
	if d := tensortest.MaxAbsDiff(t, s.ToDevice(tiled.Predict(s, x, ts, nil), torch.CPU, torch.Float32), s.ToDevice(pw.Predict(s, x, ts, nil), torch.CPU, torch.Float32)); d > 1e-5 {
		t.Fatalf("tiled pointwise model on CUDA differs by %g", d)
	}

	// a 768x512 image: whole, then in 256x256-pixel tiles
	big := randomImage(768, 512, 5)
	bm := boxMask(768, 512, 200, 100, 600, 400)
	for _, budget := range []int{0, 256 * 256} {
		out, st, err := ip.Inpaint(ctx, big, bm, Options{Seed: 1, Steps: 20, Resolution: ResolutionNative, MaxTilePixels: budget})
		if err != nil {
			t.Fatal(err)
		}
		knownEqual(t, out, big, bm)
		t.Logf("RAD 20 steps on cuda:0 (pub_a, native 768x512, %d tiles): %.2f s", st.Tiles, st.Seconds)
	}
}
