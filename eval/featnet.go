package eval

import (
	"fmt"

	"github.com/radinpaint/rad/torch"
)

// FeatureNet maps images to features.
type FeatureNet interface {
	// Features runs the network on x [N, C, H, W] in [-1, 1] (any float
	// dtype and device: the net moves it to its own) and returns, as
	// float32 tensors owned by s, the pooled features [N, D] (FID and KID
	// use them) and intermediate feature maps, each [N, C_l, H_l, W_l]
	// (the perceptual distance uses them; possibly none). It does not
	// record an error in s: errors are returned, naming the shapes
	// involved.
	Features(s *torch.Scope, x *torch.Tensor) (pooled *torch.Tensor, maps []*torch.Tensor, err error)
}

// TorchScriptNet is a FeatureNet from a TorchScript archive
// (torch.jit.script or torch.jit.trace, saved with torch.jit.save).
//
// The module's forward takes one float32 tensor [N, C, H, W] in [-1, 1]
// (any resizing or normalisation the network needs is the module's own
// business) and returns a tensor, or a tuple or list of tensors (nested
// ones are flattened in order):
//
//   - the first output gives the pooled features: [N, D] as it is, or
//     [N, D, H, W] averaged over H and W (so [N, D, 1, 1] works too);
//   - every output of rank 4, [N, C_l, H_l, W_l], the first included, is a
//     feature map for the perceptual distance;
//   - any other output is an error.
//
// So a module returning only pooled features [N, D] has no maps; one
// returning (pooled, map1, map2, ...) has those maps.
type TorchScriptNet struct {
	m   *torch.Module
	dev torch.Device
}

// LoadTorchScriptNet loads a TorchScript feature network onto dev.
func LoadTorchScriptNet(path string, dev torch.Device) (*TorchScriptNet, error) {
	m, err := torch.LoadModule(path, dev)
	if err != nil {
		return nil, fmt.Errorf("eval: feature net: %w", err)
	}
	return &TorchScriptNet{m: m, dev: dev}, nil
}

// Close frees the module.
func (n *TorchScriptNet) Close() { n.m.Close() }

// Path is the archive the network was loaded from.
func (n *TorchScriptNet) Path() string { return n.m.Path }

// Features runs the module on x (moved to the module's device as float32)
// under s's mode; see TorchScriptNet for the output convention.
func (n *TorchScriptNet) Features(s *torch.Scope, x *torch.Tensor) (*torch.Tensor, []*torch.Tensor, error) {
	if err := checkImagesTensor("torchscript feature net", x); err != nil {
		return nil, nil, err
	}
	nb := x.Size(0)
	c := s.Child()
	defer c.Close()
	outs := n.m.ForwardAll(c, c.ToDevice(x, n.dev, torch.Float32))
	if err := c.Err(); err != nil {
		return nil, nil, fmt.Errorf("eval: feature net: %w", err)
	}
	if len(outs) == 0 {
		return nil, nil, fmt.Errorf("eval: feature net %s: forward returned no tensor", n.m.Path)
	}
	var pooled *torch.Tensor
	var maps []*torch.Tensor
	for i, o := range outs {
		sh := o.Shape()
		if len(sh) == 0 || sh[0] != nb || (len(sh) != 2 && len(sh) != 4) || (i > 0 && len(sh) != 4) {
			want := "[N, C, H, W]"
			if i == 0 {
				want = "[N, D] or [N, D, H, W]"
			}
			return nil, nil, fmt.Errorf("eval: feature net %s: output %d has shape %v for input %v, want %s with N = %d",
				n.m.Path, i, sh, x.Shape(), want, nb)
		}
		if !o.DType().IsFloat() {
			return nil, nil, fmt.Errorf("eval: feature net %s: output %d is %s, not a float tensor", n.m.Path, i, o.DType())
		}
		if len(sh) == 4 {
			maps = append(maps, c.To(o, torch.Float32))
		}
		if i == 0 {
			pooled = o
			if len(sh) == 4 {
				pooled = c.Mean(o, 2, 3)
			}
			pooled = c.To(pooled, torch.Float32)
		}
	}
	if err := c.Err(); err != nil {
		return nil, nil, fmt.Errorf("eval: feature net %s: %w", n.m.Path, err)
	}
	for i := range maps {
		maps[i] = c.Keep(maps[i])
	}
	return c.Keep(pooled), maps, nil
}

// checkImagesTensor checks that x is a live [N, C, H, W] float tensor with N >= 1.
func checkImagesTensor(op string, x *torch.Tensor) error {
	if !x.Valid() {
		return fmt.Errorf("eval: %s: nil or freed input", op)
	}
	sh := x.Shape()
	if len(sh) != 4 || sh[0] < 1 {
		return fmt.Errorf("eval: %s: input of shape %v, want [N, C, H, W] with N >= 1", op, sh)
	}
	if !x.DType().IsFloat() {
		return fmt.Errorf("eval: %s: input is %s, want a float tensor", op, x.DType())
	}
	return nil
}
