package diffusion

import (
	"math"
	"testing"

	"github.com/radinpaint/rad/internal/tensortest"
	"github.com/radinpaint/rad/torch"
)

// TestLevelTableMatchesPerPixel: for a binary mask, the per-run table of
// both pixel kinds gives the generic per-pixel levels and posterior.
func TestLevelTableMatchesPerPixel(t *testing.T) {
	base, _ := NewNamedBase("linear", 1000)
	r, err := base.Respace("100")
	if err != nil {
		t.Fatal(err)
	}
	sc := NewSchedule(r)
	s := torch.NewNoGradScope()
	defer s.Close()
	g := torch.NewGenerator(4)
	defer g.Close()
	m := s.To(s.GtScalar(s.Rand(g, torch.Float32, torch.CPU, 2, 1, 8, 8), 0.6), torch.Float32)
	tab, err := NewLevelTable(s, sc, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	hole := s.GeScalar(m, 0.5)
	for _, k := range []int{0, 1, 37, 99} {
		want, err := sc.Levels(s, Uniform(k, 2), m)
		if err != nil {
			t.Fatal(err)
		}
		wp := sc.PosteriorOf(s, want, m)
		got, gp := tab.At(s, k, 2, hole)
		pairs := map[string][2]*torch.Tensor{
			"LogA": {got.LogA, want.LogA}, "LogAPrev": {got.LogAPrev, want.LogAPrev}, "Bbar": {got.Bbar, want.Bbar},
			"BbarPrev": {got.BbarPrev, want.BbarPrev}, "Alpha": {got.Alpha, want.Alpha}, "Beta": {got.Beta, want.Beta},
			"Frozen": {s.To(got.Frozen, torch.Float64), s.To(want.Frozen, torch.Float64)},
			"First":  {s.Expand(s.To(got.First, torch.Float64), 2, 1, 1, 1), s.To(want.First, torch.Float64)},
			"Coef1":  {gp.Coef1, wp.Coef1}, "Coef2": {gp.Coef2, wp.Coef2}, "Var": {gp.Variance, wp.Variance},
			"VarClipped": {gp.VarianceClipped, wp.VarianceClipped}, "LogVarClipped": {gp.LogVarianceClipped, wp.LogVarianceClipped},
		}
		for name, pr := range pairs {
			if d := tensortest.MaxAbsDiff(t, pr[0], pr[1]); d > 1e-12 {
				t.Fatalf("step %d %s: table differs from per-pixel by %g", k, name, d)
			}
		}
	}
}

// QSampleStep and ForwardStep are DDPM's q(x_t | x_0) and q(x_{t+1} | x_t)
// of the chain: checked against the closed forms on scalars.
func TestChainForward(t *testing.T) {
	base, _ := NewNamedBase("linear", 1000)
	s := torch.NewNoGradScope()
	defer s.Close()
	x := torch.FromSlice(s, []float64{0.5, -1})
	e := torch.FromSlice(s, []float64{2, 0.25})
	abar := base.AlphasCumprod()
	q, err := torch.ToSlice[float64](base.QSampleStep(s, x, e, 10))
	if err != nil {
		t.Fatal(err)
	}
	f, err := torch.ToSlice[float64](base.ForwardStep(s, x, e, 10))
	if err != nil {
		t.Fatal(err)
	}
	for i, xv := range []float64{0.5, -1} {
		ev := []float64{2, 0.25}[i]
		wq := math.Sqrt(abar[10])*xv + math.Sqrt(1-abar[10])*ev
		wf := math.Sqrt(1-base.Betas[11])*xv + math.Sqrt(base.Betas[11])*ev
		if math.Abs(q[i]-wq) > 1e-12 || math.Abs(f[i]-wf) > 1e-12 {
			t.Fatalf("element %d: q %v want %v, forward %v want %v", i, q[i], wq, f[i], wf)
		}
	}
}
