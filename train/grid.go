package train

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"slices"

	"github.com/radinpaint/rad/internal/atomicfile"
	"github.com/radinpaint/rad/torch"
)

// sampleGrid draws one row per image: the input with its hole grayed out,
// the mask (white = hole) and the inpainted results, one column each. x0
// and outs are [B,C,H,W] in [-1, 1], mask [B,1,H,W]. Small images are
// enlarged (nearest neighbour) to at least 96 pixels.
func sampleGrid(x0, mask *torch.Tensor, outs ...*torch.Tensor) (*image.RGBA, error) {
	xs, ms := x0.Shape(), mask.Shape()
	if len(xs) != 4 || len(ms) != 4 || xs[0] != ms[0] || xs[2] != ms[2] || xs[3] != ms[3] || ms[1] != 1 || len(outs) == 0 {
		return nil, fmt.Errorf("sample grid: shapes %v, %v and %d results do not match", xs, ms, len(outs))
	}
	for _, out := range outs {
		if !slices.Equal(out.Shape(), xs) {
			return nil, fmt.Errorf("sample grid: result %v for input %v", out.Shape(), xs)
		}
	}
	xv, err := x0.Float32s()
	if err != nil {
		return nil, err
	}
	mv, err := mask.Float32s()
	if err != nil {
		return nil, err
	}
	ovs := make([][]float32, len(outs))
	for i, out := range outs {
		if ovs[i], err = out.Float32s(); err != nil {
			return nil, err
		}
	}
	b, c, h, w := int(xs[0]), int(xs[1]), int(xs[2]), int(xs[3])
	scale := 1
	for h*scale < 96 {
		scale++
	}
	const gap = 4
	cw, ch := w*scale, h*scale
	cols := 2 + len(outs)
	img := image.NewRGBA(image.Rect(0, 0, cols*cw+(cols+1)*gap, b*ch+(b+1)*gap))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.RGBA{255, 255, 255, 255}}, image.Point{}, draw.Src)
	to8 := func(v float32) uint8 {
		f := (float64(v) + 1) * 127.5
		return uint8(math.Max(0, math.Min(255, math.Round(f))))
	}
	px := func(v []float32, i, y, x int) color.RGBA {
		if c == 1 {
			g := to8(v[(i*c)*h*w+y*w+x])
			return color.RGBA{g, g, g, 255}
		}
		at := func(k int) uint8 { return to8(v[(i*c+k)*h*w+y*w+x]) }
		return color.RGBA{at(0), at(1), at(2), 255}
	}
	for i := 0; i < b; i++ {
		top := gap + i*(ch+gap)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				hole := mv[i*h*w+y*w+x] > 0.5
				in := px(xv, i, y, x)
				if hole {
					in = color.RGBA{128, 128, 128, 255}
				}
				mk := color.RGBA{0, 0, 0, 255}
				if hole {
					mk = color.RGBA{255, 255, 255, 255}
				}
				cells := []color.RGBA{in, mk}
				for _, ov := range ovs {
					cells = append(cells, px(ov, i, y, x))
				}
				for col, cl := range cells {
					left := gap + col*(cw+gap)
					for dy := 0; dy < scale; dy++ {
						for dx := 0; dx < scale; dx++ {
							img.SetRGBA(left+x*scale+dx, top+y*scale+dy, cl)
						}
					}
				}
			}
		}
	}
	return img, nil
}

// writeSampleGrid writes the grid to path atomically.
func writeSampleGrid(path string, x0, mask *torch.Tensor, outs ...*torch.Tensor) error {
	img, err := sampleGrid(x0, mask, outs...)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}
