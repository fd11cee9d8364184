package data

import (
	"bytes"
	"errors"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFolderListing(t *testing.T) {
	dir := t.TempDir()
	img := testImage(8, 8, 1)
	writePNG(t, filepath.Join(dir, "b.PNG"), img)
	writeJPEG(t, filepath.Join(dir, "a", "z.jpeg"), img)
	writeJPEG(t, filepath.Join(dir, "a", "y.Jpg"), img)
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("not an image"))
	writePNG(t, filepath.Join(dir, "c", "d", "e.png"), img)
	f := mustFolder(t, dir)
	var got []string
	for i := 0; i < f.Len(); i++ {
		rel, _ := filepath.Rel(dir, f.Name(i))
		got = append(got, filepath.ToSlash(rel))
	}
	want := "a/y.Jpg a/z.jpeg b.PNG c/d/e.png"
	if strings.Join(got, " ") != want {
		t.Fatalf("listing %q, want %q", got, want)
	}
	for i := 0; i < f.Len(); i++ {
		m, err := f.Load(i)
		if err != nil {
			t.Fatal(err)
		}
		if m.Bounds().Dx() != 8 || m.Bounds().Dy() != 8 {
			t.Fatalf("%s: bounds %v", f.Name(i), m.Bounds())
		}
	}
	if s, err := Open(dir); err != nil || s.Len() != 4 {
		t.Fatalf("Open(folder): %v, %v", s, err)
	}
	// the folder given as a symbolic link: the same listing, names under the link
	link := filepath.Join(t.TempDir(), "photos")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	lf := mustFolder(t, link)
	if lf.Len() != 4 || lf.Name(0) != filepath.Join(link, "a", "y.Jpg") {
		t.Fatalf("through a link: %d images, first %q", lf.Len(), lf.Name(0))
	}
	if _, err := lf.Load(3); err != nil {
		t.Fatal(err)
	}
}

func TestFolderEmpty(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewFolder(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("empty folder: error %v, want one naming %s", err, dir)
	}
	writeFile(t, filepath.Join(dir, "sub", "readme.txt"), []byte("x"))
	if _, err := NewFolder(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("folder without images: error %v, want one naming %s", err, dir)
	}
	if _, err := NewFolder(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing folder accepted")
	}
}

func TestIDX(t *testing.T) {
	const n, rows, cols = 3, 4, 5
	pix := make([]byte, n*rows*cols)
	for i := range pix {
		pix[i] = byte(7 * i)
	}
	dir := t.TempDir()
	for _, gz := range []bool{true, false} {
		path := filepath.Join(dir, "train-images-idx3-ubyte")
		if gz {
			path += ".gz"
		}
		writeFile(t, path, idxBytes(t, 0x00000803, n, rows, cols, pix, gz))
		src, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		d := src.(*IDX)
		if w, h := d.Dims(); d.Len() != n || w != cols || h != rows {
			t.Fatalf("gz=%v: %d images of %dx%d", gz, d.Len(), w, h)
		}
		for i := 0; i < n; i++ {
			m, err := d.Load(i)
			if err != nil {
				t.Fatal(err)
			}
			g := m.(*image.Gray)
			if g.Bounds() != image.Rect(0, 0, cols, rows) {
				t.Fatalf("bounds %v", g.Bounds())
			}
			for y := 0; y < rows; y++ {
				for x := 0; x < cols; x++ {
					if got, want := g.GrayAt(x, y).Y, byte(7*(i*rows*cols+y*cols+x)); got != want {
						t.Fatalf("image %d (%d,%d) = %d, want %d", i, x, y, got, want)
					}
				}
			}
		}
		if _, err := d.Load(n); err == nil {
			t.Fatal("index out of range accepted")
		}
		if !strings.Contains(d.Name(2), "[2]") {
			t.Fatalf("name %q", d.Name(2))
		}
	}
}

func TestIDXErrors(t *testing.T) {
	pix := make([]byte, 2*4*4)
	// labels file (idx1) and a float file: wrong magic
	for _, magic := range []uint32{0x00000801, 0x00000d03, 0x08030000} {
		_, err := ReadIDX(bytes.NewReader(idxBytes(t, magic, 2, 4, 4, pix, true)), "x.gz")
		if err == nil || !strings.Contains(err.Error(), "magic") || !strings.Contains(err.Error(), "x.gz") {
			t.Fatalf("magic %#x: error %v", magic, err)
		}
	}
	// truncated data
	b := idxBytes(t, 0x00000803, 2, 4, 4, pix, false)
	if _, err := ReadIDX(bytes.NewReader(b[:len(b)-3]), "t"); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated: %v", err)
	}
	// truncated header, zero dimensions, corrupt gzip
	if _, err := ReadIDX(bytes.NewReader(b[:9]), "t"); err == nil {
		t.Fatal("short header accepted")
	}
	if _, err := ReadIDX(bytes.NewReader(idxBytes(t, 0x00000803, 0, 4, 4, nil, false)), "t"); err == nil {
		t.Fatal("zero images accepted")
	}
	gz := idxBytes(t, 0x00000803, 2, 4, 4, pix, true)
	if _, err := ReadIDX(bytes.NewReader(gz[:len(gz)/2]), "t"); err == nil {
		t.Fatal("truncated gzip accepted")
	}
	if _, err := NewIDX(filepath.Join(t.TempDir(), "missing.gz")); err == nil {
		t.Fatal("missing file accepted")
	} else if _, err := Open(filepath.Join(t.TempDir(), "missing.gz")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(missing): %v", err)
	}
}
