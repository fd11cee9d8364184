package infer

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

// FuzzDecodeImage: the image and mask reader (PNG, JPEG, Netpbm) never
// panics on any bytes, refuses more than MaxImagePixels before decoding,
// and what it accepts converts to mask levels in [0, 1] and an RGBA image
// of the same size.
func FuzzDecodeImage(f *testing.F) {
	img := image.NewNRGBA(image.Rect(0, 0, 5, 3))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 37)
	}
	var pb, jb bytes.Buffer
	if err := png.Encode(&pb, img); err != nil {
		f.Fatal(err)
	}
	if err := jpeg.Encode(&jb, img, nil); err != nil {
		f.Fatal(err)
	}
	gray := image.NewGray16(image.Rect(0, 0, 2, 2))
	gray.Set(1, 1, color.Gray16{Y: 40000})
	var gb bytes.Buffer
	if err := png.Encode(&gb, gray); err != nil {
		f.Fatal(err)
	}
	f.Add(pb.Bytes())
	f.Add(jb.Bytes())
	f.Add(gb.Bytes())
	f.Add(pb.Bytes()[:40])
	f.Add([]byte("P5 3 1 255\n\x00\x80\xff"))
	f.Add([]byte("P6 100000 100000 255\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := DecodeImage(bytes.NewReader(raw))
		if err != nil {
			return
		}
		b := m.Bounds()
		if b.Dx() <= 0 || b.Dy() <= 0 || b.Dx()*b.Dy() > MaxImagePixels {
			t.Fatalf("accepted an image of bounds %v", b)
		}
		for _, soft := range []bool{false, true} {
			for _, v := range maskLevels(m, !soft, soft) {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("mask level %v out of [0, 1]", v)
				}
			}
		}
		if r := toRGBA(m); r.Bounds().Dx() != b.Dx() || r.Bounds().Dy() != b.Dy() {
			t.Fatalf("RGBA copy %v of %v", r.Bounds(), b)
		}
	})
}
