package diffusion

import (
	"fmt"

	"github.com/radinpaint/rad/torch"
)

// Param is what a model's first C output channels predict (its
// parameterization; docs/DESIGN.md §2.8). It is model metadata
// (radmodel.Config.Prediction): every sampler and the loss read it, so a
// model is always sampled as it was trained.
type Param string

const (
	// ParamEps predicts the noise eps (ADM, every released guided-diffusion
	// checkpoint; the zero value).
	ParamEps Param = ""
	// ParamV predicts v = sqrt(A) eps - sqrt(Bbar) x0 per pixel (Salimans
	// and Ho 2022): its x0 = sqrt(A) x_s - sqrt(Bbar) v is well conditioned
	// at every noise level, where eps's x0 divides by sqrt(A).
	ParamV Param = "v"
	// ParamX0 predicts x0 itself.
	ParamX0 Param = "x0"
)

// ParseParam reads a parameterization name ("eps" or "" for ParamEps, "v",
// "x0").
func ParseParam(s string) (Param, error) {
	switch s {
	case "", "eps":
		return ParamEps, nil
	case "v":
		return ParamV, nil
	case "x0":
		return ParamX0, nil
	}
	return ParamEps, fmt.Errorf("unknown prediction %q (want eps, v or x0)", s)
}

// String is the parameterization's name ("eps" for the zero value).
func (p Param) String() string {
	if p == ParamEps {
		return "eps"
	}
	return string(p)
}

// sqrtA and sqrtBbar are sqrt(A(s)) and sqrt(Bbar(s)) per pixel in x's
// dtype.
func sqrtA(s *torch.Scope, lv *Levels, x *torch.Tensor) *torch.Tensor {
	return like(s, s.Exp(s.MulScalar(lv.LogA, 0.5)), x)
}

func sqrtBbar(s *torch.Scope, lv *Levels, x *torch.Tensor) *torch.Tensor {
	return like(s, s.Sqrt(lv.Bbar), x)
}

// Target is the training target of the parameterization for x_s =
// QSample(x0, eps) (Eq. 7 with eps replaced by the target).
func (p Param) Target(s *torch.Scope, lv *Levels, x0, eps *torch.Tensor) *torch.Tensor {
	switch p {
	case ParamV:
		return VTarget(s, lv, x0, eps)
	case ParamX0:
		return x0
	}
	return eps
}

// VTarget is v = sqrt(A) eps - sqrt(Bbar) x0, per pixel.
func VTarget(s *torch.Scope, lv *Levels, x0, eps *torch.Tensor) *torch.Tensor {
	return s.Sub(s.Mul(sqrtA(s, lv, eps), eps), s.Mul(sqrtBbar(s, lv, x0), x0))
}

// X0FromV is x0 = sqrt(A) x_s - sqrt(Bbar) v (exactly x_s where Bbar = 0).
func X0FromV(s *torch.Scope, lv *Levels, xs, v *torch.Tensor) *torch.Tensor {
	return s.Sub(s.Mul(sqrtA(s, lv, xs), xs), s.Mul(sqrtBbar(s, lv, xs), v))
}

// X0 is the model's prediction of x0 from its first C output channels
// under parameterization p (unclipped).
func (p Param) X0(s *torch.Scope, lv *Levels, xs, pred *torch.Tensor) *torch.Tensor {
	switch p {
	case ParamV:
		return X0FromV(s, lv, xs, pred)
	case ParamX0:
		return s.Where(s.Expand(lv.Frozen, xs.Shape()...), xs, pred)
	}
	return PredictX0(s, lv, xs, pred)
}

// Eps is the noise implied by the model's prediction (0 where Bbar = 0).
func (p Param) Eps(s *torch.Scope, lv *Levels, xs, pred *torch.Tensor) *torch.Tensor {
	if p == ParamEps {
		return pred
	}
	// eps = (x_s - sqrt(A) x0) / sqrt(Bbar): well conditioned wherever the
	// pixel is noisy; 0 where it is clean
	x0 := p.X0(s, lv, xs, pred)
	num := s.Sub(xs, s.Mul(sqrtA(s, lv, xs), x0))
	return safeDiv(s, num, s.Expand(sqrtBbar(s, lv, xs), xs.Shape()...))
}
