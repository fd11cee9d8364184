package data

import (
	"image"
	"image/color"
	"math"
	"testing"
)

// level converts a value in [-1, 1] back to its 8-bit level.
func level(v float32) int { return int(math.Round((float64(v) + 1) * 127.5)) }

// gradient is a gray w x h image whose level is f(x, y).
func gradient(w, h int, f func(x, y int) int) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g.SetGray(x, y, color.Gray{uint8(f(x, y))})
		}
	}
	return g
}

func TestTransformResizeCenterCrop(t *testing.T) {
	const size = 16
	out := make([]float32, size*size)
	// 64 x 32 (2:1) with level 4x: resized to 32 x 16, the column c of the
	// resized image is centred on source x = 2c + 0.5, level 8c + 2; the
	// centre crop starts at column 8.
	wide := gradient(64, 32, func(x, _ int) int { return 4 * x })
	if err := Transform(out, wide, size, 1, Aug{}); err != nil {
		t.Fatal(err)
	}
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			if got, want := level(out[y*size+x]), 8*x+66; abs(got-want) > 1 {
				t.Fatalf("wide (%d,%d): level %d, want %d", x, y, got, want)
			}
		}
	}
	// the same, rotated: 32 x 64, level 4y
	tall := gradient(32, 64, func(_, y int) int { return 4 * y })
	if err := Transform(out, tall, size, 1, Aug{}); err != nil {
		t.Fatal(err)
	}
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			if got, want := level(out[y*size+x]), 8*y+66; abs(got-want) > 1 {
				t.Fatalf("tall (%d,%d): level %d, want %d", x, y, got, want)
			}
		}
	}
}

func TestTransformRandomCrop(t *testing.T) {
	const size = 16
	out := make([]float32, size*size)
	wide := gradient(64, 32, func(x, _ int) int { return 4 * x })
	seen := map[int]bool{}
	for i := 0; i < 40; i++ {
		u := float64(i) / 40
		if err := Transform(out, wide, size, 1, Aug{RandomCrop: true, U: u, V: 0.9}); err != nil {
			t.Fatal(err)
		}
		ox := int(u * 17) // 16 free columns: offsets 0..16
		seen[ox] = true
		for x := 0; x < size; x++ {
			// away from the borders the filter keeps the gradient exact
			if c := x + ox; c > 0 && c < 31 {
				if got, want := level(out[3*size+x]), 8*c+2; abs(got-want) > 1 {
					t.Fatalf("u=%v column %d: level %d, want %d", u, x, got, want)
				}
			}
		}
	}
	if !seen[0] || !seen[16] {
		t.Fatalf("crop offsets %v do not reach both ends", seen)
	}
}

func TestTransformHalving(t *testing.T) {
	// 256 x 128, level x: halved twice (the shorter side 32 < 2*32 stops
	// it) to 64 x 32 with level 4c + 2, the size's own scale, so only the
	// centre crop (offset 16) remains.
	const size = 32
	img := gradient(256, 128, func(x, _ int) int { return x })
	out := make([]float32, size*size)
	if err := Transform(out, img, size, 1, Aug{}); err != nil {
		t.Fatal(err)
	}
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			if got, want := level(out[y*size+x]), 4*x+66; got != want {
				t.Fatalf("(%d,%d): level %d, want %d", x, y, got, want)
			}
		}
	}
}

func TestTransformUpscale(t *testing.T) {
	// 12 x 6 to 16: resized to 32 x 16; levels grow with x
	const size = 16
	img := gradient(12, 6, func(x, _ int) int { return 20 * x })
	out := make([]float32, 3*size*size)
	if err := Transform(out, img, size, 3, Aug{}); err != nil {
		t.Fatal(err)
	}
	for c := 0; c < 3; c++ {
		for x := 1; x < size; x++ {
			if out[c*size*size+5*size+x] < out[c*size*size+5*size+x-1] {
				t.Fatalf("channel %d not increasing at column %d", c, x)
			}
		}
	}
}

func TestTransformChannels(t *testing.T) {
	const size = 8
	// RGB to gray: pure red has luma 76 (ITU-R 601, like PIL's "L")
	red := image.NewRGBA(image.Rect(0, 0, size, size))
	for i := 0; i < len(red.Pix); i += 4 {
		red.Pix[i], red.Pix[i+3] = 255, 255
	}
	gray := make([]float32, size*size)
	if err := Transform(gray, red, size, 1, Aug{}); err != nil {
		t.Fatal(err)
	}
	for _, v := range gray {
		if v != lut[76] {
			t.Fatalf("gray of red: %v, want %v", v, lut[76])
		}
	}
	// RGB to RGB keeps the channels apart
	rgb := make([]float32, 3*size*size)
	if err := Transform(rgb, red, size, 3, Aug{}); err != nil {
		t.Fatal(err)
	}
	for i, v := range rgb {
		want := float32(-1)
		if i < size*size {
			want = 1
		}
		if v != want {
			t.Fatalf("rgb[%d] = %v, want %v", i, v, want)
		}
	}
	// gray to RGB: three equal channels with the gray levels, exact
	g := gradient(size, size, func(x, y int) int { return 30*x + y })
	if err := Transform(rgb, g, size, 3, Aug{}); err != nil {
		t.Fatal(err)
	}
	if err := Transform(gray, g, size, 1, Aug{}); err != nil {
		t.Fatal(err)
	}
	for c := 0; c < 3; c++ {
		for i := 0; i < size*size; i++ {
			x, y := i%size, i/size
			if rgb[c*size*size+i] != lut[30*x+y] || gray[i] != lut[30*x+y] {
				t.Fatalf("gray level at (%d,%d) channel %d: %v / %v, want %v", x, y, c, rgb[c*size*size+i], gray[i], lut[30*x+y])
			}
		}
	}
	if lut[0] != -1 || lut[255] != 1 {
		t.Fatalf("scale: 0 -> %v, 255 -> %v", lut[0], lut[255])
	}
}

func TestTransformErrors(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 8, 8))
	if err := Transform(make([]float32, 64), img, 8, 2, Aug{}); err == nil {
		t.Fatal("2 channels accepted")
	}
	if err := Transform(make([]float32, 10), img, 8, 1, Aug{}); err == nil {
		t.Fatal("short output accepted")
	}
	if err := Transform(make([]float32, 64), image.NewGray(image.Rect(0, 0, 0, 5)), 8, 1, Aug{}); err == nil {
		t.Fatal("empty image accepted")
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
