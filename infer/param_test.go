package infer

import (
	"context"
	"math"
	"testing"

	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
)

// oracle knows the clean image and answers, at any state, the exact target
// of its parameterization for the hole (eps, v or x0); declared says which
// parameterization it reports (Prediction), which may be a lie.
type oracle struct {
	x0       *torch.Tensor
	param    diffusion.Param
	declared *diffusion.Param
	abar     []float64
}

func (o oracle) Predict(s *torch.Scope, x *torch.Tensor, t Timesteps, _ *torch.Tensor) *torch.Tensor {
	k, _ := s.Max(t.Map).Item() // the hole's timestep (known pixels: -1)
	a := o.abar[int(k+0.5)]
	eps := s.DivScalar(s.Sub(x, s.MulScalar(o.x0, sqrt(a))), sqrt(1-a))
	switch o.param {
	case diffusion.ParamV:
		return s.Sub(s.MulScalar(eps, sqrt(a)), s.MulScalar(o.x0, sqrt(1-a)))
	case diffusion.ParamX0:
		return s.Clone(o.x0)
	}
	return eps
}
func (o oracle) LearnSigma() bool { return false }

// oracleDeclared is an oracle that reports a parameterization.
type oracleDeclared struct{ oracle }

func (o oracleDeclared) Prediction() diffusion.Param { return *o.declared }

func sqrt(v float64) float64 { return math.Sqrt(max(v, 0)) }

// TestSamplersHonourPrediction: a model that always knows the answer, in
// its own parameterization, makes RAD's ancestral and DDIM samplers
// return the clean image when its parameterization is
// declared (the tiling and counting wrappers pass it on), and something else when a v or x0 model is read as eps.
func TestSamplersHonourPrediction(t *testing.T) {
	s := torch.NewNoGradScope()
	defer s.Close()
	base, _ := diffusion.NewNamedBase("linear", 1000)
	abar := base.AlphasCumprod()
	g := torch.NewGenerator(9)
	defer g.Close()
	x0 := s.MulScalar(s.Tanh(s.Randn(g, torch.Float32, torch.CPU, 1, 3, 16, 16)), 0.9)
	m := s.Zeros(torch.Float32, torch.CPU, 1, 1, 16, 16)
	s.Narrow(s.Narrow(m, 2, 4, 8), 3, 4, 8).Fill(1)
	for _, ddim := range []bool{false, true} {
		for _, p := range []diffusion.Param{diffusion.ParamEps, diffusion.ParamV, diffusion.ParamX0} {
			proc, err := NewProcess(base, "50", 0)
			if err != nil {
				t.Fatal(err)
			}
			proc.DDIM = ddim
			// the result, and the x0 prediction of the first (noisiest) step
			run := func(d Denoiser) (float64, float64) {
				gen := torch.NewGenerator(1)
				defer gen.Close()
				first := -1.0
				hole := s.Expand(s.GeScalar(m, 1), x0.Shape()...)
				o := SampleOptions{Callback: func(i, total int, x, pred *torch.Tensor) {
					if i == 1 {
						first, _ = s.Max(s.Abs(s.Where(hole, s.Sub(pred, x0), s.ZerosLike(x0)))).Item()
					}
				}}
				out, err := proc.Sample(context.Background(), s, d, x0, m, gen, o)
				if err != nil {
					t.Fatal(err)
				}
				v, _ := s.Max(s.Abs(s.Sub(out, x0))).Item()
				return v, first
			}
			p := p
			honest := oracleDeclared{oracle{x0: x0, param: p, declared: &p, abar: abar}}
			if d, f := run(honest); d > 1e-3 || f > 1e-3 {
				t.Errorf("ddim %v, %s model: result off the clean image by %g, first x0 prediction by %g", ddim, p, d, f)
			}
			if q := PredictionOf(TiledDenoiser{Inner: countingDenoiser{Denoiser: honest}}); q != p {
				t.Errorf("tiled and counted %s model: PredictionOf says %s", p, q)
			}
			if p != diffusion.ParamEps {
				if _, f := run(oracle{x0: x0, param: p, abar: abar}); f < 0.1 {
					t.Errorf("ddim %v: a %s model read as eps still predicts x0 within %g at the first step: the test cannot tell", ddim, p, f)
				}
			}
			proc.Close()
		}
	}
}
