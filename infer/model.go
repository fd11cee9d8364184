package infer

import (
	"fmt"
	"math"

	"github.com/radinpaint/rad/radmodel/diffusion"
	"github.com/radinpaint/rad/torch"
)

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

// Parameterized is a Denoiser that says what its first C channels predict
// (diffusion.ParamV, ParamX0); a Denoiser without it predicts eps.
type Parameterized interface {
	Prediction() diffusion.Param
}

// PredictionOf is d's parameterization: eps unless d is Parameterized.
func PredictionOf(d Denoiser) diffusion.Param {
	if p, ok := d.(Parameterized); ok {
		return p.Prediction()
	}
	return diffusion.ParamEps
}

// TiledDenoiser runs Inner on overlapping tiles of its input and blends
// the tiles' outputs into one output of the input's size, so a sampler
// can denoise an image larger than one model call may take: at every step
// each tile of x (and of the timestep map) goes through Inner, and the
// outputs (eps and, with LearnSigma, the variance channels) are averaged
// over the overlaps with smooth weights (a raised-cosine ramp across each
// overlap; flat elsewhere) that sum to 1 at every pixel. The tiles are
// denoised together, one sample, not sampled separately; the samplers
// do not know about tiling. An input that one tile covers goes to Inner
// as it is, so the output is then exactly Inner's.
//
// Tiles all have the same size (TileH x TileW, clamped to the input), so
// every Inner call has one shape; their positions are multiples of
// Multiple (the UNet's downsampling factor: a tile's feature grids then
// align with the whole image's) except where the input's size is not a
// multiple of it, and neighbouring tiles overlap by at least Overlap
// pixels (as far as the tile size and Multiple allow).
type TiledDenoiser struct {
	Inner        Denoiser
	TileH, TileW int
	Overlap      int
	Multiple     int
}

// LearnSigma implements Denoiser.
func (d TiledDenoiser) LearnSigma() bool { return d.Inner.LearnSigma() }

// Prediction implements Parameterized: the inner model's.
func (d TiledDenoiser) Prediction() diffusion.Param { return PredictionOf(d.Inner) }

// tiles returns the tile size and positions for an input of h x w.
func (d TiledDenoiser) tiles(h, w int) (th, tw int, ys, xs []int) {
	th, tw = d.TileH, d.TileW
	if th <= 0 || th > h {
		th = h
	}
	if tw <= 0 || tw > w {
		tw = w
	}
	return th, tw, tilePositions(h, th, d.Overlap, d.Multiple), tilePositions(w, tw, d.Overlap, d.Multiple)
}

// Tiles is the number of Inner calls per Predict on an input of h x w.
func (d TiledDenoiser) Tiles(h, w int) int {
	_, _, ys, xs := d.tiles(h, w)
	return len(ys) * len(xs)
}

