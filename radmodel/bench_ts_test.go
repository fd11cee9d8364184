package radmodel

import (
	"os"
	"testing"
	"time"

	"github.com/radinpaint/rad/torch"
)

// benchVsTorchScript runs this package's forward and the TorchScript
// archive of the same weights (guided-diffusion's module, traced by
// PyTorch) alternately on the same input in one process, and reports
// both times and their ratio (go/ts: below 1 is faster than the
// archive, which runs libtorch's JIT interpreter over the same kernels).
func benchVsTorchScript(bm *testing.B, tsPath string, cfg Config, batch int64) {
	m, err := Load(tsPath, cfg, torch.CPU, torch.Float32)
	if err != nil {
		bm.Fatal(err)
	}
	defer m.Close()
	mod, err := torch.LoadModule(tsPath, torch.CPU)
	if err != nil {
		bm.Fatal(err)
	}
	defer mod.Close()
	s := torch.NewNoGradScope().SetInference(true)
	defer s.Close()
	g := torch.NewGenerator(3)
	defer g.Close()
	size := int64(cfg.ImageSize)
	x := s.Randn(g, torch.Float32, torch.CPU, batch, int64(cfg.InChannels), size, size)
	t := s.RandInt(g, 0, 1000, torch.CPU, batch)
	in := []*torch.Tensor{x, t}
	var y *torch.Tensor
	if cfg.NumClasses > 0 {
		y = s.RandInt(g, 0, int64(cfg.NumClasses), torch.CPU, batch)
		in = append(in, y)
	}
	noErr(bm, s)
	var goT, tsT time.Duration
	run := func(f func(c *torch.Scope) *torch.Tensor) time.Duration {
		c := s.Child()
		defer c.Close()
		start := time.Now()
		f(c)
		d := time.Since(start)
		if err := c.Err(); err != nil {
			bm.Fatal(err)
		}
		return d
	}
	goF := func(c *torch.Scope) *torch.Tensor { return m.Forward(c, x, t, y) }
	tsF := func(c *torch.Scope) *torch.Tensor { return mod.Forward(c, in...) }
	run(goF) // warm-up: the JIT profiles its first runs
	run(tsF)
	run(tsF)
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		if i%2 == 0 {
			goT += run(goF)
			tsT += run(tsF)
		} else {
			tsT += run(tsF)
			goT += run(goF)
		}
	}
	n := float64(bm.N)
	bm.ReportMetric(float64(goT.Microseconds())/1000/n, "go-ms/op")
	bm.ReportMetric(float64(tsT.Microseconds())/1000/n, "ts-ms/op")
	bm.ReportMetric(float64(goT)/float64(tsT), "go/ts")
}

// BenchmarkVsTorchScript compares the forward with the fixtures'
// TorchScript archives (pub_a: class-conditional with attention; pub_b;
// pub_c). RAD_BENCH_TS=archive.pt with RAD_BENCH_CONFIG=config.json
// compares any archive instead.
func BenchmarkVsTorchScript(b *testing.B) {
	if p := os.Getenv("RAD_BENCH_TS"); p != "" {
		cfg, err := ConfigFromJSON(os.Getenv("RAD_BENCH_CONFIG"))
		if err != nil {
			b.Fatalf("RAD_BENCH_CONFIG: %v", err)
		}
		b.Run("archive", func(b *testing.B) { benchVsTorchScript(b, p, cfg, 1) })
		return
	}
	for _, name := range []string{"pub_a", "pub_b", "pub_c"} {
		b.Run(name, func(b *testing.B) { benchVsTorchScript(b, fixture(name+".ts.pt"), fixtureConfig(b, name), 1) })
	}
}
