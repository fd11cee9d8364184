package infer

import (
	"context"
	"image"
	"image/color"
	"testing"

	"github.com/radinpaint/rad/torch"
)

// TestNewDefault: the shipped model through the documented constructor
// runs natively on an odd size and keeps the known pixels.
func TestNewDefault(t *testing.T) {
	ip, m, err := NewDefault(torch.CPU, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	defer ip.Close()
	img := image.NewRGBA(image.Rect(0, 0, 21, 19))
	mask := image.NewGray(img.Rect)
	for y := 0; y < 19; y++ {
		for x := 0; x < 21; x++ {
			img.SetRGBA(x, y, color.RGBA{uint8(10 * x), 90, uint8(12 * y), 255})
			if x >= 6 && x < 14 && y >= 5 && y < 12 {
				mask.SetGray(x, y, color.Gray{255})
			}
		}
	}
	out, st, err := ip.Inpaint(context.Background(), img, mask, Options{Seed: 3, Steps: 2})
	if err != nil {
		t.Fatal(err)
	}
	if st.Resolution != "native" || st.WorkWidth != 24 || st.WorkHeight != 24 || out.Rect.Dx() != 21 || out.Rect.Dy() != 19 {
		t.Fatalf("stats %+v, output %v", st, out.Rect)
	}
	for y := 0; y < 19; y++ {
		for x := 0; x < 21; x++ {
			if mask.GrayAt(x, y).Y == 0 && out.RGBAAt(x, y) != img.RGBAAt(x, y) {
				t.Fatalf("known pixel (%d,%d) changed", x, y)
			}
		}
	}
}
