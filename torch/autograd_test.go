package torch

import (
	"math"
	"runtime"
	"sync"
	"testing"
)

func TestBackwardAnalytic(t *testing.T) {
	s := NewScope()
	defer s.Close()
	x := FromSlice(s, []float64{1, -2, 3}, 3)
	if err := x.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	// L = sum(x^3 + 2x) -> dL/dx = 3x^2 + 2
	l := s.Sum(s.Add(s.PowScalar(x, 3), s.MulScalar(x, 2)))
	noErr(t, s)
	if err := l.Backward(); err != nil {
		t.Fatal(err)
	}
	near(t, "grad", vals(t, s.Grad(x)), []float64{5, 14, 29}, 1e-12)
	// gradients accumulate, and ZeroGrad drops them
	l2 := s.Sum(s.MulScalar(x, 10))
	if err := l2.Backward(); err != nil {
		t.Fatal(err)
	}
	near(t, "accumulated", vals(t, s.Grad(x)), []float64{15, 24, 39}, 1e-12)
	if err := x.ZeroGrad(); err != nil {
		t.Fatal(err)
	}
	if g := s.Grad(x); g != nil {
		t.Fatalf("grad after ZeroGrad: %v", vals(t, g))
	}
	// backward of a non-scalar needs an explicit gradient
	y := s.MulScalar(x, 2)
	if err := y.Backward(); err == nil {
		t.Fatal("backward of a vector without grad_output did not fail")
	}
	if err := y.BackwardWith(FromSlice(s, []float64{1, 0, 2}, 3), false); err != nil {
		t.Fatal(err)
	}
	near(t, "vjp", vals(t, s.Grad(x)), []float64{2, 0, 4}, 0)
}

