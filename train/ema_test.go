package train

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
	"github.com/radinpaint/rad/train/data"
)

func TestEMADecay(t *testing.T) {
	for _, c := range []struct {
		warmup string
		n      int64
		want   float64
	}{
		{EMAWarmupRatio, 1, 2.0 / 11}, {EMAWarmupRatio, 80, 81.0 / 90}, {EMAWarmupRatio, 100000, 0.999},
		{EMAWarmupOff, 1, 0.999}, {"", 1, 0.999},
	} {
		if got := EMADecay(0.999, c.warmup, c.n); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("EMADecay(0.999, %q, %d) = %g, want %g", c.warmup, c.n, got, c.want)
		}
	}
}

// heldOutLoss is the denoising loss (MSE of the predicted noise, scalar
// timesteps, every pixel noised) of the model file path on a held-out
// batch with fixed timesteps and noise.
func heldOutLoss(t *testing.T, path string, cfg radmodel.Config, x *torch.Tensor) float64 {
	t.Helper()
	m, err := radmodel.Load(path, cfg, torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	base, err := diffusion.NewNamedBase("linear", 1000)
	if err != nil {
		t.Fatal(err)
	}
	abar := base.AlphasCumprod()
	s := torch.NewNoGradScope()
	defer s.Close()
	g := torch.NewGenerator(99)
	defer g.Close()
	b := x.Size(0)
	ts := make([]float32, b)
	a, sq := make([]float32, b), make([]float32, b)
	for i := range ts {
		k := int(int64(i) * 997 / b)
		ts[i] = float32(k)
		a[i], sq[i] = float32(math.Sqrt(abar[k])), float32(math.Sqrt(1-abar[k]))
	}
	noise := s.Randn(g, torch.Float32, torch.CPU, x.Shape()...)
	ca := torch.FromSlice(s, a, b, 1, 1, 1)
	cs := torch.FromSlice(s, sq, b, 1, 1, 1)
	xt := s.Add(s.Mul(x, ca), s.Mul(noise, cs))
	out := m.Forward(s, xt, torch.FromSlice(s, ts, b), nil)
	eps := s.Narrow(out, 1, 0, x.Size(1))
	v, err := s.Mean(s.Square(s.Sub(eps, noise))).Float64s()
	if err != nil || s.Err() != nil {
		t.Fatal(err, s.Err())
	}
	return v[0]
}

// TestEMAWarmupExport: a short from-scratch run exports EMA weights whose
// held-out denoising loss is within 10% of the raw weights'; without
// warm-up (decay 0.999 from the first step) the EMA export is far worse.
func TestEMAWarmupExport(t *testing.T) {
	model := tinyModel(t)
	model.Dropout = 0
	dataDir := shapesData(t, 40, 16)
	src, err := data.Open(shapesData(t, 16, 16))
	if err != nil {
		t.Fatal(err)
	}
	l, err := data.NewLoader(context.Background(), src, data.Config{Size: 16, Channels: 3, BatchSize: 16, Seed: 5, Workers: 1}, 0)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := l.Next()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	hs := torch.NewNoGradScope()
	defer hs.Close()
	x, _ := hb.Tensors(hs)

	loss := map[string][2]float64{}
	for _, warmup := range []string{EMAWarmupRatio, EMAWarmupOff} {
		cfg := testConfig(t, model, dataDir, ADM)
		cfg.Steps, cfg.BatchSize, cfg.LR, cfg.EMA, cfg.EMAWarmup = 300, 8, 1e-3, 0.999, warmup
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(res.FinalRaw) != FinalModelRaw {
			t.Fatalf("raw export %q", res.FinalRaw)
		}
		loss[warmup] = [2]float64{heldOutLoss(t, res.Final, model, x), heldOutLoss(t, res.FinalRaw, model, x)}
	}
	ema, raw := loss[EMAWarmupRatio][0], loss[EMAWarmupRatio][1]
	t.Logf("held-out loss after 300 steps: warm-up EMA %.4f, raw %.4f; no warm-up EMA %.4f, raw %.4f",
		ema, raw, loss[EMAWarmupOff][0], loss[EMAWarmupOff][1])
	if !(ema <= 1.1*raw) {
		t.Fatalf("EMA with warm-up: held-out loss %.4f, raw %.4f (want within 10%%)", ema, raw)
	}
	if !(loss[EMAWarmupOff][0] > 1.1*loss[EMAWarmupOff][1]) {
		t.Fatalf("EMA without warm-up %.4f is not worse than raw %.4f: the test cannot tell", loss[EMAWarmupOff][0], loss[EMAWarmupOff][1])
	}
}
