package masks

import (
	"math"
	"math/rand/v2"
)

// LargeBoxMask is one object-sized box: 10% to 18% of the image, aspect
// ratio in [0.7, 1.4], at a random position (a 72-104 px square is 8-17% of
// 256 x 256). These are the evaluation holes of object removal.
func LargeBoxMask(size int, rng *rand.Rand) *Mask {
	m := New(size, size)
	area := (0.10 + 0.08*rng.Float64()) * float64(size*size)
	aspect := math.Exp(math.Log(0.7) + rng.Float64()*(math.Log(1.4)-math.Log(0.7)))
	w := min(size, max(1, int(math.Round(math.Sqrt(area*aspect)))))
	h := min(size, max(1, int(math.Round(area/float64(w)))))
	fillRect(m, rng.IntN(size-w+1), rng.IntN(size-h+1), w, h, 1)
	return m
}

// ObjectMask is an object-shaped blob covering 10% to 18% of the image: a
// star-shaped region around a random centre whose radius varies smoothly
// with the angle (a few random harmonics), grown or shrunk until it holds
// its target area (the hole a user draws over a person, a cup, a sign).
func ObjectMask(size int, rng *rand.Rand) *Mask {
	return objectOfArea(size, rng, 0.10+0.08*rng.Float64())
}

// objectOfArea is an object blob covering about frac of the image.
func objectOfArea(size int, rng *rand.Rand, frac float64) *Mask {
	target := frac * float64(size*size)
	const harmonics = 4
	var amp, phase [harmonics]float64
	for i := range amp {
		amp[i] = 0.25 * rng.Float64() / float64(i+1)
		phase[i] = 2 * math.Pi * rng.Float64()
	}
	stretch := 0.7 + 0.6*rng.Float64() // elongation along y
	r0 := math.Sqrt(target / math.Pi)
	cx := r0 + rng.Float64()*math.Max(0, float64(size)-2*r0)
	cy := r0 + rng.Float64()*math.Max(0, float64(size)-2*r0)
	draw := func(scale float64) (*Mask, int) {
		m := New(size, size)
		n := 0
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				dx, dy := float64(x)+0.5-cx, (float64(y)+0.5-cy)/stretch
				a := math.Atan2(dy, dx)
				r := 1.0
				for i := range amp {
					r += amp[i] * math.Sin(float64(i+2)*a+phase[i])
				}
				if math.Hypot(dx, dy) <= scale*r0*r {
					m.Pix[y*size+x] = 1
					n++
				}
			}
		}
		return m, n
	}
	// bisect the scale for the target area (the area grows with it)
	lo, hi := 0.2, 3.0
	var best *Mask
	for it := 0; it < 20; it++ {
		mid := (lo + hi) / 2
		m, n := draw(mid)
		best = m
		if float64(n) < target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return best
}

// LargeMixMask is the training mask of the object-removal model: with
// probability 0.3 a Perlin mask, 0.15 strokes 3 to size/4 pixels wide
// (as MixedMask's), 0.25 LaMa's thick irregular masks (WideMask), 0.15
// LaMa's boxes (1 to 3 boxes of 30-150 px at 256, scaled) and 0.15 an
// object blob of 5% to 30%.
func LargeMixMask(size int, rng *rand.Rand) *Mask {
	switch u := rng.Float64(); {
	case u < 0.3:
		return PerlinMask(size, size, rng)
	case u < 0.45:
		return strokes(size, rng, 0.05+0.35*rng.Float64(), 3, math.Max(4, float64(size)/4))
	case u < 0.7:
		return WideMask(size, rng)
	case u < 0.85:
		m := New(size, size)
		minB, maxB := scale(30, size), scale(150, size)
		for i, n := 0, 1+rng.IntN(3); i < n; i++ {
			bw := minB + rng.IntN(max(1, maxB-minB+1))
			bh := minB + rng.IntN(max(1, maxB-minB+1))
			fillRect(m, rng.IntN(max(1, size-bw+1)), rng.IntN(max(1, size-bh+1)), bw, bh, 1)
		}
		return m
	default:
		return objectOfArea(size, rng, 0.05+0.25*rng.Float64())
	}
}
