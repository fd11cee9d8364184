package masks

import (
	"math"
	"math/rand/v2"
)

// scale converts a length given for 256 x 256 images (the LaMa protocol's
// reference size) to an image of the given size.
func scale(v, size int) int {
	return max(1, int(math.Round(float64(v)*float64(size)/256)))
}

// BoxMask is one 128 x 128 hole (at 256; scaled with the size) at a random
// position: the paper's "box" masks.
func BoxMask(size int, rng *rand.Rand) *Mask {
	m := New(size, size)
	b := scale(128, size)
	x0, y0 := rng.IntN(size-b+1), rng.IntN(size-b+1)
	fillRect(m, x0, y0, b, b, 1)
	return m
}

// ExtremeMask keeps only one 128 x 128 region (at 256) at a random position
// and makes everything else the hole: the paper's "extreme" masks.
func ExtremeMask(size int, rng *rand.Rand) *Mask {
	m := New(size, size)
	for i := range m.Pix {
		m.Pix[i] = 1
	}
	b := scale(128, size)
	x0, y0 := rng.IntN(size-b+1), rng.IntN(size-b+1)
	fillRect(m, x0, y0, b, b, 0)
	return m
}

func fillRect(m *Mask, x0, y0, w, h int, v uint8) {
	for y := max(0, y0); y < min(m.H, y0+h); y++ {
		for x := max(0, x0); x < min(m.W, x0+w); x++ {
			m.Pix[y*m.W+x] = v
		}
	}
}

// WideMask follows LaMa's "thick" irregular masks (random_thick_256): 1 to 5
// polylines of up to 6 segments, each segment up to 10+200 px long and
// 5..105 px wide with round ends, and with probability 0.3 also 1 to 3
// boxes of 30..150 px kept 10 px from the border. Lengths are for 256 x 256
// and scale with the size. It follows LaMa's generator, not its random
// stream, so the masks are statistically alike, not identical.
func WideMask(size int, rng *rand.Rand) *Mask {
	m := New(size, size)
	const maxAngle, maxLen, maxWidth = 4.0, 200, 100
	times := 1 + rng.IntN(5)
	for i := 0; i < times; i++ {
		sx, sy := float64(rng.IntN(size)), float64(rng.IntN(size))
		segs := 1 + rng.IntN(5)
		for j := 0; j < segs; j++ {
			angle := 0.01 + rng.Float64()*maxAngle
			if i%2 == 0 {
				angle = 2*math.Pi - angle
			}
			length := float64(scale(10+rng.IntN(maxLen), size))
			width := float64(scale(5+rng.IntN(maxWidth), size))
			ex := clampF(sx+length*math.Sin(angle), 0, float64(size-1))
			ey := clampF(sy+length*math.Cos(angle), 0, float64(size-1))
			thickLine(m, sx, sy, ex, ey, width)
			sx, sy = ex, ey
		}
	}
	if rng.Float64() < 0.3 {
		margin, minB, maxB := scale(10, size), scale(30, size), scale(150, size)
		n := 1 + rng.IntN(3)
		for i := 0; i < n; i++ {
			bw := minB + rng.IntN(max(1, maxB-minB))
			bh := minB + rng.IntN(max(1, maxB-minB))
			x0 := margin + rng.IntN(max(1, size-2*margin-bw+1))
			y0 := margin + rng.IntN(max(1, size-2*margin-bh+1))
			fillRect(m, x0, y0, bw, bh, 1)
		}
	}
	return m
}

func clampF(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// thickLine marks every pixel whose centre is within width/2 of the segment
// (a line with round caps).
func thickLine(m *Mask, x0, y0, x1, y1, width float64) {
	r := width / 2
	minX, maxX := int(math.Floor(math.Min(x0, x1)-r)), int(math.Ceil(math.Max(x0, x1)+r))
	minY, maxY := int(math.Floor(math.Min(y0, y1)-r)), int(math.Ceil(math.Max(y0, y1)+r))
	dx, dy := x1-x0, y1-y0
	l2 := dx*dx + dy*dy
	for y := max(0, minY); y <= min(m.H-1, maxY); y++ {
		for x := max(0, minX); x <= min(m.W-1, maxX); x++ {
			px, py := float64(x)-x0, float64(y)-y0
			t := 0.0
			if l2 > 0 {
				t = clampF((px*dx+py*dy)/l2, 0, 1)
			}
			ex, ey := px-t*dx, py-t*dy
			if ex*ex+ey*ey <= r*r {
				m.Pix[y*m.W+x] = 1
			}
		}
	}
}
