package data

import (
	"fmt"
	"image"
	"image/draw"
	"math"

	xdraw "golang.org/x/image/draw"
)

// Aug is one sample's random choices for Transform.
type Aug struct {
	// RandomCrop places the crop at U, V; otherwise it is centred.
	RandomCrop bool
	// U and V, in [0, 1), place a random crop: its left edge is at
	// floor(U * (free columns + 1)), its top edge likewise with V.
	U, V float64
	// Flip mirrors the crop left to right.
	Flip bool
	// Zoom >= 1 resizes the image so that its shorter side is Zoom x size
	// (rounded) before cropping, so the crop is a patch of the image at
	// that scale; 0 or 1 is the whole image's shorter side.
	Zoom float64
}

// lut maps an 8-bit level v to v/127.5 - 1, in [-1, 1].
var lut = func() (t [256]float32) {
	for v := range t {
		t[v] = float32(float64(v)/127.5 - 1)
	}
	return t
}()

// Transform makes one training sample from img, as guided-diffusion's
// image_datasets.py does: it halves the image with a 2 x 2 box filter
// while its shorter side is at least 2*size, resizes it with a Catmull-Rom
// (bicubic) filter so that the shorter side is size (the longer side
// rounded; with a.Zoom > 1, Zoom x size instead of size in both places:
// a patch at that scale), crops size x size (centred, or at a.U, a.V), mirrors it when
// a.Flip, converts it to gray (ITU-R 601 luma, as image/color and PIL do)
// for channels = 1 or to RGB for channels = 3, and writes it to dst in
// [C, size, size] order scaled to [-1, 1] (v/127.5 - 1).
//
// Colours with alpha are taken premultiplied, as over black.
func Transform(dst []float32, img image.Image, size, channels int, a Aug) error {
	var t transformer
	return t.do(dst, img, size, channels, a)
}

// transformer keeps a worker's scratch buffer between samples.
type transformer struct {
	crop    *image.RGBA
	scratch []float32 // shuffleChannels
}

func (t *transformer) do(dst []float32, img image.Image, size, channels int, a Aug) error {
	if channels != 1 && channels != 3 {
		return fmt.Errorf("data: %d channels, want 1 or 3", channels)
	}
	if size <= 0 || len(dst) != channels*size*size {
		return fmt.Errorf("data: output of %d values for %d x %d x %d", len(dst), channels, size, size)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return fmt.Errorf("empty image (%d x %d)", w, h)
	}
	// target is the shorter side after resizing
	target := size
	if a.Zoom > 1 {
		target = max(size, int(math.Round(a.Zoom*float64(size))))
	}
	src := img
	if min(w, h) >= 2*target {
		rgba := toRGBA(img)
		for min(rgba.Rect.Dx(), rgba.Rect.Dy()) >= 2*target {
			rgba = halve(rgba)
		}
		src, b = rgba, rgba.Rect
		w, h = b.Dx(), b.Dy()
	}
	rw, rh := target, target
	if w < h {
		rh = max(target, int(math.Round(float64(h)*float64(target)/float64(w))))
	} else {
		rw = max(target, int(math.Round(float64(w)*float64(target)/float64(h))))
	}
	ox, oy := (rw-size)/2, (rh-size)/2
	if a.RandomCrop {
		ox = min(rw-size, int(a.U*float64(rw-size+1)))
		oy = min(rh-size, int(a.V*float64(rh-size+1)))
	}

	if t.crop == nil || t.crop.Stride != 4*size {
		t.crop = image.NewRGBA(image.Rect(0, 0, size, size))
	}
	c := t.crop
	if rw == w && rh == h {
		c.Rect = image.Rect(0, 0, size, size)
		draw.Draw(c, c.Rect, src, b.Min.Add(image.Pt(ox, oy)), draw.Src)
	} else {
		// The destination's bounds are the crop's place in the resized
		// image: the scaler computes only those pixels of the second pass.
		c.Rect = image.Rect(ox, oy, ox+size, oy+size)
		xdraw.CatmullRom.Scale(c, image.Rect(0, 0, rw, rh), src, b, xdraw.Src, nil)
	}
	toFloat(dst, c.Pix, size, channels, a.Flip)
	return nil
}

// toFloat writes the size x size RGBA pixels pix to dst as [C, H, W] in
// [-1, 1], mirrored when flip.
func toFloat(dst []float32, pix []byte, size, channels int, flip bool) {
	plane := size * size
	for y := 0; y < size; y++ {
		row := pix[y*4*size : (y+1)*4*size]
		o := y * size
		for x := 0; x < size; x++ {
			sx := x
			if flip {
				sx = size - 1 - x
			}
			p := row[4*sx : 4*sx+4 : 4*sx+4]
			if channels == 1 {
				l := (19595*uint32(p[0]) + 38470*uint32(p[1]) + 7471*uint32(p[2]) + 1<<15) >> 16
				dst[o+x] = lut[l]
			} else {
				dst[o+x] = lut[p[0]]
				dst[plane+o+x] = lut[p[1]]
				dst[2*plane+o+x] = lut[p[2]]
			}
		}
	}
}

// channelOrders are the 6 orders of R, G, B; the first is the identity.
var channelOrders = [6][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}

// shuffleChannels rewrites the [3, plane] sample img so that its channel c
// is the old channel order[c] (Config.ChannelShuffle), through the
// transformer's scratch buffer.
func (t *transformer) shuffleChannels(img []float32, plane int, order [3]int) {
	if cap(t.scratch) < len(img) {
		t.scratch = make([]float32, len(img))
	}
	old := t.scratch[:len(img)]
	copy(old, img)
	for c, from := range order {
		copy(img[c*plane:(c+1)*plane], old[from*plane:(from+1)*plane])
	}
}

// toRGBA returns img as an *image.RGBA with bounds at the origin.
func toRGBA(img image.Image) *image.RGBA {
	b := img.Bounds()
	if m, ok := img.(*image.RGBA); ok && b.Min == (image.Point{}) {
		return m
	}
	m := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(m, m.Rect, img, b.Min, draw.Src)
	return m
}

// halve averages 2 x 2 blocks (a box filter); an odd last row or column
// is dropped, as PIL's resize to (w//2, h//2) with BOX nearly does.
func halve(m *image.RGBA) *image.RGBA {
	w, h := m.Rect.Dx()/2, m.Rect.Dy()/2
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		r0 := m.Pix[2*y*m.Stride:]
		r1 := m.Pix[(2*y+1)*m.Stride:]
		o := out.Pix[y*out.Stride : y*out.Stride+4*w]
		for x := 0; x < 4*w; x++ {
			i := x&^3*2 + x&3
			o[x] = uint8((uint32(r0[i]) + uint32(r0[i+4]) + uint32(r1[i]) + uint32(r1[i+4]) + 2) >> 2)
		}
	}
	return out
}
