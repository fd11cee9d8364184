package infer

import (
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/torch"
)

// UNetDenoiser runs a radmodel.UNet: a timestep map goes through RAD's
// spatial noise embedding, scalar timesteps through ADM's own.
type UNetDenoiser struct {
	Model *radmodel.UNet
}

// Predict implements Denoiser.
func (d UNetDenoiser) Predict(s *torch.Scope, x *torch.Tensor, t Timesteps, y *torch.Tensor) *torch.Tensor {
	if t.Map != nil {
		return d.Model.ForwardWith(s, x, t.Map, y, radmodel.ForwardOpts{TauLevels: t.Levels})
	}
	return d.Model.Forward(s, x, t.Scalar, y)
}

// LearnSigma implements Denoiser.
func (d UNetDenoiser) LearnSigma() bool {
	return d.Model.Config().OutputsVariance()
}
