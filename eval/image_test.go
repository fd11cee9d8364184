package eval

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radinpaint/rad/torch"
)

func mustImages(t *testing.T, data []float32, n, c, h, w int) Images {
	t.Helper()
	im, err := NewImages(data, n, c, h, w)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// TestImageMetricsScipyReference compares with gen_ssim_ref.py (scipy's
// gaussian_filter, numpy) on the same images.
func TestImageMetricsScipyReference(t *testing.T) {
	var c ssimCase
	readJSON(t, filepath.Join("testdata", "ssim_images.json"), &c)
	var ref imageRefs
	readJSON(t, filepath.Join("testdata", "ssim_ref.json"), &ref)
	n, ch, h, w := c.Shape[0], c.Shape[1], c.Shape[2], c.Shape[3]
	p, tg, m := ssimImages(n, ch, h, w)
	if p[5] != c.Pred[5] || tg[len(tg)-1] != c.Target[len(tg)-1] || m[40] != c.Mask[40] {
		t.Fatalf("testdata/ssim_images.json differs from ssimImages: rerun TestWriteTestdata and gen_ssim_ref.py")
	}
	pred, target, mask := mustImages(t, c.Pred, n, ch, h, w), mustImages(t, c.Target, n, ch, h, w), mustImages(t, c.Mask, n, 1, h, w)
	ssim, err := HoleSSIM(pred, target, mask)
	if err != nil {
		t.Fatal(err)
	}
	psnr, err := HolePSNR(pred, target, mask)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if math.Abs(ssim[i]-ref.SSIM[i]) > 1e-10 {
			t.Errorf("image %d: SSIM %.15g, scipy %.15g", i, ssim[i], ref.SSIM[i])
		}
		if math.Abs(psnr[i]-ref.PSNR[i]) > 1e-10 {
			t.Errorf("image %d: PSNR %.15g, numpy %.15g", i, psnr[i], ref.PSNR[i])
		}
	}
	t.Logf("SSIM %v PSNR %v", ssim, psnr)
}

func TestHolePSNRKnown(t *testing.T) {
	const n, c, h, w = 3, 2, 5, 6
	target := make([]float32, n*c*h*w)
	for i := range target {
		target[i] = float32(math.Sin(float64(i))) * 0.7
	}
	mask := make([]float32, n*h*w)
	for i := range mask {
		if i%3 == 0 && i/(h*w) != 2 { // image 2 has no hole
			mask[i] = 1
		}
	}
	pred := make([]float32, len(target))
	for i := range pred {
		pred[i] = target[i] + 0.2 // 0.1 on the [0, 1] scale: MSE 0.01, 20 dB
		if i >= c*h*w && mask[(i/(c*h*w))*h*w+i%(h*w)] == 0 {
			pred[i] = -target[i] // outside the hole: ignored
		}
	}
	got, err := HolePSNR(mustImages(t, pred, n, c, h, w), mustImages(t, target, n, c, h, w), mustImages(t, mask, n, 1, h, w))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if math.Abs(got[i]-20) > 1e-5 {
			t.Errorf("image %d: PSNR %v, want 20", i, got[i])
		}
	}
	if !math.IsNaN(got[2]) {
		t.Errorf("image without hole: PSNR %v, want NaN", got[2])
	}
	same, err := HolePSNR(mustImages(t, target, n, c, h, w), mustImages(t, target, n, c, h, w), mustImages(t, mask, n, 1, h, w))
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(same[0], 1) || !math.IsInf(same[1], 1) {
		t.Errorf("identical images: PSNR %v, want +Inf", same)
	}
}

func TestHoleSSIMKnown(t *testing.T) {
	const h, w = 9, 13
	x := make([]float32, 2*h*w)
	for i := range x {
		x[i] = float32(math.Cos(0.7*float64(i))) * 0.8
	}
	mask := make([]float32, h*w)
	for i := range mask {
		mask[i] = float32(i % 2)
	}
	im := mustImages(t, x, 1, 2, h, w)
	mk := mustImages(t, mask, 1, 1, h, w)
	got, err := HoleSSIM(im, im, mk)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got[0]-1) > 1e-12 {
		t.Fatalf("identical images: SSIM %v, want 1", got[0])
	}
	// constant images a and b ([0, 1] scale): no variance, so
	// SSIM = (2ab + C1) / (a^2 + b^2 + C1) everywhere
	a, b := 0.3, 0.6
	pa, pb := make([]float32, h*w), make([]float32, h*w)
	for i := range pa {
		pa[i], pb[i] = float32(2*a-1), float32(2*b-1)
	}
	got, err = HoleSSIM(mustImages(t, pa, 1, 1, h, w), mustImages(t, pb, 1, 1, h, w), mk)
	if err != nil {
		t.Fatal(err)
	}
	// the float32 inputs carry a rounding of ~1e-8
	if want := (2*a*b + ssimC1) / (a*a + b*b + ssimC1); math.Abs(got[0]-want) > 1e-6 {
		t.Fatalf("constant images: SSIM %.9f, want %.9f", got[0], want)
	}
	// worse predictions score lower
	noisy := append([]float32(nil), x...)
	noisier := append([]float32(nil), x...)
	for i := range noisy {
		d := float32(math.Sin(3.1 * float64(i)))
		noisy[i] += 0.05 * d
		noisier[i] += 0.3 * d
	}
	s1, _ := HoleSSIM(mustImages(t, noisy, 1, 2, h, w), im, mk)
	s2, _ := HoleSSIM(mustImages(t, noisier, 1, 2, h, w), im, mk)
	if !(s1[0] < 1 && s2[0] < s1[0]) {
		t.Fatalf("SSIM of noisy %v, noisier %v", s1[0], s2[0])
	}
	// no hole: NaN
	got, _ = HoleSSIM(im, im, mustImages(t, make([]float32, h*w), 1, 1, h, w))
	if !math.IsNaN(got[0]) {
		t.Fatalf("no hole: SSIM %v, want NaN", got[0])
	}
}

