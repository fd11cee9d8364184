package diffusion

import (
	"math"
	"testing"

	"github.com/radinpaint/rad/torch"
)

// TestEndpointsAndPhases checks the closed forms at their ends: A(2N-1) =
// 1 - nu for every m, m = 1 follows abar_k in phase 1 and is constant in
// phase 2, m = 0 is clean in phase 1 and follows abar_k in phase 2.
func TestEndpointsAndPhases(t *testing.T) {
	base, _ := NewNamedBase("linear", 1000)
	sc := NewSchedule(base)
	abar := base.AlphasCumprod()
	if math.Abs(sc.Nu-0.99995964) > 1e-8 {
		t.Fatalf("nu = %v", sc.Nu)
	}
	s := torch.NewNoGradScope()
	defer s.Close()
	ms := []float32{0, 0.1, 0.3, 0.5, 0.9, 1}
	m := torch.FromSlice(s, ms, 1, 1, 1, int64(len(ms)))
	m4 := s.Expand(m, 4, 1, 1, int64(len(ms)))
	lv, err := sc.Levels(s, []int{1999, 10, 1010, 999}, m4)
	if err != nil {
		t.Fatal(err)
	}
	A := f64s(t, s.Exp(lv.LogA))
	nm := len(ms)
	for j := range ms {
		if math.Abs(A[j]-(1-sc.Nu)) > 1e-15 {
			t.Fatalf("A(2N-1) at m=%v is %v, want %v", ms[j], A[j], 1-sc.Nu)
		}
		if math.Abs(A[3*nm+j]-(1-sc.Nu*float64(ms[j]))) > 1e-12 {
			t.Fatalf("A(N-1) at m=%v is %v, want 1 - nu m", ms[j], A[3*nm+j])
		}
	}
	if math.Abs(A[nm+nm-1]-abar[10]) > 1e-15 || A[nm] != 1 {
		t.Fatalf("phase 1 step 10: m=1 %v (want %v), m=0 %v", A[nm+nm-1], abar[10], A[nm])
	}
	if math.Abs(A[2*nm]-abar[10]) > 1e-15 || math.Abs(A[2*nm+nm-1]-(1-sc.Nu)) > 1e-15 {
		t.Fatalf("phase 2 step 10: m=0 %v (want %v), m=1 %v", A[2*nm], abar[10], A[2*nm+nm-1])
	}
	// known pixels in phase 1 and hole pixels in phase 2 are frozen
	fr := f64s(t, lv.Frozen)
	if fr[nm] != 1 || fr[nm+1] != 0 || fr[2*nm+nm-1] != 1 || fr[2*nm] != 0 {
		t.Fatalf("frozen flags %v", fr)
	}
}

// TestNoNaNOrInfAnywhere runs every global step for m in {0, 0.3, 1} with
// levels computed in float64, float32 and bfloat16, through the posterior,
// a learned-variance prediction, both sampler steps and the loss.
func TestNoNaNOrInfAnywhere(t *testing.T) {
	base, _ := NewNamedBase("linear", 1000)
	for _, dt := range []torch.DType{torch.Float64, torch.Float32, torch.BFloat16} {
		sc := NewSchedule(base)
		sc.DType = dt
		s := torch.NewNoGradScope()
		g := torch.NewGenerator(3)
		steps := make([]int, sc.T())
		for i := range steps {
			steps[i] = i
		}
		b := int64(len(steps))
		m := s.Expand(torch.FromSlice(s, []float32{0, 0.3, 1}, 1, 1, 1, 3), b, 1, 1, 3)
		lv, err := sc.Levels(s, steps, m)
		if err != nil {
			t.Fatal(err)
		}
		post := sc.PosteriorOf(s, lv, m)
		x0 := s.Clamp(s.Randn(g, torch.Float32, torch.CPU, b, 2, 1, 3), -1, 1)
		noise := s.Randn(g, torch.Float32, torch.CPU, b, 2, 1, 3)
		out := s.Randn(g, torch.Float32, torch.CPU, b, 4, 1, 3)
		xt := QSample(s, lv, x0, noise)
		pr := sc.PMeanVariance(s, lv, post, xt, out, true, true)
		check := map[string]*torch.Tensor{
			"Bbar": lv.Bbar, "b": lv.Beta, "coef1": post.Coef1, "coef2": post.Coef2, "var": post.Variance,
			"logvar_clipped": post.LogVarianceClipped, "x_t": xt, "x0": pr.PredX0, "mean": pr.Mean,
			"logvar": pr.LogVariance, "ancestral": AncestralStep(s, lv, pr, xt, noise),
			"ddim": DDIMStep(s, lv, pr, xt, noise, 1),
		}
		l := sc.Loss(s, lv, post, x0, xt, noise, out, LossOpts{LearnSigma: true})
		check["mse"], check["vb"], check["loss"] = l.MSE, l.VB, l.Loss
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		for name, x := range check {
			if bad, _ := s.Any(s.LogicalNot(s.IsFinite(x))).Item(); bad != 0 {
				t.Fatalf("%s: %s has NaN or Inf", dt, name)
			}
		}
		// guarded pixels (m = 0 in phase 1, m = 1 in phase 2) never move
		anc := check["ancestral"]
		frozen := s.Expand(lv.Frozen, xt.Shape()...)
		moved, _ := s.Any(s.LogicalAnd(frozen, s.Ne(anc, xt))).Item()
		if moved != 0 {
			t.Fatalf("%s: a guarded pixel moved", dt)
		}
		g.Close()
		s.Close()
	}
}

// TestTimestepMapper: a hole pixel at step k maps to k (+offset), a clean
// pixel to -1, and levels between steps interpolate linearly.
func TestTimestepMapper(t *testing.T) {
	base, _ := NewNamedBase("linear", 1000)
	abar := base.AlphasCumprod()
	tm := NewTimestepMapper(base, 0)
	if v := tm.TauOf(0); v != -1 {
		t.Fatalf("tau(0) = %v", v)
	}
	if v := tm.TauOf(1 - abar[500]); math.Abs(v-500) > 1e-9 {
		t.Fatalf("tau at step 500 = %v", v)
	}
	mid := 0.5*(1-abar[10]) + 0.5*(1-abar[11])
	if v := tm.TauOf(mid); math.Abs(v-10.5) > 1e-9 {
		t.Fatalf("tau halfway 10..11 = %v", v)
	}
	if v := tm.TauOf(1); v != 999 {
		t.Fatalf("tau(1) = %v", v)
	}
	s := torch.NewNoGradScope()
	defer s.Close()
	bb := torch.FromSlice(s, []float64{0, 1 - abar[0], mid, 1 - abar[999], 0.5})
	got := f64s(t, tm.Map(s, bb))
	for i, v := range []float64{0, 1 - abar[0], mid, 1 - abar[999], 0.5} {
		if math.Abs(got[i]-tm.TauOf(v)) > 1e-4 {
			t.Fatalf("Map[%d] = %v, TauOf = %v", i, got[i], tm.TauOf(v))
		}
	}
	off := NewTimestepMapper(base, 1)
	if v := off.TauOf(0); v != 0 {
		t.Fatalf("offset 1: clean pixel sees %v", v)
	}
}
