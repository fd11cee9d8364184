package diffusion

import (
	"math"

	"github.com/radinpaint/rad/torch"
)

// DefaultLambdaVLB is the weight of the VLB term in RAD's hybrid loss (the
// authors' released code; ADM itself uses 1).
const DefaultLambdaVLB = 1e-3

// LossOpts configures the hybrid loss.
type LossOpts struct {
	// LambdaVLB weighs the VLB term (DefaultLambdaVLB if zero and not
	// NoVLB).
	LambdaVLB float64
	// LearnSigma: the model outputs [eps, v]; the VLB is only defined then.
	LearnSigma bool
	// Param is the model's parameterization: the MSE term regresses its
	// target (eps, v or x0) and the VLB reads its x0.
	Param Param
	// MSEAllPixels averages the MSE over every pixel instead of only those
	// with Bbar > 0 (guided-diffusion's plain mean, for parity checks).
	MSEAllPixels bool
	// MinSNRGamma > 0 weighs each pixel's squared error by the min-SNR-gamma
	// rule (Hang et al. 2023) at the pixel's own signal-to-noise ratio
	// A/Bbar (MinSNRWeight); 0 leaves the MSE unweighted (the paper's).
	MinSNRGamma float64
}

// MinSNRWeight is the min-SNR-gamma loss weight per pixel for the
// parameterization p, at SNR = A/Bbar: min(SNR, gamma)/SNR for eps,
// min(SNR, gamma)/(SNR + 1) for v and min(SNR, gamma) for x0 — all three
// the x0 loss min(SNR, gamma) |x0 - x0_hat|^2 written in the target's
// units. It caps the weight of the low-noise states, where SNR > gamma,
// so that the high-noise ones (a large hole's colour and layout) get a
// larger share of the gradient (docs/DESIGN.md §5.1). Written without
// dividing by Bbar: eps min(1, gamma Bbar/A), v min(A, gamma Bbar)
// (A + Bbar = 1); x0's is A/Bbar capped at gamma, 0 where Bbar = 0 (no
// noise: masked out of the loss anyway). [B,1,H,W], float32.
func MinSNRWeight(s *torch.Scope, lv *Levels, p Param, gamma float64) *torch.Tensor {
	a := s.To(s.Exp(lv.LogA), torch.Float32)
	bbar := s.To(lv.Bbar, torch.Float32)
	gb := s.MulScalar(bbar, gamma)
	switch p {
	case ParamV:
		return s.Minimum(a, gb)
	case ParamX0:
		snr := s.Div(a, s.Clamp(bbar, 1e-30, math.Inf(1)))
		w := s.Clamp(snr, 0, gamma)
		return s.Where(s.GtScalar(bbar, 0), w, s.ZerosLike(w))
	}
	return s.Clamp(s.Div(gb, s.Clamp(a, 1e-30, math.Inf(1))), 0, 1)
}

// Losses are per-sample ([B], float32) loss terms.
type Losses struct {
	MSE, VB, Loss *torch.Tensor
}

// mseLoss is Eq. (7) per sample: the squared error of the prediction (eps,
// or the target of another parameterization) averaged over the pixels where
// Bbar > 0 (eps is undefined where no noise was added). A non-nil weight
// ([B,1,H,W]) multiplies each pixel's squared error; the average is still
// over the pixels (MinSNRWeight).
func mseLoss(s *torch.Scope, lv *Levels, target, pred *torch.Tensor, all bool, weight *torch.Tensor) *torch.Tensor {
	sq := s.Square(s.Sub(s.To(target, torch.Float32), s.To(pred, torch.Float32)))
	if weight != nil {
		sq = s.Mul(sq, weight)
	}
	if all {
		return s.Mean(sq, 1, 2, 3)
	}
	w := s.To(s.GtScalar(lv.Bbar, 0), torch.Float32) // [B,1,H,W]
	num := s.Sum(s.Mul(sq, w), 1, 2, 3)
	cnt := s.MulScalar(s.Sum(w, 1, 2, 3), float64(target.Size(1)))
	return s.Div(num, s.Clamp(cnt, 1, math.Inf(1)))
}

// normalKL is KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) in nats, per
// element.
func normalKL(s *torch.Scope, mean1, logvar1, mean2, logvar2 *torch.Tensor) *torch.Tensor {
	d := s.Sub(mean1, mean2)
	return s.MulScalar(s.Add(s.Add(s.AddScalar(s.Sub(logvar2, logvar1), -1), s.Exp(s.Sub(logvar1, logvar2))),
		s.Mul(s.Square(d), s.Exp(s.Neg(logvar2)))), 0.5)
}