func TestReflect(t *testing.T) {
	// d c b a | a b c d | d c b a, also for windows wider than the image
	want := map[int]int{-1: 0, -2: 1, -4: 3, -5: 3, 4: 3, 5: 2, 8: 0, 9: 1, -9: 0, 12: 3}
	for i, r := range want {
		if g := reflect(i, 4); g != r {
			t.Errorf("reflect(%d, 4) = %d, want %d", i, g, r)
		}
	}
	if g := reflect(7, 1); g != 0 {
		t.Errorf("reflect(7, 1) = %d", g)
	}
}

func TestImageMetricsErrors(t *testing.T) {
	a := mustImages(t, make([]float32, 2*3*4*4), 2, 3, 4, 4)
	b := mustImages(t, make([]float32, 2*3*4*5), 2, 3, 4, 5)
	m := mustImages(t, make([]float32, 2*4*4), 2, 1, 4, 4)
	m3 := mustImages(t, make([]float32, 2*3*4*4), 2, 3, 4, 4)
	if _, err := HolePSNR(a, b, m); err == nil || !strings.Contains(err.Error(), "[2 3 4 4] and target [2 3 4 5]") {
		t.Errorf("shape mismatch: %v", err)
	}
	if _, err := HoleSSIM(a, a, m3); err == nil || !strings.Contains(err.Error(), "mask [2 3 4 4]") {
		t.Errorf("mask channels: %v", err)
	}
	if _, err := NewImages(make([]float32, 5), 1, 1, 2, 2); err == nil {
		t.Errorf("NewImages: no error for 5 values")
	}
	bad := Images{N: 1, C: 1, H: 4, W: 4, Data: make([]float32, 3)}
	if _, err := HolePSNR(bad, bad, bad); err == nil || !strings.Contains(err.Error(), "3 values") {
		t.Errorf("malformed Images: %v", err)
	}
}

func TestImageMetricsTensors(t *testing.T) {
	var c ssimCase
	readJSON(t, filepath.Join("testdata", "ssim_images.json"), &c)
	n, ch, h, w := int64(c.Shape[0]), int64(c.Shape[1]), int64(c.Shape[2]), int64(c.Shape[3])
	live := torch.LiveTensors()
	func() {
		s := torch.NewNoGradScope()
		defer s.Close()
		p := torch.FromSlice(s, c.Pred, n, ch, h, w)
		tg := s.To(torch.FromSlice(s, c.Target, n, ch, h, w), torch.Float64) // any float dtype
		m := torch.FromSlice(s, c.Mask, n, 1, h, w)
		ps, err := HolePSNRTensor(p, tg, m)
		if err != nil {
			t.Fatal(err)
		}
		ss, err := HoleSSIMTensor(p, tg, m)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := HolePSNR(mustImages(t, c.Pred, int(n), int(ch), int(h), int(w)), mustImages(t, c.Target, int(n), int(ch), int(h), int(w)), mustImages(t, c.Mask, int(n), 1, int(h), int(w)))
		wantS, _ := HoleSSIM(mustImages(t, c.Pred, int(n), int(ch), int(h), int(w)), mustImages(t, c.Target, int(n), int(ch), int(h), int(w)), mustImages(t, c.Mask, int(n), 1, int(h), int(w)))
		for i := range want {
			if ps[i] != want[i] || ss[i] != wantS[i] {
				t.Fatalf("tensor API: PSNR %v SSIM %v, slices %v %v", ps, ss, want, wantS)
			}
		}
		if _, err := HolePSNRTensor(p, m, m); err == nil || !strings.Contains(err.Error(), "differ in shape") {
			t.Errorf("tensor shapes: %v", err)
		}
		if _, err := HoleSSIMTensor(s.Reshape(p, n, -1), tg, m); err == nil || !strings.Contains(err.Error(), "want [N, C, H, W]") {
			t.Errorf("rank: %v", err)
		}
	}()
	if l := torch.LiveTensors(); l != live {
		t.Fatalf("live tensors %d -> %d", live, l)
	}
}
