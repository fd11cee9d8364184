package infer_test

import (
	"context"
	"fmt"
	"image"
	"image/color"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/torch"
)

// The README's Inpainter snippet on the shipped default model, embedded
// in the binary: a 40x24 picture with a hole in the middle, at the
// picture's own size, 10 steps (100 is the default).
func ExampleNewDefault() {
	ip, m, err := infer.NewDefault(torch.CPU, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	defer ip.Close()

	img := image.NewRGBA(image.Rect(0, 0, 40, 24))
	mask := image.NewGray(img.Bounds()) // white = hole
	for y := 0; y < 24; y++ {
		for x := 0; x < 40; x++ {
			img.Set(x, y, color.RGBA{uint8(6 * x), uint8(10 * y), 90, 255})
			if x >= 14 && x < 26 && y >= 8 && y < 16 {
				mask.Set(x, y, color.Gray{Y: 255})
			}
		}
	}
	out, stats, err := ip.Inpaint(context.Background(), img, mask, infer.Options{Seed: 1, Steps: 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	same := true // the known pixels are the input's, exactly
	for y := 0; y < 24; y++ {
		for x := 0; x < 40; x++ {
			if mask.GrayAt(x, y).Y == 0 && out.RGBAAt(x, y) != img.RGBAAt(x, y) {
				same = false
			}
		}
	}
	fmt.Println(out.Bounds().Size(), stats.ModelCalls, stats.Resolution, same)
	// Output: (40,24) 10 native true
}
