package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// testImage is a w x h RGB image of smooth gradients and some noise.
func testImage(w, h int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 1))
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	a, b, c := r.IntN(256), r.IntN(256), r.IntN(256)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := r.IntN(24)
			m.SetRGBA(x, y, color.RGBA{
				uint8((a + 255*x/w + n) % 256),
				uint8((b + 255*y/h + n) % 256),
				uint8((c + 127*(x+y)/(w+h) + n) % 256),
				255,
			})
		}
	}
	return m
}

func writePNG(t testing.TB, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, buf.Bytes())
}

func writeJPEG(t testing.TB, path string, img image.Image) {
	t.Helper()
	writeFile(t, path, jpegBytes(t, img))
}

func jpegBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// idxBytes encodes images (each rows x cols) in the IDX format with the
// given magic, gzip-compressed when gz.
func idxBytes(t testing.TB, magic uint32, n, rows, cols int, pix []byte, gz bool) []byte {
	t.Helper()
	var raw bytes.Buffer
	for _, v := range []uint32{magic, uint32(n), uint32(rows), uint32(cols)} {
		binary.Write(&raw, binary.BigEndian, v)
	}
	raw.Write(pix)
	if !gz {
		return raw.Bytes()
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testFolder writes n images of assorted sizes and formats into a new
// folder (some in a subfolder) and returns it.
func testFolder(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	sizes := [][2]int{{40, 30}, {24, 48}, {32, 32}, {50, 20}, {33, 37}}
	for i := 0; i < n; i++ {
		s := sizes[i%len(sizes)]
		img := testImage(s[0], s[1], uint64(i))
		switch i % 3 {
		case 0:
			writePNG(t, filepath.Join(dir, "a", name(i, ".png")), img)
		case 1:
			writeJPEG(t, filepath.Join(dir, name(i, ".JPG")), img)
		default:
			g := image.NewGray(img.Rect)
			for j := range g.Pix {
				g.Pix[j] = img.Pix[4*j]
			}
			writePNG(t, filepath.Join(dir, name(i, ".png")), g)
		}
	}
	return dir
}

func name(i int, ext string) string {
	return string(rune('a'+i/26)) + string(rune('a'+i%26)) + ext
}

func mustFolder(t testing.TB, dir string) *Folder {
	t.Helper()
	f, err := NewFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
