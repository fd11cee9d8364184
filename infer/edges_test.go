package infer

import (
	"math"
	"math/rand/v2"
	"testing"
)

// twoTone is a w x w image in [-1, 1], 3 channels, with colour a on one
// side of the line through (cx, cy) at angle theta and colour b on the
// other, and a box hole [x0, x1) x [y0, y1).
func twoTone(w int, theta, cx, cy float64, a, b [3]float32, x0, y0, x1, y1 int) ([]float32, []bool) {
	x := make([]float32, 3*w*w)
	known := make([]bool, w*w)
	nx, ny := -math.Sin(theta), math.Cos(theta)
	for y := 0; y < w; y++ {
		for xx := 0; xx < w; xx++ {
			i := y*w + xx
			col := a
			if (float64(xx)-cx)*nx+(float64(y)-cy)*ny > 0 {
				col = b
			}
			for ch := 0; ch < 3; ch++ {
				x[ch*w*w+i] = col[ch]
			}
			known[i] = !(xx >= x0 && xx < x1 && y >= y0 && y < y1)
		}
	}
	return x, known
}

// holeMSE is the mean squared error of fill against truth over the hole.
func holeMSE(fill, truth []float32, known []bool, c, n int) float64 {
	var s float64
	k := 0
	for i, kn := range known {
		if kn {
			continue
		}
		for ch := 0; ch < c; ch++ {
			d := float64(fill[ch*n+i] - truth[ch*n+i])
			s += d * d
		}
		k++
	}
	return s / float64(k*c)
}

// An edge across the hole, horizontal, steep or diagonal, comes out sharp:
// the edge fill's error over the hole is a small part of the membrane's,
// and the known pixels are the input's.
func TestEdgeFillContinuesStraightEdges(t *testing.T) {
	const w = 64
	sky, grass := [3]float32{-0.2, 0.1, 0.9}, [3]float32{-0.5, 0.3, -0.6}
	for _, tc := range []struct {
		name           string
		theta, cx      float64
		cy             float64
		x0, y0, x1, y1 int
	}{
		{"horizontal", 0, 32, 36.5, 20, 16, 44, 48},
		{"steep", 1.3, 30.5, 32, 18, 18, 46, 46},
		{"diagonal", math.Pi / 4, 32, 32, 16, 20, 48, 44},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, known := twoTone(w, tc.theta, tc.cx, tc.cy, sky, grass, tc.x0, tc.y0, tc.x1, tc.y1)
			fill, n := edgeFill(x, known, 3, w, w)
			if n < 1 {
				t.Fatalf("no edge drawn")
			}
			mem := harmonicFill(x, known, 3, w, w)
			e, m := holeMSE(fill, x, known, 3, w*w), holeMSE(mem, x, known, 3, w*w)
			t.Logf("%d segments, hole MSE %.4f (membrane %.4f)", n, e, m)
			if e > 0.25*m {
				t.Errorf("edge fill's hole MSE %.4f is not below a quarter of the membrane's %.4f", e, m)
			}
			for i, k := range known {
				if k && (fill[i] != x[i] || fill[w*w+i] != x[w*w+i] || fill[2*w*w+i] != x[2*w*w+i]) {
					t.Fatalf("known pixel %d changed", i)
				}
			}
		})
	}
}

// Without edges (a flat field) and without matching ends (two unrelated
// edges) the fill is the membrane's.
func TestEdgeFillWithoutEdgesIsTheMembrane(t *testing.T) {
	const w = 48
	x, known := twoTone(w, 0, 24, 100, [3]float32{0.3, -0.2, 0.1}, [3]float32{}, 14, 14, 34, 34)
	fill, n := edgeFill(x, known, 3, w, w)
	mem := harmonicFill(x, known, 3, w, w)
	if n != 0 {
		t.Fatalf("flat field: %d segments", n)
	}
	for i := range fill {
		if fill[i] != mem[i] {
			t.Fatalf("flat field: fill differs from the membrane at %d", i)
		}
	}
	// an edge that enters the hole from the left only (it ends inside):
	// nothing on the other side to join
	x, known = twoTone(w, 0, 24, 24.5, [3]float32{0.8, 0.8, 0.8}, [3]float32{-0.8, -0.8, -0.8}, 14, 14, 34, 34)
	for y := 0; y < w; y++ {
		for xx := 30; xx < w; xx++ {
			for ch := 0; ch < 3; ch++ {
				x[ch*w*w+y*w+xx] = 0.8
			}
		}
	}
	if _, n := edgeFill(x, known, 3, w, w); n != 0 {
		t.Errorf("one-sided edge: %d segments", n)
	}
}

