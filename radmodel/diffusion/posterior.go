package diffusion

import (
	"math"

	"github.com/radinpaint/rad/torch"
)

// logVarFloor replaces log(0) for pixels whose variance is zero (guarded
// pixels): finite in float32 and bfloat16, and never used to add noise.
const logVarFloor = -46.0 // log(1e-20)

// like casts a level tensor to x's dtype (as guided-diffusion casts its
// float64 table entries to the sample's dtype before any arithmetic).
func like(s *torch.Scope, lvl, x *torch.Tensor) *torch.Tensor {
	if lvl.DType() == x.DType() {
		return lvl
	}
	return s.To(lvl, x.DType())
}

// safeDiv is num/den where den > 0 and 0 elsewhere, never dividing by zero.
func safeDiv(s *torch.Scope, num, den *torch.Tensor) *torch.Tensor {
	pos := s.GtScalar(den, 0)
	one := s.OnesLike(den)
	return s.Where(pos, s.Div(num, s.Where(pos, den, one)), s.ZerosLike(num))
}

// QSample is Eq. (3): x_s = sqrt(A(s)) x0 + sqrt(Bbar(s)) eps, per pixel.
func QSample(s *torch.Scope, lv *Levels, x0, eps *torch.Tensor) *torch.Tensor {
	sa := like(s, s.Exp(s.MulScalar(lv.LogA, 0.5)), x0)
	sb := like(s, s.Sqrt(lv.Bbar), x0)
	return s.Add(s.Mul(sa, x0), s.Mul(sb, eps))
}

// Posterior holds q(x_{s-1} | x_s, x0) per pixel, in the levels' dtype.
type Posterior struct {
	// Mean = Coef1 x0 + Coef2 x_s.
	Coef1, Coef2 *torch.Tensor
	// Variance is var~; LogVarianceClipped is log var~ with, at a pixel's
	// first step of its phase (k = 0), the value of its next step, as
	// guided-diffusion's posterior_log_variance_clipped.
	Variance, LogVarianceClipped *torch.Tensor
	// VarianceClipped is exp(LogVarianceClipped) (0 where guarded).
	VarianceClipped *torch.Tensor
}

// posteriorVariance is var~ = b (1 - A(s-1)) / (1 - A(s)) (the variance of
// q(x_{s-1} | x_s, x0), element-wise form of DDPM's beta-tilde), 0 where
// Bbar = 0.
func posteriorVariance(s *torch.Scope, beta, bbarPrev, bbar *torch.Tensor) *torch.Tensor {
	return safeDiv(s, s.Mul(beta, bbarPrev), bbar)
}

// PosteriorOf computes the guarded posterior of the levels lv for mask m
// (the same mask the levels were made from).
func (sc *Schedule) PosteriorOf(s *torch.Scope, lv *Levels, m *torch.Tensor) *Posterior {
	mm := s.To(m, sc.DType)
	frozen := lv.Frozen
	// mean~ = sqrt(A(s-1)) b / Bbar x0 + sqrt(a) Bbar(s-1) / Bbar x_s;
	// guarded pixels: mean~ = x_s, var~ = 0.
	c1 := safeDiv(s, s.Mul(s.Exp(s.MulScalar(lv.LogAPrev, 0.5)), lv.Beta), lv.Bbar)
	c2 := safeDiv(s, s.Mul(s.Sqrt(lv.Alpha), lv.BbarPrev), lv.Bbar)
	p := &Posterior{
		Coef1:    s.Where(frozen, s.ZerosLike(c1), c1),
		Coef2:    s.Where(frozen, s.OnesLike(c2), c2),
		Variance: s.Where(frozen, s.ZerosLike(c1), posteriorVariance(s, lv.Beta, lv.BbarPrev, lv.Bbar)),
	}
	// the next step's variance, for pixels at k = 0
	next := make([]int, len(lv.Steps))
	for i, st := range lv.Steps {
		next[i] = st
		if lv.K[i] == 0 && lv.K[i]+1 < sc.N() {
			next[i] = st + 1
		}
	}
	logANext := sc.LogCumSignal(s, next, mm)
	logAlphaNext := sc.LogOneStepSignal(s, next, mm)
	logANextPrev := sc.LogCumSignal(s, minusOne(next), mm)
	varNext := posteriorVariance(s, noiseFromLog(s, logAlphaNext), noiseFromLog(s, logANextPrev), noiseFromLog(s, logANext))
	clipped := s.Where(lv.First, varNext, p.Variance)
	clipped = s.Where(frozen, s.ZerosLike(clipped), clipped)
	p.VarianceClipped = clipped
	p.LogVarianceClipped = s.Log(s.Clamp(clipped, math.Exp(logVarFloor), math.Inf(1)))
	return p
}

