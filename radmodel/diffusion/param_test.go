package diffusion

import (
	"math"
	"testing"

	"github.com/radinpaint/rad/torch"
)

// TestParamRoundTrip checks the parameterizations against each other on
// RAD's per-pixel levels (a soft mask, so every pixel has its own level):
// the v and x0 of a state turn back into its x0 and eps, and a model that
// outputs the exact target of its parameterization gets the same reverse
// step (mean and x0) whatever the parameterization; read as eps, a v
// output gives another x0.
func TestParamRoundTrip(t *testing.T) {
	s := torch.NewNoGradScope()
	defer s.Close()
	base, err := NewNamedBase("linear", 1000)
	if err != nil {
		t.Fatal(err)
	}
	sc := NewSchedule(base)
	g := torch.NewGenerator(4)
	defer g.Close()
	x0 := s.Clamp(s.Randn(g, torch.Float32, torch.CPU, 2, 3, 8, 8), -1, 1)
	eps := s.Randn(g, torch.Float32, torch.CPU, 2, 3, 8, 8)
	m := s.Rand(g, torch.Float32, torch.CPU, 2, 1, 8, 8)
	for _, k := range []int{0, 100, 500, 900, 999} {
		lv, err := sc.Levels(s, []int{k, k}, m)
		if err != nil {
			t.Fatal(err)
		}
		post := sc.PosteriorOf(s, lv, m)
		xs := QSample(s, lv, x0, eps)
		ref := sc.PMeanVarianceOf(s, lv, post, xs, eps, ParamEps, false, false)
		for _, p := range []Param{ParamV, ParamX0} {
			target := p.Target(s, lv, x0, eps)
			if d := maxDiff(t, p.X0(s, lv, xs, target), x0); d > 1e-4 {
				t.Errorf("k %d %s: x0 from the target off by %g", k, p, d)
			}
			pr := sc.PMeanVarianceOf(s, lv, post, xs, target, p, false, false)
			if d := maxDiff(t, pr.Mean, ref.Mean); d > 1e-4 {
				t.Errorf("k %d %s: reverse-step mean off by %g from eps's", k, p, d)
			}
			// eps is recovered where the pixel is noisy enough to hold it
			if k >= 100 {
				if d := maxDiff(t, s.Mul(pr.Eps, s.To(s.Sqrt(lv.Bbar), torch.Float32)), s.Mul(eps, s.To(s.Sqrt(lv.Bbar), torch.Float32))); d > 1e-4 {
					t.Errorf("k %d %s: eps off by %g", k, p, d)
				}
			}
		}
		if k >= 500 {
			v := ParamV.Target(s, lv, x0, eps)
			wrong := sc.PMeanVarianceOf(s, lv, post, xs, v, ParamEps, false, false)
			if d := maxDiff(t, wrong.PredX0, x0); d < 0.1 {
				t.Errorf("k %d: a v output read as eps gives x0 within %g: the parameterization would not matter", k, d)
			}
		}
	}
	for _, name := range []string{"", "eps", "v", "x0"} {
		p, err := ParseParam(name)
		if err != nil {
			t.Fatal(err)
		}
		if q, _ := ParseParam(p.String()); q != p {
			t.Errorf("%q: name %q parses to %q", name, p.String(), q)
		}
	}
	if _, err := ParseParam("score"); err == nil {
		t.Error("ParseParam(score): no error")
	}
}

// TestLossTarget checks that the MSE term regresses the parameterization's
// target: zero for the exact target, positive for eps given to a v model.
func TestLossTarget(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	base, err := NewNamedBase("linear", 1000)
	if err != nil {
		t.Fatal(err)
	}
	sc := NewSchedule(base)
	g := torch.NewGenerator(5)
	defer g.Close()
	x0 := s.Clamp(s.Randn(g, torch.Float32, torch.CPU, 2, 1, 8, 8), -1, 1)
	eps := s.Randn(g, torch.Float32, torch.CPU, 2, 1, 8, 8)
	m := s.GtScalar(s.Rand(g, torch.Float32, torch.CPU, 2, 1, 8, 8), 0.5)
	mf := s.To(m, torch.Float32)
	lv, err := sc.Levels(s, []int{700, 300}, mf)
	if err != nil {
		t.Fatal(err)
	}
	post := sc.PosteriorOf(s, lv, mf)
	xs := QSample(s, lv, x0, eps)
	for _, p := range []Param{ParamEps, ParamV, ParamX0} {
		out := s.Cat(1, p.Target(s, lv, x0, eps), s.ZerosLike(x0))
		l := sc.Loss(s, lv, post, x0, xs, eps, out, LossOpts{LearnSigma: true, Param: p})
		v, err := s.Max(l.MSE).Item()
		if err != nil {
			t.Fatal(err)
		}
		if v > 1e-10 {
			t.Errorf("%s: MSE %g for the exact target", p, v)
		}
	}
	out := s.Cat(1, eps, s.ZerosLike(x0))
	l := sc.Loss(s, lv, post, x0, xs, eps, out, LossOpts{LearnSigma: true, Param: ParamV})
	if v, _ := s.Min(l.MSE).Item(); !(v > 1e-3) || math.IsNaN(v) {
		t.Errorf("v model given eps: MSE %g, want clearly positive", v)
	}
}

func maxDiff(t *testing.T, a, b *torch.Tensor) float64 {
	t.Helper()
	s := torch.NewNoGradScope()
	defer s.Close()
	v, err := s.Max(s.Abs(s.Sub(s.To(a, torch.Float64), s.To(b, torch.Float64)))).Item()
	if err != nil {
		t.Fatal(err)
	}
	return v
}
