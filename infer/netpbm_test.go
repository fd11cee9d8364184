package infer

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ppm8 writes a binary P6 of img with a comment in the header.
func ppm8(img *image.RGBA) []byte {
	b := img.Bounds()
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "P6\n# made by a test\n%d %d\n# maxval next\n255\n", b.Dx(), b.Dy())
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			p := img.RGBAAt(x, y)
			buf.Write([]byte{p.R, p.G, p.B})
		}
	}
	return buf.Bytes()
}

// pgm8 writes a binary P5 of m.
func pgm8(m *image.Gray) []byte {
	b := m.Bounds()
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "P5 %d %d 255\n", b.Dx(), b.Dy())
	buf.Write(m.Pix)
	return buf.Bytes()
}

func TestNetpbmFormats(t *testing.T) {
	img := randomImage(5, 3, 9)
	got, format, err := image.Decode(bytes.NewReader(ppm8(img)))
	if err != nil || format != "ppm" {
		t.Fatalf("P6: %v %q", err, format)
	}
	if g, ok := got.(*image.RGBA); !ok || !bytes.Equal(g.Pix, img.Pix) || g.Bounds() != img.Bounds() {
		t.Fatalf("P6 decoded as %T %v", got, got.Bounds())
	}
	mask := boxMask(4, 3, 1, 1, 3, 2)
	got, format, err = image.Decode(bytes.NewReader(pgm8(mask)))
	if err != nil || format != "pgm" {
		t.Fatalf("P5: %v %q", err, format)
	}
	if g, ok := got.(*image.Gray); !ok || !bytes.Equal(g.Pix, mask.Pix) {
		t.Fatalf("P5 decoded as %T", got)
	}

	// 16-bit binary, big-endian; a comment between every token
	p16 := []byte("P5#a\n2#b\n 1 #c\n65535\n\x12\x34\xff\xfe")
	got, err = DecodeNetpbm(bytes.NewReader(p16))
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := got.(*image.Gray16); !ok || g.Gray16At(0, 0).Y != 0x1234 || g.Gray16At(1, 0).Y != 0xfffe {
		t.Fatalf("16-bit P5: %T %v", got, got)
	}
	rgb16 := []byte("P6 1 1 1000\n\x03\xe8\x00\x00\x01\xf4")
	got, err = DecodeNetpbm(bytes.NewReader(rgb16))
	if err != nil {
		t.Fatal(err)
	}
	if c := got.(*image.RGBA64).RGBA64At(0, 0); c != (color.RGBA64{65535, 0, 32768, 65535}) {
		t.Fatalf("16-bit P6 maxval 1000: %v", c)
	}
	// plain formats, maxval < 255 scaled to the full range
	got, err = DecodeNetpbm(strings.NewReader("P3\n# plain\n2 1\n15\n15 0 7  # a comment\n 0 15 15\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := got.(*image.RGBA).RGBAAt(0, 0), got.(*image.RGBA).RGBAAt(1, 0); a != (color.RGBA{255, 0, 119, 255}) || b != (color.RGBA{0, 255, 255, 255}) {
		t.Fatalf("P3: %v %v", a, b)
	}
	got, err = DecodeNetpbm(strings.NewReader("P2 3 1 300 0 150 300"))
	if err != nil {
		t.Fatal(err)
	}
	if g := got.(*image.Gray16); g.Gray16At(1, 0).Y != 32768 || g.Gray16At(2, 0).Y != 65535 {
		t.Fatalf("P2 maxval 300: %v", g.Pix)
	}
	cfg, err := DecodeNetpbmConfig(strings.NewReader("P6 640 480 65535\n"))
	if err != nil || cfg.Width != 640 || cfg.Height != 480 || cfg.ColorModel != color.RGBA64Model {
		t.Fatalf("config %+v %v", cfg, err)
	}

	// bad input: clear errors
	for _, c := range []struct{ in, want string }{
		{"", "truncated header"},
		{"P", "truncated header"},
		{"P7 1 1 255\n", "bad magic"},
		{"P6", "ends before its width"},
		{"P6 3", "ends before its height"},
		{"P6 3 2", "ends before its maxval"},
		{"P6 3 2 255", "has no data"},
		{"P6 3 2 255\nabc", "needs 18 bytes of data, has 3"},
		{"P5 2 2 65535\n\x00\x01\x00", "needs 8 bytes"},
		{"P6 3x2 255\n", "unexpected 'x'"},
		{"P6 -3 2 255\n", "unexpected '-'"},
		{"P6 0 2 255\n", "bad size 0x2"},
		{"P6 3 2 0\n", "bad maxval 0"},
		{"P6 3 2 70000\n", "maxval: number above 65535"},
		{"P6 99999999999 2 255\n", "bad width"},
		{"P6 100000 100000 255\n", "above 268435456 pixels"},
		{"P6 1 1 255x", "after maxval"},
		{"P5 2 1 10\n\x05\x0b", "sample 1 is 11, above maxval"},
		{"P2 2 2 255 1 2 3", "has 3 of 4 samples"},
		{"P3 1 1 255 1 2 y", "unexpected 'y'"},
		{"P6 1 1 255# comment", "unexpected '#' after maxval"},
		{"P5 1 1 # comment that never ends", "ends before its maxval"},
	} {
		_, err := DecodeNetpbm(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.in, err, c.want)
		}
	}

	// ReadImage names the file
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "ok.ppm"), filepath.Join(dir, "cut.ppm")
	os.WriteFile(good, ppm8(img), 0o644)
	os.WriteFile(bad, ppm8(img)[:30], 0o644)
	if g, err := ReadImage(good); err != nil || !bytes.Equal(g.(*image.RGBA).Pix, img.Pix) {
		t.Fatalf("ReadImage: %v", err)
	}
	if _, err := ReadImage(bad); err == nil || !strings.Contains(err.Error(), "cut.ppm") || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated file: %v", err)
	}
}

// FuzzReadNetpbm: no input makes the decoders panic, and whatever decodes
// agrees with its header.
func FuzzReadNetpbm(f *testing.F) {
	for _, s := range []string{
		"P6\n# c\n2 1\n255\n\x01\x02\x03\x04\x05\x06",
		"P5 2 2 65535\n\x00\x01\x00\x02\x00\x03\x00\x04",
		"P3 1 1 15 1 2 3",
		"P2\n2 1\n# c\n300\n0 300\n",
		"P6 3 2 255",
		"P5 2 2 255\n\x01",
		"P6 100000 100000 255\n",
		"P2 1 1 0 0",
		"P7 1 1 1\n\x00",
		"P5#\r1 1 1 \x01",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := DecodeNetpbm(bytes.NewReader(data))
		cfg, cerr := DecodeNetpbmConfig(bytes.NewReader(data))
		if err != nil {
			return
		}
		if cerr != nil {
			t.Fatalf("image decodes but its header does not: %v", cerr)
		}
		if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height || img.ColorModel() != cfg.ColorModel {
			t.Fatalf("image %v %v, header %+v", b, img.ColorModel(), cfg)
		}
	})
}