func minusOne(v []int) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = x - 1
	}
	return out
}

// PosteriorMean is mean~(x0, x_s) = Coef1 x0 + Coef2 x_s (guarded pixels:
// exactly x_s).
func PosteriorMean(s *torch.Scope, lv *Levels, p *Posterior, x0, xs *torch.Tensor) *torch.Tensor {
	mean := s.Add(s.Mul(like(s, p.Coef1, x0), x0), s.Mul(like(s, p.Coef2, xs), xs))
	return s.Where(lv.Frozen, xs, mean)
}

// PredictX0 inverts Eq. (3) for x0 given the predicted noise:
// x0 = x_s / sqrt(A) - sqrt(1/A - 1) eps (x_s itself where Bbar = 0).
func PredictX0(s *torch.Scope, lv *Levels, xs, eps *torch.Tensor) *torch.Tensor {
	c1 := like(s, s.Exp(s.MulScalar(lv.LogA, -0.5)), xs)
	c2 := like(s, s.Sqrt(s.Clamp(s.Expm1(s.Neg(lv.LogA)), 0, math.Inf(1))), xs)
	return s.Sub(s.Mul(c1, xs), s.Mul(c2, eps))
}

// PredictEps is the noise implied by x0: (x_s / sqrt(A) - x0) / sqrt(1/A - 1),
// 0 where Bbar = 0.
func PredictEps(s *torch.Scope, lv *Levels, xs, x0 *torch.Tensor) *torch.Tensor {
	c1 := like(s, s.Exp(s.MulScalar(lv.LogA, -0.5)), xs)
	c2 := like(s, s.Sqrt(s.Clamp(s.Expm1(s.Neg(lv.LogA)), 0, math.Inf(1))), xs)
	return safeDiv(s, s.Sub(s.Mul(c1, xs), x0), s.Expand(c2, xs.Shape()...))
}

// Prediction is the model's reverse step p(x_{s-1} | x_s) per pixel.
type Prediction struct {
	// Eps is the noise the model predicts (implied by its x0 for v and x0
	// models), PredX0 its x0 (clipped when asked).
	Eps, PredX0                 *torch.Tensor
	Mean, Variance, LogVariance *torch.Tensor
}

// PMeanVariance turns a model output (eps in the first C channels and, with
// learnSigma, ADM's variance interpolation v in the next C) into the
// reverse step's mean (the paper's Eq. 5, written through x0 as
// guided-diffusion does) and variance: learned, log sigma^2 = frac log b +
// (1 - frac) log var~_clipped with frac = (v + 1)/2; or fixed, b (var~ of
// the next step at k = 0), as guided-diffusion's FIXED_LARGE. clip clamps
// x0 to [-1, 1]. Guarded pixels get mean x_s and variance 0.
func (sc *Schedule) PMeanVariance(s *torch.Scope, lv *Levels, p *Posterior, xs, out *torch.Tensor, learnSigma, clip bool) *Prediction {
	return sc.PMeanVarianceOf(s, lv, p, xs, out, ParamEps, learnSigma, clip)
}

