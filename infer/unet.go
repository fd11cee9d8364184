package infer

import (
	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
)

// UNetDenoiser runs a radmodel.UNet: a timestep map goes through RAD's
// spatial noise embedding, scalar timesteps through ADM's own.
type UNetDenoiser struct {
	Model *radmodel.UNet
	// ChannelsLast runs the network on channels-last activations
	// (radmodel.ForwardOpts.ChannelsLast).
	ChannelsLast bool
}

// Predict implements Denoiser.
func (d UNetDenoiser) Predict(s *torch.Scope, x *torch.Tensor, t Timesteps, y *torch.Tensor) *torch.Tensor {
	if t.Map != nil {
		return d.Model.ForwardWith(s, x, t.Map, y, radmodel.ForwardOpts{TauLevels: t.Levels, ChannelsLast: d.ChannelsLast})
	}
	return d.Model.ForwardWith(s, x, t.Scalar, y, radmodel.ForwardOpts{ChannelsLast: d.ChannelsLast})
}

// LearnSigma implements Denoiser.
func (d UNetDenoiser) LearnSigma() bool {
	return d.Model.Config().OutputsVariance()
}

// Prediction implements Parameterized: the model's own parameterization
// (its config's "prediction"; eps for released checkpoints).
func (d UNetDenoiser) Prediction() diffusion.Param {
	p, _ := diffusion.ParseParam(d.Model.Config().Prediction) // validated at load
	return p
}
