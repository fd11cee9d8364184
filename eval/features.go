package eval

import (
	"context"
	"fmt"
	"math"

	"github.com/radinpaint/rad/torch"
)

// Features is a set of N feature vectors of dimension D, row-major in
// float64: vector i is Data[i*D : (i+1)*D].
type Features struct {
	N, D int
	Data []float64
}

// NewFeatures wraps data (row-major [n, d], not copied) as Features.
func NewFeatures(data []float64, n, d int) (Features, error) {
	if n < 0 || d <= 0 || len(data) != n*d {
		return Features{}, fmt.Errorf("eval: features: %d values for [%d, %d]", len(data), n, d)
	}
	for i, v := range data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Features{}, fmt.Errorf("eval: features: value %d (vector %d) is %v", i, i/d, v)
		}
	}
	return Features{N: n, D: d, Data: data}, nil
}

// FeaturesFromTensor copies a [N, D] tensor (any float dtype and device)
// into Features.
func FeaturesFromTensor(t *torch.Tensor) (Features, error) {
	if !t.Valid() {
		return Features{}, fmt.Errorf("eval: features: nil or freed tensor")
	}
	sh := t.Shape()
	if len(sh) != 2 || sh[1] == 0 {
		return Features{}, fmt.Errorf("eval: features: tensor of shape %v, want [N, D]", sh)
	}
	v, err := t.Float64s()
	if err != nil {
		return Features{}, fmt.Errorf("eval: features: %w", err)
	}
	return NewFeatures(v, int(sh[0]), int(sh[1]))
}

// Row returns vector i (sharing Data).
func (f Features) Row(i int) []float64 { return f.Data[i*f.D : (i+1)*f.D : (i+1)*f.D] }

// Append adds the vectors of g (of the same dimension) to f.
func (f Features) Append(g Features) (Features, error) {
	if f.N == 0 && f.D == 0 {
		return Features{N: g.N, D: g.D, Data: append([]float64(nil), g.Data...)}, nil
	}
	if g.D != f.D {
		return f, fmt.Errorf("eval: features: appending dimension %d to dimension %d", g.D, f.D)
	}
	return Features{N: f.N + g.N, D: f.D, Data: append(f.Data, g.Data...)}, nil
}

// ExtractFeatures runs net on images [N, C, H, W] in [-1, 1] (any device
// and float dtype: the net moves each batch where it runs) in batches of
// batchSize (<= 0: all at once) without autograd, and returns the pooled
// features of all N images. It checks ctx between batches.
func ExtractFeatures(ctx context.Context, net FeatureNet, images *torch.Tensor, batchSize int) (Features, error) {
	if !images.Valid() {
		return Features{}, fmt.Errorf("eval: extract features: nil or freed images")
	}
	sh := images.Shape()
	if len(sh) != 4 {
		return Features{}, fmt.Errorf("eval: extract features: images of shape %v, want [N, C, H, W]", sh)
	}
	n := int(sh[0])
	if batchSize <= 0 || batchSize > n {
		batchSize = n
	}
	var out Features
	for lo := 0; lo < n; lo += batchSize {
		if err := ctx.Err(); err != nil {
			return Features{}, err
		}
		f, err := func() (Features, error) {
			s := torch.NewNoGradScope().SetInference(true)
			defer s.Close()
			x := s.Narrow(images, 0, int64(lo), int64(min(batchSize, n-lo)))
			if err := s.Err(); err != nil {
				return Features{}, fmt.Errorf("eval: extract features: %w", err)
			}
			pooled, _, err := net.Features(s, x)
			if err != nil {
				return Features{}, err
			}
			return FeaturesFromTensor(pooled)
		}()
		if err != nil {
			return Features{}, err
		}
		if out, err = out.Append(f); err != nil {
			return Features{}, err
		}
	}
	return out, nil
}
