package infer

import (
	"context"
	"fmt"

	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
)

// PreviewSampler is the sampler of a training run's sample grids (it has
// train.PreviewFunc's type; train does not import this package): RAD's
// ancestral sampler over `steps` respaced steps of the named chain (0 and
// "": 1000, "linear"), the per-pixel timestep map when spatial (the RAD
// objectives) or the scalar timestep (adm, Cfg. 2), a fixed seed (the same
// noise at every grid), class 0 for class-conditional models.
func PreviewSampler(noiseSchedule string, diffusionSteps, steps int, offset float64, spatial bool) (
	func(ctx context.Context, s *torch.Scope, m *radmodel.UNet, x0, mask *torch.Tensor) (*torch.Tensor, error), error) {
	if steps < 1 {
		return nil, fmt.Errorf("preview steps %d, want >= 1", steps)
	}
	base, err := diffusion.NewNamedBase(noiseSchedule, diffusionSteps)
	if err != nil {
		return nil, err
	}
	p, err := NewProcess(base, fmt.Sprint(min(steps, base.N())), offset)
	if err != nil {
		return nil, err
	}
	p.Spatial = spatial
	return func(ctx context.Context, s *torch.Scope, m *radmodel.UNet, x0, mask *torch.Tensor) (*torch.Tensor, error) {
		g := torch.NewGenerator(0x5a17)
		defer g.Close()
		var o SampleOptions
		if m.Config().NumClasses > 0 {
			o.Y = s.Zeros(torch.Int64, x0.Device(), x0.Size(0))
		}
		return p.Sample(ctx, s, UNetDenoiser{Model: m}, x0, mask, g, o)
	}, nil
}
