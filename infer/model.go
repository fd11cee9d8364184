package infer

import "github.com/radinpaint/rad/torch"

// Timesteps tell the model how noisy its input is: Scalar [B] (float, the
// plain ADM embedding) or Map [B,1,H,W] (RAD's spatial noise embedding).
// Exactly one is set.
type Timesteps struct {
	Scalar, Map *torch.Tensor
	// Levels lists every distinct value of Map when the sampler knows
	// them (binary masks), so the model need not search for them.
	Levels []float64
}

// Denoiser is the network a sampler calls.
type Denoiser interface {
	// Predict returns the model output for x [B,C,H,W] at timesteps t: eps
	// in the first C channels and, with LearnSigma, ADM's variance
	// interpolation in the next C. y is the class label [B] or nil.
	Predict(s *torch.Scope, x *torch.Tensor, t Timesteps, y *torch.Tensor) *torch.Tensor
	// LearnSigma reports whether the output carries the variance channels.
	LearnSigma() bool
}
