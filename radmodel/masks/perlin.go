package masks

import (
	"math"
	"math/rand/v2"

	perlin "github.com/aquilax/go-perlin"
)

// PerlinMask is a training mask from Perlin noise (the paper's section
// 3.2): a lattice cell of c ~ U[1, H) pixels (H/c periods per axis, so most
// masks are coarse blobs and few are fine-grained), thresholded at a random
// rank so that the hole fraction is uniform on [0, 1].
//
// The noise is evaluated with github.com/aquilax/go-perlin (one octave) on
// a grid of step max(1, floor(c/8)) pixels and bilinearly interpolated in
// between; at 8 or more samples per lattice cell the interpolation moves
// the noise by well under 1% of its range, and it makes a 256 x 256 mask
// about 20 times cheaper.
func PerlinMask(w, h int, rng *rand.Rand) *Mask {
	c := 1 + rng.Float64()*float64(h-1)
	p := perlin.NewPerlin(2, 2, 1, rng.Int64())
	ox, oy := rng.Float64()*256, rng.Float64()*256
	step := max(1, int(c/8))
	gw, gh := (w-1)/step+2, (h-1)/step+2
	grid := make([]float64, gw*gh)
	for gy := 0; gy < gh; gy++ {
		for gx := 0; gx < gw; gx++ {
			v := p.Noise2D(ox+(float64(gx*step)+0.5)/c, oy+(float64(gy*step)+0.5)/c)
			if v != v {
				// go-perlin normalises random gradients, and a drawn (0, 0)
				// gradient gives NaN: read it as a flat 0
				v = 0
			}
			grid[gy*gw+gx] = v
		}
	}
	vals := make([]float32, w*h)
	col := make([]float32, gw)
	inv := 1 / float32(step)
	for y := 0; y < h; y++ {
		gy := y / step
		fy := float64(y-gy*step) / float64(step)
		// interpolate the two grid rows around y once per row ...
		for gx := 0; gx < gw; gx++ {
			a := grid[gy*gw+gx]
			col[gx] = float32(a + fy*(grid[(gy+1)*gw+gx]-a))
		}
		// ... then along the row
		row := vals[y*w : (y+1)*w]
		for x := range row {
			gx := x / step
			fx := float32(x-gx*step) * inv
			row[x] = col[gx] + fx*(col[gx+1]-col[gx])
		}
	}
	frac := rng.Float64()
	return thresholdRank(w, h, vals, int(math.Round(frac*float64(w*h))))
}

// thresholdRank makes the k pixels of lowest value the hole (ties broken
// by position), in linear time.
func thresholdRank(w, h int, vals []float32, k int) *Mask {
	m := New(w, h)
	if k <= 0 {
		return m
	}
	if k >= len(vals) {
		for i := range m.Pix {
			m.Pix[i] = 1
		}
		return m
	}
	t := kthValue(vals, k-1)
	below := 0
	for _, v := range vals {
		if v < t {
			below++
		}
	}
	ties := k - below
	for i, v := range vals {
		switch {
		case v < t:
			m.Pix[i] = 1
		case v == t && ties > 0:
			m.Pix[i] = 1
			ties--
		}
	}
	return m
}

// kthValue returns the k-th smallest value (0-based) of vals without
// changing it: a histogram finds the bucket holding rank k, and a
// quickselect over that bucket's few values finishes.
func kthValue(vals []float32, k int) float32 {
	lo, hi := vals[0], vals[0]
	for _, v := range vals {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo == hi {
		return lo
	}
	const nb = 4096
	var hist [nb]int32
	sc := float32(nb-1) / (hi - lo)
	bucket := func(v float32) int { return int((v - lo) * sc) }
	for _, v := range vals {
		hist[bucket(v)]++
	}
	b, before := 0, 0
	for ; b < nb; b++ {
		if before+int(hist[b]) > k {
			break
		}
		before += int(hist[b])
	}
	in := make([]float32, 0, hist[b])
	for _, v := range vals {
		if bucket(v) == b {
			in = append(in, v)
		}
	}
	return kthSmallest(in, k-before)
}

// kthSmallest returns the k-th smallest value (0-based) of a, reordering a
// (Hoare's quickselect with a median-of-three pivot).
func kthSmallest(a []float32, k int) float32 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if a[mid] < a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] < a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[hi] < a[mid] {
			a[hi], a[mid] = a[mid], a[hi]
		}
		pivot := a[mid]
		i, j := lo, hi
		for i <= j {
			for a[i] < pivot {
				i++
			}
			for a[j] > pivot {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	return a[k]
}
