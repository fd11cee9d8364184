package eval

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/radinpaint/rad/internal/atomicfile"
)

// level8 maps a value in [-1, 1] to an 8-bit level (rounded, clamped).
func level8(v float32) uint8 {
	f := math.Round((float64(v) + 1) * 127.5)
	if !(f > 0) { // also NaN
		return 0
	}
	if f > 255 {
		return 255
	}
	return uint8(f)
}

// pixel is image i's colour at (x, y): gray for one channel, RGB for three
// (other channel counts show their first channel).
func (im Images) pixel(i, x, y int) color.RGBA {
	k := y*im.W + x
	if im.C == 3 {
		return color.RGBA{level8(im.plane(i, 0)[k]), level8(im.plane(i, 1)[k]), level8(im.plane(i, 2)[k]), 255}
	}
	g := level8(im.plane(i, 0)[k])
	return color.RGBA{g, g, g, 255}
}

// Picture returns image i of im (values in [-1, 1]) as an 8-bit image:
// *image.Gray for one channel, *image.RGBA otherwise.
func (im Images) Picture(i int) image.Image {
	r := image.Rect(0, 0, im.W, im.H)
	if im.C == 1 {
		g := image.NewGray(r)
		for k, v := range im.plane(i, 0) {
			g.Pix[k] = level8(v)
		}
		return g
	}
	out := image.NewRGBA(r)
	for y := 0; y < im.H; y++ {
		for x := 0; x < im.W; x++ {
			out.SetRGBA(x, y, im.pixel(i, x, y))
		}
	}
	return out
}

// gridMinSide is the least height of a grid cell: smaller images are
// enlarged by an integer factor (nearest neighbour).
const gridMinSide = 64

// GridImage draws the first n images (all if n <= 0 or n > N) as rows of
// four cells: the input with its hole gray, the mask (white = hole), the
// result and the original. orig and result are [N, C, H, W] in [-1, 1],
// mask [N, 1, H, W].
func GridImage(orig, mask, result Images, n int) (*image.RGBA, error) {
	if err := checkTriple("grid", result, orig, mask); err != nil {
		return nil, err
	}
	if n <= 0 || n > orig.N {
		n = orig.N
	}
	h, w := orig.H, orig.W
	scale := 1
	for h*scale < gridMinSide {
		scale++
	}
	const gap, cols = 2, 4
	cw, ch := w*scale, h*scale
	img := image.NewRGBA(image.Rect(0, 0, cols*cw+(cols+1)*gap, n*ch+(n+1)*gap))
	for k := range img.Pix {
		img.Pix[k] = 255
	}
	gray := color.RGBA{128, 128, 128, 255}
	white := color.RGBA{255, 255, 255, 255}
	black := color.RGBA{0, 0, 0, 255}
	for i := 0; i < n; i++ {
		top := gap + i*(ch+gap)
		m := mask.plane(i, 0)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				hole := isHole(m[y*w+x])
				in, mk := orig.pixel(i, x, y), black
				if hole {
					in, mk = gray, white
				}
				cells := [cols]color.RGBA{in, mk, result.pixel(i, x, y), orig.pixel(i, x, y)}
				for c, col := range cells {
					left := gap + c*(cw+gap)
					for dy := 0; dy < scale; dy++ {
						for dx := 0; dx < scale; dx++ {
							img.SetRGBA(left+x*scale+dx, top+y*scale+dy, col)
						}
					}
				}
			}
		}
	}
	return img, nil
}

// writePNG writes img to path atomically, making its folder.
func writePNG(path string, img image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		return fmt.Errorf("eval: write %s: %w", path, err)
	}
	return nil
}