// TestGradientsFiniteDifference checks conv2d, group_norm, silu, softmax,
// interpolate and linear gradients against central differences in float64.
func TestGradientsFiniteDifference(t *testing.T) {
	g := NewGenerator(7)
	defer g.Close()
	root := NewScope()
	defer root.Close()
	x := root.Randn(g, Float64, CPU, 1, 4, 5, 5)
	w := root.Randn(g, Float64, CPU, 4, 2, 3, 3)
	lw := root.Randn(g, Float64, CPU, 3, 4)
	r := root.Randn(g, Float64, CPU, 1, 3, 10, 10)
	noErr(t, root)
	for _, p := range []*Tensor{x, w, lw} {
		if err := p.SetRequiresGrad(true); err != nil {
			t.Fatal(err)
		}
	}
	f := func(s *Scope) *Tensor {
		h := s.Conv2d(x, w, nil, ConvOpts{Padding: 1, Groups: 2})
		h = s.SiLU(s.GroupNorm(h, 2, nil, nil, 1e-5))
		h = s.Interpolate(h, 10, 10, Bilinear, true)
		h = s.Permute(s.Linear(s.Permute(h, 0, 2, 3, 1), lw, nil), 0, 3, 1, 2) // 1x1 conv as linear
		h = s.Softmax(h, 1)
		return s.Sum(s.Mul(h, r))
	}
	s := root.Child()
	l := f(s)
	noErr(t, s)
	if err := l.Backward(); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*Tensor{"x": x, "w": w, "lw": lw} {
		grad := vals(t, s.Grad(p))
		data := vals(t, p)
		eps := 1e-6
		for _, i := range []int{0, len(data) / 3, len(data) / 2, len(data) - 1} {
			fd := func(delta float64) float64 {
				ns := NewNoGradScope()
				defer ns.Close()
				orig := data[i]
				data[i] = orig + delta
				if err := p.CopyFrom(FromSlice(ns, data, p.Shape()...)); err != nil {
					t.Fatal(err)
				}
				data[i] = orig
				v, err := f(ns).Item()
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			num := (fd(eps) - fd(-eps)) / (2 * eps)
			ns := NewNoGradScope()
			if err := p.CopyFrom(FromSlice(ns, data, p.Shape()...)); err != nil {
				t.Fatal(err)
			}
			ns.Close()
			if math.Abs(num-grad[i]) > 1e-6*(1+math.Abs(num)) {
				t.Fatalf("d/d%s[%d]: autograd %.10g, finite difference %.10g", name, i, grad[i], num)
			}
		}
	}
	s.Close()
}

func TestNoGradAndInference(t *testing.T) {
	s := NewScope()
	defer s.Close()
	x := FromSlice(s, []float32{1, 2}, 2)
	x.SetRequiresGrad(true)
	if !s.Mul(x, x).RequiresGrad() {
		t.Fatal("grad scope did not record")
	}
	ng := s.Child().SetGrad(false)
	if ng.Mul(x, x).RequiresGrad() {
		t.Fatal("no-grad scope recorded")
	}
	ng.Close()
	inf := s.Child().SetInference(true)
	y := inf.Mul(x, x)
	if y.RequiresGrad() {
		t.Fatal("inference scope recorded")
	}
	near(t, "inference", vals(t, y), []float64{1, 4}, 0)
	inf.Close()
	noErr(t, s)
}

// TestModesFromManyGoroutines runs grad and no-grad scopes on 16 goroutines
// at once. Goroutines hop between OS threads between cgo calls, so a mode
// that leaked through thread-local state would show up as a wrong
// requires_grad on some result.
func TestModesFromManyGoroutines(t *testing.T) {
	root := NewScope()
	defer root.Close()
	x := FromSlice(root, []float32{1, 2, 3}, 3)
	x.SetRequiresGrad(true)
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for gi := 0; gi < 16; gi++ {
		wg.Add(1)
		go func(gi int) {
			defer wg.Done()
			for it := 0; it < 300; it++ {
				grad := (gi+it)%2 == 0
				s := NewScope().SetGrad(grad)
				y := s.Add(s.Mul(x, x), x)
				if s.Err() != nil || y.RequiresGrad() != grad {
					errs <- "mode leaked between goroutines"
					s.Close()
					return
				}
				if it%50 == 0 {
					runtime.Gosched()
				}
				s.Close()
			}
		}(gi)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestAutocastCPUBFloat16(t *testing.T) {
	s := NewScope()
	defer s.Close()
	a := s.Ones(Float32, CPU, 4, 4)
	ac := s.Child().SetAutocast(BFloat16)
	y := ac.Matmul(a, a)
	if y == nil {
		t.Fatal(ac.Err())
	}
	if y.DType() != BFloat16 {
		t.Fatalf("matmul under CPU bf16 autocast gave %s", y.DType())
	}
	ac.Close()
	// the mode does not stick to the thread after the call
	if z := s.Matmul(a, a); z.DType() != Float32 {
		t.Fatalf("matmul after autocast gave %s", z.DType())
	}
}

func TestInPlace(t *testing.T) {
	s := NewScope()
	defer s.Close()
	a := FromSlice(s, []float32{1, 2, 3}, 3)
	b := FromSlice(s, []float32{10, 20, 30}, 3)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.AddInPlace(b))
	near(t, "add_", vals(t, a), []float64{11, 22, 33}, 0)
	must(a.SubInPlace(b))
	must(a.MulInPlace(b))
	near(t, "mul_", vals(t, a), []float64{10, 40, 90}, 0)
	must(a.ScaleInPlace(0.5))
	must(a.AddScalarInPlace(1))
	near(t, "scale_ add_", vals(t, a), []float64{6, 21, 46}, 0)
	must(a.LerpInPlace(b, 0.5)) // EMA step with decay 0.5
	near(t, "lerp_", vals(t, a), []float64{8, 20.5, 38}, 0)
	must(a.CopyFrom(b))
	near(t, "copy_", vals(t, a), []float64{10, 20, 30}, 0)
	must(a.Fill(7))
	near(t, "fill_", vals(t, a), []float64{7, 7, 7}, 0)
	must(a.Zero())
	near(t, "zero_", vals(t, a), []float64{0, 0, 0}, 0)
	if err := a.AddInPlace(FromSlice(s, []float32{1, 2}, 2)); err == nil {
		t.Fatal("in-place add of mismatched shapes did not fail")
	}
}
