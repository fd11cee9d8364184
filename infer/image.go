package infer

import (
	"image"
	"image/color"
	"image/draw"

	xdraw "golang.org/x/image/draw"
)

// A mask image's value at a pixel is its luminance (ITU-R 601, as
// image/color's gray model; transparent pixels count as black): >= 128
// is a hole. With SoftMask the level is luminance/255 instead.

// maskLevels reads a mask image as levels in [0, 1] (1 = hole).
func maskLevels(img image.Image, invert, soft bool) []float32 {
	b := img.Bounds()
	out := make([]float32, b.Dx()*b.Dy())
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			g := color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y
			var v float32
			if soft {
				v = float32(g) / 255
			} else if g >= 128 {
				v = 1
			}
			if invert {
				v = 1 - v
			}
			out[y*b.Dx()+x] = v
		}
	}
	return out
}

// toRGBA copies img into an RGBA image at the origin.
func toRGBA(img image.Image) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	return out
}

// resizeRGBA scales img to w x h with Catmull-Rom.
func resizeRGBA(img *image.RGBA, w, h int) *image.RGBA {
	if img.Bounds().Dx() == w && img.Bounds().Dy() == h {
		return img
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.CatmullRom.Scale(out, out.Bounds(), img, img.Bounds(), draw.Src, nil)
	return out
}

// resizeMask scales mask levels to w x h so that a pixel of the result is
// at least as much hole as any source pixel it covers (the maximum over its
// footprint), so the model's hole always covers the original hole.
func resizeMask(m []float32, sw, sh, w, h int) []float32 {
	if sw == w && sh == h {
		return m
	}
	out := make([]float32, w*h)
	for y := 0; y < h; y++ {
		y0, y1 := y*sh/h, ((y+1)*sh+h-1)/h
		for x := 0; x < w; x++ {
			x0, x1 := x*sw/w, ((x+1)*sw+w-1)/w
			var v float32
			for yy := y0; yy < max(y1, y0+1) && yy < sh; yy++ {
				for xx := x0; xx < max(x1, x0+1) && xx < sw; xx++ {
					v = max(v, m[yy*sw+xx])
				}
			}
			out[y*w+x] = v
		}
	}
	return out
}

// rgbaToCHW converts to [-1, 1] floats, C = 3 (RGB) or 1 (luminance).
func rgbaToCHW(img *image.RGBA, channels int) []float32 {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	out := make([]float32, channels*w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := img.RGBAAt(x, y)
			if channels == 1 {
				g := color.GrayModel.Convert(p).(color.Gray).Y
				out[y*w+x] = float32(g)/127.5 - 1
				continue
			}
			out[0*w*h+y*w+x] = float32(p.R)/127.5 - 1
			out[1*w*h+y*w+x] = float32(p.G)/127.5 - 1
			out[2*w*h+y*w+x] = float32(p.B)/127.5 - 1
		}
	}
	return out
}

// to8 maps [-1, 1] to 0..255 with rounding, as guided-diffusion's samplers.
func to8(v float32) uint8 {
	f := (v + 1) * 127.5
	switch {
	case f <= 0:
		return 0
	case f >= 255:
		return 255
	}
	return uint8(f + 0.5)
}

// chwToRGBA converts one sample [C,H,W] in [-1, 1] to an image.
func chwToRGBA(v []float32, channels, w, h int) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			if channels == 1 {
				g := to8(v[i])
				out.SetRGBA(x, y, color.RGBA{g, g, g, 255})
				continue
			}
			out.SetRGBA(x, y, color.RGBA{to8(v[i]), to8(v[w*h+i]), to8(v[2*w*h+i]), 255})
		}
	}
	return out
}

// grayOf turns an image into its luminance as RGBA (for 1-channel models).
func grayOf(img *image.RGBA) *image.RGBA {
	out := image.NewRGBA(img.Bounds())
	for i := 0; i+3 < len(img.Pix); i += 4 {
		g := color.GrayModel.Convert(color.RGBA{img.Pix[i], img.Pix[i+1], img.Pix[i+2], 255}).(color.Gray).Y
		out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = g, g, g, 255
	}
	return out
}

// composite keeps orig's pixels where the mask (at orig's size) is 0 and
// takes gen's elsewhere, byte for byte.
func composite(orig, gen *image.RGBA, mask []float32) *image.RGBA {
	out := image.NewRGBA(orig.Bounds())
	copy(out.Pix, orig.Pix)
	for i, m := range mask {
		if m > 0 {
			copy(out.Pix[4*i:4*i+4], gen.Pix[4*i:4*i+4])
		}
	}
	return out
}

// workSize is native mode's working size: w x h, or scaled so that the
// longer side is maxSide when it is above it (maxSide > 0).
func workSize(w, h, maxSide int) (int, int) {
	if maxSide <= 0 || max(w, h) <= maxSide {
		return w, h
	}
	if w >= h {
		return maxSide, max(1, (h*maxSide+w/2)/w)
	}
	return max(1, (w*maxSide+h/2)/h), maxSide
}

// reflectIndex mirrors i into 0..n-1 without repeating the edge pixel
// (numpy's "reflect"), for any i.
func reflectIndex(i, n int) int {
	if n == 1 {
		return 0
	}
	p := 2 * (n - 1)
	i %= p
	if i < 0 {
		i += p
	}
	if i >= n {
		i = p - i
	}
	return i
}

// padToMultiple pads x [C,h,w] and its mask levels m [h,w] at the right
// and bottom to the next multiples of f. The padding is known context
// (level 0) with the image's reflection, except where the reflected pixel
// is not fully known: a hole's content is never read, so there it is the
// mean of the known pixels (0 without any).
func padToMultiple(x, m []float32, c, w, h, f int) ([]float32, []float32, int, int) {
	pw, ph := (w+f-1)/f*f, (h+f-1)/f*f
	if pw == w && ph == h {
		return x, m, w, h
	}
	mean := make([]float32, c)
	var n float64
	sums := make([]float64, c)
	for i, v := range m {
		if v == 0 {
			n++
			for ch := 0; ch < c; ch++ {
				sums[ch] += float64(x[ch*w*h+i])
			}
		}
	}
	if n > 0 {
		for ch := range mean {
			mean[ch] = float32(sums[ch] / n)
		}
	}
	px := make([]float32, c*pw*ph)
	pm := make([]float32, pw*ph)
	for y := 0; y < ph; y++ {
		for xx := 0; xx < pw; xx++ {
			inside := y < h && xx < w
			sy, sx := reflectIndex(y, h), reflectIndex(xx, w)
			src := sy*w + sx
			if inside {
				pm[y*pw+xx] = m[src]
			}
			for ch := 0; ch < c; ch++ {
				v := x[ch*w*h+src]
				if !inside && m[src] != 0 {
					v = mean[ch]
				}
				px[ch*pw*ph+y*pw+xx] = v
			}
		}
	}
	return px, pm, pw, ph
}

// cropCHW is the top-left w x h of v [C,ph,pw].
func cropCHW(v []float32, c, pw, ph, w, h int) []float32 {
	if pw == w && ph == h {
		return v
	}
	out := make([]float32, c*w*h)
	for ch := 0; ch < c; ch++ {
		for y := 0; y < h; y++ {
			copy(out[ch*w*h+y*w:ch*w*h+(y+1)*w], v[ch*pw*ph+y*pw:ch*pw*ph+y*pw+w])
		}
	}
	return out
}
