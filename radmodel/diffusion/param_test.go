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
	sc := linearSchedule(t)
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
	sc := linearSchedule(t)
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

// TestMinSNRWeight checks the min-SNR-gamma weights against SNR = A/Bbar
// computed here in float64, per pixel, on a hard mask (known pixels with
// Bbar = 0 in phase 1) and in both phases; and that the weighted MSE is the
// weighted average over the noised pixels, the plain one when gamma is
// above every SNR (eps), and smaller when gamma caps the low-noise pixels.
func TestMinSNRWeight(t *testing.T) {
	s := torch.NewNoGradScope()
	defer s.Close()
	sc := linearSchedule(t)
	g := torch.NewGenerator(6)
	defer g.Close()
	const gamma = 5
	m := s.To(s.GtScalar(s.Rand(g, torch.Float32, torch.CPU, 3, 1, 8, 8), 0.5), torch.Float32)
	lv, err := sc.Levels(s, []int{20, 600, 1300}, m)
	if err != nil {
		t.Fatal(err)
	}
	logA, err := s.To(lv.LogA, torch.Float64).Float64s()
	if err != nil {
		t.Fatal(err)
	}
	bbar, _ := s.To(lv.Bbar, torch.Float64).Float64s()
	capped, uncapped := 0, 0
	for _, p := range []Param{ParamEps, ParamV, ParamX0} {
		w, err := s.To(MinSNRWeight(s, lv, p, gamma), torch.Float64).Float64s()
		if err != nil {
			t.Fatal(err)
		}
		for i := range w {
			a, b := math.Exp(logA[i]), bbar[i]
			want := 0.0
			if b > 0 {
				snr := a / b
				switch p {
				case ParamEps:
					want = math.Min(snr, gamma) / snr
				case ParamV:
					want = math.Min(snr, gamma) / (snr + 1)
				case ParamX0:
					want = math.Min(snr, gamma)
				}
				if p == ParamEps && snr > gamma {
					capped++
				} else if p == ParamEps {
					uncapped++
				}
			}
			if math.IsNaN(w[i]) || math.Abs(w[i]-want) > 1e-5*math.Max(1, want) {
				t.Fatalf("%s pixel %d (A %g, Bbar %g): weight %g, want %g", p, i, a, b, w[i], want)
			}
		}
	}
	if capped == 0 || uncapped == 0 {
		t.Fatalf("the levels do not exercise both sides of gamma (%d capped, %d not)", capped, uncapped)
	}
	// The loss: a wrong eps prediction, weighted and not.
	post := sc.PosteriorOf(s, lv, m)
	x0 := s.Clamp(s.Randn(g, torch.Float32, torch.CPU, 3, 1, 8, 8), -1, 1)
	eps := s.Randn(g, torch.Float32, torch.CPU, 3, 1, 8, 8)
	xs := QSample(s, lv, x0, eps)
	out := s.Cat(1, s.AddScalar(eps, 0.3), s.ZerosLike(x0))
	plain := sc.Loss(s, lv, post, x0, xs, eps, out, LossOpts{LearnSigma: true})
	huge := sc.Loss(s, lv, post, x0, xs, eps, out, LossOpts{LearnSigma: true, MinSNRGamma: 1e30})
	weighted := sc.Loss(s, lv, post, x0, xs, eps, out, LossOpts{LearnSigma: true, MinSNRGamma: gamma})
	pv, _ := plain.MSE.Float64s()
	hv, _ := huge.MSE.Float64s()
	wv, _ := weighted.MSE.Float64s()
	w, _ := s.To(MinSNRWeight(s, lv, ParamEps, gamma), torch.Float64).Float64s()
	for b := 0; b < 3; b++ {
		num, cnt := 0.0, 0.0
		for i := b * 64; i < (b+1)*64; i++ {
			if bbar[i] > 0 {
				num += w[i] * 0.09
				cnt++
			}
		}
		if want := num / cnt; math.Abs(wv[b]-want) > 1e-5 {
			t.Errorf("sample %d: weighted MSE %g, want %g", b, wv[b], want)
		}
		if math.Abs(hv[b]-pv[b]) > 1e-6 {
			t.Errorf("sample %d: gamma above every SNR gives %g, unweighted %g", b, hv[b], pv[b])
		}
	}
	if !(wv[0] < 0.5*pv[0]) {
		t.Errorf("k = 20: the capped weight leaves the MSE at %g of the plain %g", wv[0], pv[0])
	}
}

// linearSchedule is RAD's schedule over guided-diffusion's linear base of
// 1,000 steps.
func linearSchedule(t *testing.T) *Schedule {
	t.Helper()
	base, err := NewNamedBase("linear", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return NewSchedule(base)
}
