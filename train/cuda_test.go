package train

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/torch"
)

// Training on CUDA (skipped without a GPU): bfloat16 autocast, the loss
// falls, rad-lora adapters load on the CPU, and a resumed run follows the
// uninterrupted one (closely: CUDA kernels need not be bitwise
// reproducible).
func TestCUDATraining(t *testing.T) {
	if !torch.CUDAAvailable() {
		t.Skip("no CUDA device")
	}
	model := tinyModel(t)
	dataDir := shapesData(t, 32, 16)
	cfg := testConfig(t, model, dataDir, ADM)
	cfg.Device = "cuda"
	cfg.Steps = 150
	cfg.BatchSize = 8
	cfg.LR = 1e-3
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := losses(res.Records)
	first, last := mean(l[:20]), mean(l[len(l)-20:])
	t.Logf("cuda ADM (bf16 autocast): first 20 steps %.4f, last 20 %.4f, %.1f s for %d steps", first, last, res.Seconds, len(l))
	if !(last < 0.5*first) {
		t.Fatalf("loss did not fall: %.4f -> %.4f", first, last)
	}
	base := saveRandomBase(t, model)
	for _, noAC := range []bool{false, true} {
		mk := func() Config {
			c := testConfig(t, model, dataDir, RADLoRA)
			c.Device, c.Base, c.NoAutocast = "cuda", base, noAC
			c.Steps, c.SaveEvery, c.LR, c.Accum = 8, 4, 1e-3, 2
			return c
		}
		a, err := Run(context.Background(), mk())
		if err != nil {
			t.Fatal(err)
		}
		p := mk()
		p.Steps = 4
		if _, err := Run(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		p.Steps, p.Resume = 8, "latest"
		b, err := Run(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for i, r := range b.Records {
			worst = math.Max(worst, math.Abs(r.Loss-a.Records[4+i].Loss)/a.Records[4+i].Loss)
		}
		t.Logf("cuda rad-lora (no autocast %v): resumed losses differ by at most %.3g (relative); losses %v", noAC, worst, losses(a.Records))
		if worst > 0.05 {
			t.Fatalf("resumed run drifted by %g", worst)
		}
		m, err := radmodel.Load(base, model, torch.CPU, torch.Float32)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.LoadAdapter(filepath.Join(p.Out, FinalAdapter), radmodel.ApplyOpts{}); err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
}
