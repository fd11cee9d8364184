package diffusion

import (
	"fmt"
	"math"
	"testing"

	"github.com/radinpaint/rad/torch"
)

func ints(t *testing.T, x *torch.Tensor) []int {
	t.Helper()
	v, err := x.Int64s()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, len(v))
	for i := range v {
		out[i] = int(v[i])
	}
	return out
}

func closeTo(t *testing.T, name string, got, want *torch.Tensor, atol, rtol float64) {
	t.Helper()
	if got == nil || want == nil {
		t.Fatalf("%s: nil tensor (got %v, want %v)", name, got, want)
	}
	g, w := f64s(t, got), f64s(t, want)
	if len(g) != len(w) {
		t.Fatalf("%s: %d values, want %d", name, len(g), len(w))
	}
	worst, at := 0.0, 0
	for i := range g {
		d := math.Abs(g[i] - w[i])
		if math.IsNaN(g[i]) || d > atol+rtol*math.Abs(w[i]) {
			t.Fatalf("%s[%d] = %.8g, want %.8g (diff %.3g)", name, i, g[i], w[i], d)
		}
		if d > worst {
			worst, at = d, i
		}
	}
	t.Logf("%s: max |diff| %.3g at %d", name, worst, at)
}

// setup gives the schedule of chain `name` and, for phase 2, the steps of
// the same k shifted by N with the mask all zeros (the same numbers must
// come out).
func maskFor(s *torch.Scope, x *torch.Tensor, phase int) *torch.Tensor {
	sh := x.Shape()
	v := 1.0
	if phase == 2 {
		v = 0
	}
	return s.Full(v, torch.Float32, torch.CPU, sh[0], 1, sh[2], sh[3])
}

func globalSteps(ts []int, phase, n int) []int {
	out := make([]int, len(ts))
	for i, t := range ts {
		out[i] = t
		if phase == 2 {
			out[i] += n
		}
	}
	return out
}

func TestParityWithGuidedDiffusion(t *testing.T) {
	root := torch.NewNoGradScope()
	defer root.Close()
	ref := loadRef(t, root)
	x0 := ref.Get("in/x_start")
	noise := ref.Get("in/noise")
	for name, base := range chains(t) {
		sc := NewSchedule(base)
		tm := NewTimestepMapper(base, 0)
		for _, phase := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/phase%d", name, phase), func(t *testing.T) {
				s := root.Child()
				defer s.Close()
				levels := func(ts []int, x *torch.Tensor) (*Levels, *Posterior, *torch.Tensor) {
					m := maskFor(s, x, phase)
					lv, err := sc.Levels(s, globalSteps(ts, phase, sc.N()), m)
					if err != nil {
						t.Fatal(err)
					}
					return lv, sc.PosteriorOf(s, lv, m), m
				}
				// q_sample
				qt := ints(t, ref.Get(name+"/q_sample/t"))
				lv, _, _ := levels(qt, x0)
				closeTo(t, "q_sample", QSample(s, lv, x0, noise), ref.Get(name+"/q_sample/out"), 1e-5, 0)
				// p_mean_variance and p_sample
				pt := ints(t, ref.Get(name+"/pmv/t"))
				x := ref.Get(name + "/pmv/x")
				lv, post, _ := levels(pt, x)
				pr := sc.PMeanVariance(s, lv, post, x, ref.Get(name+"/pmv/model_output"), true, true)
				if err := s.Err(); err != nil {
					t.Fatal(err)
				}
				closeTo(t, "pred_xstart", pr.PredX0, ref.Get(name+"/pmv/pred_xstart"), 1e-5, 0)
				closeTo(t, "mean", pr.Mean, ref.Get(name+"/pmv/mean"), 1e-5, 0)
				closeTo(t, "variance", pr.Variance, ref.Get(name+"/pmv/variance"), 1e-9, 1e-5)
				closeTo(t, "log_variance", pr.LogVariance, ref.Get(name+"/pmv/log_variance"), 1e-5, 0)
				closeTo(t, "p_sample", AncestralStep(s, lv, pr, x, ref.Get(name+"/p_sample/noise")),
					ref.Get(name+"/p_sample/sample"), 1e-5, 0)
				// the model timestep the base model is fed
				mt := f64s(t, ref.Get(name+"/pmv/model_t"))
				tauT := tm.Map(s, lv.Bbar)
				if err := s.Err(); err != nil {
					t.Fatal(err)
				}
				tau := f64s(t, tauT)
				hw := len(tau) / len(mt)
				for i := range mt {
					if math.Abs(tau[i*hw]-mt[i]) > 1e-3 || float64(base.TimestepMap[pt[i]]) != mt[i] {
						t.Fatalf("model timestep %d: tau %v, map %d, want %v", i, tau[i*hw], base.TimestepMap[pt[i]], mt[i])
					}
				}
				// DDIM (r100 only), same x and model output as pmv
				if name == "r100" {
					for _, eta := range []float64{0, 1} {
						k := fmt.Sprintf("r100/ddim_eta%d/", int(eta))
						out := DDIMStep(s, lv, pr, x, ref.Get(k+"noise"), eta)
						closeTo(t, k+"sample", out, ref.Get(k+"sample"), 1e-5, 0)
						closeTo(t, k+"pred_xstart", pr.PredX0, ref.Get(k+"pred_xstart"), 1e-5, 0)
					}
				}
				// training losses (lambda_vlb = 1, MSE over all pixels), t = 0 included
				for _, lk := range []string{"loss", "loss2"} {
					p := name + "/" + lk + "/"
					if ref.Get(p+"t") == nil {
						continue
					}
					lt := ints(t, ref.Get(p+"t"))
					lv, post, _ := levels(lt, x0)
					xt := QSample(s, lv, x0, noise)
					closeTo(t, lk+"/x_t", xt, ref.Get(p+"x_t"), 1e-5, 0)
					l := sc.Loss(s, lv, post, x0, xt, noise, ref.Get(p+"model_output"),
						LossOpts{LambdaVLB: 1, LearnSigma: true, MSEAllPixels: true})
					if err := s.Err(); err != nil {
						t.Fatal(err)
					}
					closeTo(t, lk+"/mse", l.MSE, ref.Get(p+"mse"), 1e-5, 1e-5)
					closeTo(t, lk+"/vb", l.VB, ref.Get(p+"vb"), 1e-5, 1e-4)
					closeTo(t, lk+"/loss", l.Loss, ref.Get(p+"loss"), 1e-5, 1e-4)
					// the RAD mask-restricted MSE is the same when every pixel is noised
					l2 := sc.Loss(s, lv, post, x0, xt, noise, ref.Get(p+"model_output"), LossOpts{LambdaVLB: 1, LearnSigma: true})
					closeTo(t, lk+"/mse(rad)", l2.MSE, ref.Get(p+"mse"), 1e-5, 1e-5)
				}
			})
		}
	}
}
