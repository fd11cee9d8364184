package masks

import (
	"math"
	"math/rand/v2"
)

// ThinMask is a set of thin strokes, as wires and scratches on a photo:
// random-walk polylines 4 to 8 pixels wide (absolute pixels, not scaled
// with the size), drawn until about 10% of the image is hole (a target
// drawn in [8%, 12%]). These are the evaluation masks of the default
// model's thin-stroke measurements.
func ThinMask(size int, rng *rand.Rand) *Mask {
	target := 0.08 + 0.04*rng.Float64()
	return strokes(size, rng, target, 4, 8)
}

// strokes draws random-walk polylines of widths in [wmin, wmax] until the
// hole covers at least target of the image (or a bound on the strokes is
// reached, for tiny images).
func strokes(size int, rng *rand.Rand, target, wmin, wmax float64) *Mask {
	m := New(size, size)
	holes := 0
	want := int(math.Ceil(target * float64(size*size)))
	for s := 0; s < 200 && holes < want; s++ {
		w := wmin + rng.Float64()*(wmax-wmin)
		x, y := rng.Float64()*float64(size), rng.Float64()*float64(size)
		angle := rng.Float64() * 2 * math.Pi
		segs := 1 + rng.IntN(4)
		for j := 0; j < segs; j++ {
			length := float64(size) * (0.15 + 0.6*rng.Float64())
			angle += (rng.Float64() - 0.5) * math.Pi / 2
			ex := clampF(x+length*math.Cos(angle), 0, float64(size-1))
			ey := clampF(y+length*math.Sin(angle), 0, float64(size-1))
			thickLine(m, x, y, ex, ey, w)
			x, y = ex, ey
		}
		holes = 0
		for _, v := range m.Pix {
			holes += int(v)
		}
	}
	return m
}

// MixedMask is the training mask of the natural-photo model: with
// probability 1/2 a Perlin mask (the paper's), 1/4 strokes 3 to size/4
// pixels wide covering 5% to 40% (wires, bars, scratches), and 1/4 LaMa's
// thick irregular masks (WideMask).
func MixedMask(size int, rng *rand.Rand) *Mask {
	switch u := rng.Float64(); {
	case u < 0.5:
		return PerlinMask(size, size, rng)
	case u < 0.75:
		return strokes(size, rng, 0.05+0.35*rng.Float64(), 3, math.Max(4, float64(size)/4))
	default:
		return WideMask(size, rng)
	}
}