// PMeanVarianceOf is PMeanVariance for a model of parameterization param:
// its first C channels are eps, v or x0, turned into x0 by param.X0
// (clipped with clip) and into the posterior mean through x0, as for eps.
func (sc *Schedule) PMeanVarianceOf(s *torch.Scope, lv *Levels, p *Posterior, xs, out *torch.Tensor, param Param, learnSigma, clip bool) *Prediction {
	c := xs.Size(1)
	pred := s.Narrow(out, 1, 0, c)
	pr := &Prediction{Eps: pred}
	var logVar *torch.Tensor
	logB := s.Log(s.Clamp(lv.Beta, math.Exp(logVarFloor), math.Inf(1)))
	if learnSigma {
		if out.Size(1) != 2*c {
			s.SetErr(errShape("learned-sigma model output", out.Shape(), 2*c))
			return pr
		}
		v := s.Narrow(out, 1, c, c)
		frac := s.MulScalar(s.AddScalar(v, 1), 0.5)
		minLog := like(s, p.LogVarianceClipped, xs)
		maxLog := like(s, logB, xs)
		logVar = s.Add(s.Mul(frac, maxLog), s.Mul(s.RSubScalar(1, frac), minLog))
	} else {
		if out.Size(1) != c {
			s.SetErr(errShape("model output", out.Shape(), c))
			return pr
		}
		fixed := s.Where(lv.First, p.VarianceClipped, lv.Beta)
		logVar = like(s, s.Log(s.Clamp(fixed, math.Exp(logVarFloor), math.Inf(1))), xs)
		logVar = s.Expand(logVar, xs.Shape()...)
	}
	frozen := s.Expand(lv.Frozen, xs.Shape()...)
	pr.LogVariance = s.Where(frozen, s.FullLike(logVar, logVarFloor), logVar)
	pr.Variance = s.Where(frozen, s.ZerosLike(logVar), s.Exp(logVar))
	x0 := param.X0(s, lv, xs, pred)
	if param != ParamEps {
		pr.Eps = param.Eps(s, lv, xs, pred)
	}
	if clip {
		x0 = s.Clamp(x0, -1, 1)
	}
	pr.PredX0 = x0
	pr.Mean = PosteriorMean(s, lv, p, x0, xs)
	return pr
}

// AncestralStep is one DDPM step: x_{s-1} = mean + sigma z, with no noise
// at a pixel's first step (k = 0) and exactly x_s where guarded.
func AncestralStep(s *torch.Scope, lv *Levels, pr *Prediction, xs, noise *torch.Tensor) *torch.Tensor {
	scale := s.Exp(s.MulScalar(pr.LogVariance, 0.5))
	noisy := s.Add(pr.Mean, s.Mul(s.Mul(scale, noise), like(s, s.LogicalNot(lv.First), xs)))
	return s.Where(lv.Frozen, xs, noisy)
}

// DDIMStep is one DDIM step (Song et al., element-wise): with
// sigma = eta sqrt(Bbar(s-1)/Bbar(s)) sqrt(1 - A(s)/A(s-1)),
// x_{s-1} = x0 sqrt(A(s-1)) + sqrt(Bbar(s-1) - sigma^2) eps + sigma z
// (no z at k = 0), exactly x_s where guarded.
func DDIMStep(s *torch.Scope, lv *Levels, pr *Prediction, xs, noise *torch.Tensor, eta float64) *torch.Tensor {
	eps := PredictEps(s, lv, xs, pr.PredX0)
	sigma := s.MulScalar(s.Mul(s.Sqrt(safeDiv(s, lv.BbarPrev, lv.Bbar)), s.Sqrt(lv.Beta)), eta)
	sa := like(s, s.Exp(s.MulScalar(lv.LogAPrev, 0.5)), xs)
	sd := like(s, s.Sqrt(s.Clamp(s.Sub(lv.BbarPrev, s.Square(sigma)), 0, math.Inf(1))), xs)
	mean := s.Add(s.Mul(pr.PredX0, sa), s.Mul(sd, eps))
	z := s.Mul(s.Mul(like(s, sigma, xs), noise), like(s, s.LogicalNot(lv.First), xs))
	return s.Where(lv.Frozen, xs, s.Add(mean, z))
}