// Texture around the hole (noise) finds few or no segments, never more
// than edgeMaxLines, and the fill stays within the known range.
func TestEdgeFillOnNoise(t *testing.T) {
	const w = 64
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 3*w*w)
	known := make([]bool, w*w)
	for i := range known {
		known[i] = !(i%w >= 16 && i%w < 48 && i/w >= 16 && i/w < 48)
	}
	for i := range x {
		x[i] = float32(r.Float64()*2 - 1)
	}
	fill, n := edgeFill(x, known, 3, w, w)
	if n > edgeMaxLines {
		t.Fatalf("%d segments", n)
	}
	for i, v := range fill {
		if v < -1.0001 || v > 1.0001 || math.IsNaN(float64(v)) {
			t.Fatalf("fill %g at %d", v, i)
		}
	}
	t.Logf("%d segments on noise", n)
}

// The demo picture's horizon crosses its box hole: the edge fill draws it.
func TestEdgeFillDemoHorizon(t *testing.T) {
	img, mask := DemoPicture(96)
	const w = 96
	x := rgbaToCHW(img, 3)
	known := make([]bool, w*w)
	for i := range known {
		known[i] = mask.Pix[i] < 128
	}
	fill, n := edgeFill(x, known, 3, w, w)
	mem := harmonicFill(x, known, 3, w, w)
	e, m := holeMSE(fill, x, known, 3, w*w), holeMSE(mem, x, known, 3, w*w)
	t.Logf("%d segments, hole MSE %.4f (membrane %.4f)", n, e, m)
	if n < 1 || e > 0.5*m {
		t.Errorf("demo horizon: %d segments, hole MSE %.4f against the membrane's %.4f", n, e, m)
	}
}

func BenchmarkEdgeFill256(b *testing.B) {
	x, known := twoTone(256, 0.1, 128, 130, [3]float32{-0.2, 0.1, 0.9}, [3]float32{-0.5, 0.3, -0.6}, 80, 80, 176, 176)
	for i := 0; i < b.N; i++ {
		edgeFill(x, known, 3, 256, 256)
	}
}

// Many parallel edges (vertical stripes 8 px wide across a box hole): each
// stripe's edges are continued, at most edgeMaxLines of them, and the fill
// is far closer to the stripes than the membrane's grey.
func TestEdgeFillStripes(t *testing.T) {
	const w = 96
	x := make([]float32, 3*w*w)
	known := make([]bool, w*w)
	for y := 0; y < w; y++ {
		for xx := 0; xx < w; xx++ {
			i := y*w + xx
			v := float32(-0.7)
			if (xx/8)%2 == 1 {
				v = 0.7
			}
			for ch := 0; ch < 3; ch++ {
				x[ch*w*w+i] = v
			}
			known[i] = !(xx >= 20 && xx < 76 && y >= 30 && y < 66)
		}
	}
	fill, n := edgeFill(x, known, 3, w, w)
	mem := harmonicFill(x, known, 3, w, w)
	e, m := holeMSE(fill, x, known, 3, w*w), holeMSE(mem, x, known, 3, w*w)
	t.Logf("%d segments, hole MSE %.4f (membrane %.4f)", n, e, m)
	if n < 4 || n > edgeMaxLines || e > 0.5*m {
		t.Errorf("stripes: %d segments, hole MSE %.4f against the membrane's %.4f", n, e, m)
	}
}
