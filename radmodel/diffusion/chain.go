package diffusion

import (
	"math"

	"github.com/radinpaint/rad/torch"
)

// The plain (scalar) chain's forward process, as the RePaint baseline
// uses it on whole images (docs/DESIGN.md §4.4).

// QSampleStep is q(x_t | x_0) of the chain at step t for every pixel:
// sqrt(abar_t) x0 + sqrt(1 - abar_t) eps (DDPM's eq. 4).
func (b *Base) QSampleStep(s *torch.Scope, x0, eps *torch.Tensor, t int) *torch.Tensor {
	abar := b.AlphasCumprod()[t]
	return s.Add(s.MulScalar(x0, math.Sqrt(abar)), s.MulScalar(eps, math.Sqrt(1-abar)))
}

// ForwardStep is one step of the chain forward, q(x_{t+1} | x_t):
// sqrt(1 - beta_{t+1}) x + sqrt(beta_{t+1}) noise (DDPM's eq. 2; RePaint's
// jump back in time).
func (b *Base) ForwardStep(s *torch.Scope, x, noise *torch.Tensor, t int) *torch.Tensor {
	beta := b.Betas[t+1]
	return s.Add(s.MulScalar(x, math.Sqrt(1-beta)), s.MulScalar(noise, math.Sqrt(beta)))
}