// Predict implements Denoiser.
func (d TiledDenoiser) Predict(s *torch.Scope, x *torch.Tensor, t Timesteps, y *torch.Tensor) *torch.Tensor {
	if s.Err() != nil {
		return nil
	}
	if !x.Valid() || x.Dim() != 4 {
		s.SetErr(fmt.Errorf("tiled denoiser: x must be [B,C,H,W], got %v", shapeOf(x)))
		return nil
	}
	h, w := int(x.Size(2)), int(x.Size(3))
	th, tw, ys, xs := d.tiles(h, w)
	if len(ys) == 1 && len(xs) == 1 {
		return d.Inner.Predict(s, x, t, y)
	}
	if t.Map != nil && (t.Map.Dim() != 4 || t.Map.Size(2) != int64(h) || t.Map.Size(3) != int64(w)) {
		s.SetErr(fmt.Errorf("tiled denoiser: timestep map %v does not match x %v", t.Map.Shape(), x.Shape()))
		return nil
	}
	wy, wx := blendWeights(h, th, ys), blendWeights(w, tw, xs)
	c := s.Child()
	defer c.Close()
	dev := x.Device()
	// sum the weighted tiles of a row into a band of the row's height,
	// then the bands into the output: full-size temporaries per row, not
	// per tile
	var acc *torch.Tensor // owned by c
	for i, py := range ys {
		rc := c.Child()
		var band *torch.Tensor // owned by rc
		for j, px := range xs {
			tc := rc.Child()
			crop := func(a *torch.Tensor) *torch.Tensor {
				return tc.Narrow(tc.Narrow(a, 2, int64(py), int64(th)), 3, int64(px), int64(tw))
			}
			tt := Timesteps{Scalar: t.Scalar, Levels: t.Levels}
			if t.Map != nil {
				tt.Map = crop(t.Map)
			}
			out := d.Inner.Predict(tc, crop(x), tt, y)
			if err := tc.Err(); err != nil {
				s.SetErr(fmt.Errorf("tile %d,%d (%dx%d at x %d, y %d) of %dx%d: %w", i, j, tw, th, px, py, w, h, err))
				tc.Close()
				rc.Close()
				return nil
			}
			wgt := tc.Mul(torch.FromSliceOn(tc, dev, wy[i], 1, 1, int64(th), 1), torch.FromSliceOn(tc, dev, wx[j], 1, 1, 1, int64(tw)))
			part := tc.Pad(tc.Mul(out, tc.To(wgt, out.DType())), []int64{int64(px), int64(w - px - tw)}, torch.PadConstant, 0)
			if band != nil {
				part = tc.Add(band, part)
			}
			if err := tc.Err(); err != nil {
				s.SetErr(fmt.Errorf("blending tile %d,%d: %w", i, j, err))
				tc.Close()
				rc.Close()
				return nil
			}
			band.Free()
			band = tc.Keep(part) // moves to rc
			tc.Close()
		}
		full := rc.Pad(band, []int64{0, 0, int64(py), int64(h - py - th)}, torch.PadConstant, 0)
		if acc != nil {
			full = rc.Add(acc, full)
		}
		if err := rc.Err(); err != nil {
			s.SetErr(fmt.Errorf("blending tile row %d: %w", i, err))
			rc.Close()
			return nil
		}
		acc.Free()
		acc = rc.Keep(full) // moves to c
		rc.Close()
	}
	return c.Keep(acc)
}

// tilePositions places tiles of length t (<= n) over n: the first at 0,
// the last at n - t, neighbours overlapping by at least `overlap` (as far
// as t and mult allow: the stride is at least mult), positions multiples
// of mult except the last where n - t is not one.
func tilePositions(n, t, overlap, mult int) []int {
	if t >= n || t <= 0 {
		return []int{0}
	}
	mult = max(mult, 1)
	if t < mult {
		mult = 1
	}
	span := n - t
	stride := max((t-max(overlap, 0))/mult*mult, mult)
	// aligned positions up to the last multiple of mult, evenly spread:
	// in units of mult, gaps of floor steps of S/k <= stride/mult
	sa := span / mult * mult
	out := []int{0}
	if k := (sa + stride - 1) / stride; k > 0 {
		for i := 1; i <= k; i++ {
			out = append(out, i*(sa/mult)/k*mult)
		}
	}
	if span > sa {
		if last := len(out) - 1; last > 0 && span-out[last-1] <= stride {
			out[last] = span
		} else {
			out = append(out, span)
		}
	}
	return out
}

// blendWeights gives each tile at pos (length t over n) its weight along
// one axis: a raised-cosine ramp across each overlap with a neighbour
// (rising from that neighbour's side), 1 elsewhere, then normalised so
// the weights of the tiles covering a pixel sum to 1. The 2-D weight of a
// tile is the product of its row's and column's weights, so it too sums
// to 1 at every pixel.
func blendWeights(n, t int, pos []int) [][]float32 {
	raw := make([][]float64, len(pos))
	sum := make([]float64, n)
	for i, p := range pos {
		raw[i] = make([]float64, t)
		left, right := 0, 0
		if i > 0 {
			left = pos[i-1] + t - p
		}
		if i+1 < len(pos) {
			right = p + t - pos[i+1]
		}
		for d := 0; d < t; d++ {
			v := 1.0
			if d < left {
				v *= ramp(d, left)
			}
			if e := t - 1 - d; e < right {
				v *= ramp(e, right)
			}
			raw[i][d] = v
			sum[p+d] += v
		}
	}
	out := make([][]float32, len(pos))
	for i, p := range pos {
		out[i] = make([]float32, t)
		for d := range out[i] {
			out[i][d] = float32(raw[i][d] / sum[p+d])
		}
	}
	return out
}

// ramp is the raised cosine at d of an overlap of length l: in (0, 1),
// and ramp(d, l) + ramp(l-1-d, l) = 1.
func ramp(d, l int) float64 {
	return 0.5 - 0.5*math.Cos(math.Pi*(float64(d)+0.5)/float64(l))
}
