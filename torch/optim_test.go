package torch

import (
	"math"
	"testing"
)

// adamwRef is torch.optim.AdamW's update written out in float64.
func adamwRef(p, g []float64, steps int, c AdamWConfig) []float64 {
	p = append([]float64(nil), p...)
	m := make([]float64, len(p))
	v := make([]float64, len(p))
	for k := 1; k <= steps; k++ {
		for i := range p {
			p[i] *= 1 - c.LR*c.WeightDecay
			m[i] = c.Beta1*m[i] + (1-c.Beta1)*g[i]
			v[i] = c.Beta2*v[i] + (1-c.Beta2)*g[i]*g[i]
			mh := m[i] / (1 - math.Pow(c.Beta1, float64(k)))
			vh := v[i] / (1 - math.Pow(c.Beta2, float64(k)))
			p[i] -= c.LR * mh / (math.Sqrt(vh) + c.Eps)
		}
	}
	return p
}

func TestAdamWStep(t *testing.T) {
	s := NewScope()
	defer s.Close()
	cfg := AdamWConfig{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
	p0 := []float64{1, -2, 0.5}
	coef := []float64{0.5, 0.1, -3}
	p := FromSlice(s, p0, 3)
	p.SetRequiresGrad(true)
	c := FromSlice(s, coef, 3)
	opt, err := NewAdamW([]*Tensor{p}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Close()
	// one step by hand: p*(1-lr*wd) - lr * g/(|g|+eps) at step 1
	for step := 1; step <= 3; step++ {
		ls := s.Child()
		l := ls.Sum(ls.Mul(p, c)) // gradient = coef
		if err := l.Backward(); err != nil {
			t.Fatal(err)
		}
		if err := opt.Step(); err != nil {
			t.Fatal(err)
		}
		if err := opt.ZeroGrad(); err != nil {
			t.Fatal(err)
		}
		ls.Close()
		if step == 1 {
			want := make([]float64, 3)
			for i := range p0 {
				want[i] = p0[i]*(1-cfg.LR*cfg.WeightDecay) - cfg.LR*coef[i]/(math.Abs(coef[i])+cfg.Eps)
			}
			near(t, "adamw step 1", vals(t, p), want, 1e-12)
		}
		near(t, "adamw vs reference", vals(t, p), adamwRef(p0, coef, step, cfg), 1e-12)
	}
	if opt.Steps != 3 {
		t.Fatalf("steps = %d", opt.Steps)
	}
	// state round trip: a restored optimizer continues identically
	names, st := opt.State()
	saved := map[string]*Tensor{}
	for i, n := range names {
		saved[n] = s.Clone(st[i])
	}
	q := s.Detach(s.Clone(p))
	q.SetRequiresGrad(true)
	opt2, err := NewAdamW([]*Tensor{q}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer opt2.Close()
	if err := opt2.LoadState(saved, opt.Steps); err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		opt *AdamW
		x   *Tensor
	}{{opt, p}, {opt2, q}} {
		ls := s.Child()
		ls.Sum(ls.Mul(o.x, c)).Backward()
		o.opt.Step()
		ls.Close()
	}
	near(t, "resumed", vals(t, q), vals(t, p), 0)
	near(t, "reference step 4", vals(t, p), adamwRef(p0, coef, 4, cfg), 1e-12)
	if err := opt2.LoadState(map[string]*Tensor{}, 0); err == nil {
		t.Fatal("LoadState with missing entries did not fail")
	}
	if _, err := NewAdamW(nil, AdamWConfig{LR: -1}); err == nil {
		t.Fatal("negative learning rate accepted")
	}
}

func TestClipGradNorm(t *testing.T) {
	s := NewScope()
	defer s.Close()
	a := FromSlice(s, []float32{1, 1}, 2)
	b := FromSlice(s, []float32{1}, 1)
	a.SetRequiresGrad(true)
	b.SetRequiresGrad(true)
	// grads: a -> [3, 0], b -> [4]; global norm 5
	l := s.Add(s.Sum(s.Mul(a, FromSlice(s, []float32{3, 0}, 2))), s.MulScalar(s.Sum(b), 4))
	if err := l.Backward(); err != nil {
		t.Fatal(err)
	}
	n, err := ClipGradNorm([]*Tensor{a, b}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(n-5) > 1e-6 {
		t.Fatalf("norm %v, want 5", n)
	}
	near(t, "clipped a", vals(t, s.Grad(a)), []float64{0.6, 0}, 1e-6)
	near(t, "clipped b", vals(t, s.Grad(b)), []float64{0.8}, 1e-6)
	n, _ = ClipGradNorm([]*Tensor{a, b}, 10)
	if math.Abs(n-1) > 1e-5 {
		t.Fatalf("norm after clipping %v, want 1", n)
	}
	near(t, "unclipped", vals(t, s.Grad(b)), []float64{0.8}, 1e-6)
}
