package eval

import (
	"fmt"
	"slices"

	"github.com/radinpaint/rad/torch"
)

// perceptualEps keeps the unit normalisation finite on all-zero features.
const perceptualEps = 1e-10

// MapDistance is the LPIPS-style distance between two lists of feature
// maps (layer l: a[l] and b[l], both [N, C_l, H_l, W_l]) with uniform
// weights: at every position each map's channel vector is divided by its
// L2 norm (+ 1e-10), the squared differences are averaged over channels
// and then over positions, and the layers' values are averaged. It
// returns [N] float32, owned by s. Errors name the layer and shapes.
func MapDistance(s *torch.Scope, a, b []*torch.Tensor) (*torch.Tensor, error) {
	if len(a) == 0 || len(a) != len(b) {
		return nil, fmt.Errorf("eval: map distance: %d and %d feature maps (want the same number, at least one)", len(a), len(b))
	}
	c := s.Child()
	defer c.Close()
	var sum *torch.Tensor
	var n int64 = -1
	for l := range a {
		if !a[l].Valid() || !b[l].Valid() {
			return nil, fmt.Errorf("eval: map distance: layer %d: nil or freed map", l)
		}
		sa, sb := a[l].Shape(), b[l].Shape()
		if len(sa) != 4 || !slices.Equal(sa, sb) || (n >= 0 && sa[0] != n) {
			return nil, fmt.Errorf("eval: map distance: layer %d: maps %v and %v, want equal [N, C, H, W] shapes with N the same for every layer", l, sa, sb)
		}
		n = sa[0]
		d := c.Mean(c.Square(c.Sub(unitChannels(c, a[l]), unitChannels(c, b[l]))), 1, 2, 3)
		if sum == nil {
			sum = d
		} else {
			sum = c.Add(sum, d)
		}
	}
	out := c.DivScalar(sum, float64(len(a)))
	if err := c.Err(); err != nil {
		return nil, fmt.Errorf("eval: map distance: %w", err)
	}
	return c.Keep(out), nil
}

// unitChannels divides each position's channel vector of x [N, C, H, W]
// (as float32) by its L2 norm plus perceptualEps.
func unitChannels(s *torch.Scope, x *torch.Tensor) *torch.Tensor {
	x = s.To(x, torch.Float32)
	norm := s.Sqrt(s.SumKeep(s.Square(x), 1))
	return s.Div(x, s.AddScalar(norm, perceptualEps))
}

// PerceptualDistance is the LPIPS-style distance (MapDistance) between
// images x and y ([N, C, H, W] in [-1, 1], same shape) on the feature maps
// of net, one value per image. It runs without autograd.
func PerceptualDistance(net FeatureNet, x, y *torch.Tensor) ([]float64, error) {
	if err := checkImagesTensor("perceptual distance", x); err != nil {
		return nil, err
	}
	if err := checkImagesTensor("perceptual distance", y); err != nil {
		return nil, err
	}
	if !slices.Equal(x.Shape(), y.Shape()) {
		return nil, fmt.Errorf("eval: perceptual distance: images %v and %v differ in shape", x.Shape(), y.Shape())
	}
	s := torch.NewNoGradScope().SetInference(true)
	defer s.Close()
	_, ma, err := net.Features(s, x)
	if err != nil {
		return nil, err
	}
	_, mb, err := net.Features(s, y)
	if err != nil {
		return nil, err
	}
	if len(ma) == 0 {
		return nil, fmt.Errorf("eval: perceptual distance: the feature net returns no feature maps")
	}
	d, err := MapDistance(s, ma, mb)
	if err != nil {
		return nil, err
	}
	return d.Float64s()
}
