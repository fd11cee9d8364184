package infer

import (
	"image"
	"image/color"
)

// DemoPicture is the generated picture of radctl infer --demo and radctl
// serve's page (sky, ground, a sun: a 32 x 32 drawing scaled to n x n) and
// a box hole over its middle (white = hole).
func DemoPicture(n int) (*image.RGBA, *image.Gray) {
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	mask := image.NewGray(image.Rect(0, 0, n, n))
	for py := 0; py < n; py++ {
		for px := 0; px < n; px++ {
			x, y := px*32/n, py*32/n
			c := color.RGBA{uint8(90 + 4*y), uint8(140 + 3*y), 235, 255}
			if y > 20 {
				c = color.RGBA{60, uint8(120 + 2*x), 50, 255}
			}
			if (x-8)*(x-8)+(y-8)*(y-8) < 16 {
				c = color.RGBA{250, 220, 60, 255}
			}
			img.SetRGBA(px, py, c)
			if x >= 12 && x < 24 && y >= 10 && y < 26 {
				mask.SetGray(px, py, color.Gray{255})
			}
		}
	}
	return img, mask
}