// approxStdNormalCDF is the tanh approximation of the standard normal CDF
// used by guided-diffusion's decoder.
func approxStdNormalCDF(s *torch.Scope, x *torch.Tensor) *torch.Tensor {
	inner := s.MulScalar(s.Add(x, s.MulScalar(s.PowScalar(x, 3), 0.044715)), math.Sqrt(2/math.Pi))
	return s.MulScalar(s.AddScalar(s.Tanh(inner), 1), 0.5)
}

// decoderLogLikelihood is the log-likelihood of x0 (in [-1, 1], 256 bins)
// under a discretised Gaussian with the given means and log scales.
func decoderLogLikelihood(s *torch.Scope, x, means, logScales *torch.Tensor) *torch.Tensor {
	centered := s.Sub(x, means)
	inv := s.Exp(s.Neg(logScales))
	cdfPlus := approxStdNormalCDF(s, s.Mul(inv, s.AddScalar(centered, 1.0/255)))
	cdfMin := approxStdNormalCDF(s, s.Mul(inv, s.AddScalar(centered, -1.0/255)))
	logCdfPlus := s.Log(s.Clamp(cdfPlus, 1e-12, math.Inf(1)))
	logOneMinusCdfMin := s.Log(s.Clamp(s.RSubScalar(1, cdfMin), 1e-12, math.Inf(1)))
	logDelta := s.Log(s.Clamp(s.Sub(cdfPlus, cdfMin), 1e-12, math.Inf(1)))
	return s.Where(s.LtScalar(x, -0.999), logCdfPlus,
		s.Where(s.GtScalar(x, 0.999), logOneMinusCdfMin, logDelta))
}

// vlbLoss is Eq. (6) per sample, in bits per dimension: per pixel where
// b > 0 the decoder NLL of x0 at the pixel's first step of its phase and
// KL(q posterior || p_theta) elsewhere, 0 where b = 0, averaged over all
// elements. eps is frozen (detached), so the VLB trains only the variance.
func (sc *Schedule) vlbLoss(s *torch.Scope, lv *Levels, p *Posterior, x0, xt, out *torch.Tensor, param Param) *torch.Tensor {
	c := x0.Size(1)
	frozenOut := s.Cat(1, s.Detach(s.Narrow(out, 1, 0, c)), s.Narrow(out, 1, c, c))
	pr := sc.PMeanVarianceOf(s, lv, p, xt, frozenOut, param, true, false)
	trueMean := PosteriorMean(s, lv, p, x0, xt)
	trueLogVar := like(s, p.LogVarianceClipped, xt)
	kl := s.DivScalar(normalKL(s, trueMean, trueLogVar, pr.Mean, pr.LogVariance), math.Ln2)
	nll := s.DivScalar(s.Neg(decoderLogLikelihood(s, x0, pr.Mean, s.MulScalar(pr.LogVariance, 0.5))), math.Ln2)
	px := s.Where(lv.First, nll, kl)
	px = s.Where(lv.Frozen, s.ZerosLike(px), px)
	return s.Mean(s.To(px, torch.Float32), 1, 2, 3)
}

// Loss is RAD's hybrid loss, L = L_mse + lambda_vlb L_vlb (docs/DESIGN.md §2.6), per
// sample, for x_t = QSample(x0, noise) at the levels lv and the model's
// output on x_t.
func (sc *Schedule) Loss(s *torch.Scope, lv *Levels, p *Posterior, x0, xt, noise, out *torch.Tensor, o LossOpts) *Losses {
	c := x0.Size(1)
	target := o.Param.Target(s, lv, x0, noise)
	var w *torch.Tensor
	if o.MinSNRGamma > 0 {
		w = MinSNRWeight(s, lv, o.Param, o.MinSNRGamma)
	}
	l := &Losses{MSE: mseLoss(s, lv, target, s.Narrow(out, 1, 0, c), o.MSEAllPixels, w)}
	if !o.LearnSigma {
		l.VB = s.ZerosLike(l.MSE)
		l.Loss = l.MSE
		return l
	}
	lambda := o.LambdaVLB
	if lambda == 0 {
		lambda = DefaultLambdaVLB
	}
	l.VB = sc.vlbLoss(s, lv, p, x0, xt, out, o.Param)
	l.Loss = s.Add(l.MSE, s.MulScalar(l.VB, lambda))
	return l
}
