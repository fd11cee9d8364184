package eval

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The reference files under testdata/ are made in two steps:
//
//	EVAL_WRITE_TESTDATA=1 go test -count=1 -run TestWriteTestdata ./eval/
//	cd eval/testdata && /usr/bin/python3 gen_fid_ref.py && /usr/bin/python3 gen_ssim_ref.py
//
// The first writes the inputs (features, images) from fixed formulas, the
// scripts compute the references with numpy/scipy. Tests read both and
// need no Python.

// lcg is a fixed pseudo-random sequence in [0, 1) for test inputs
// (Knuth's MMIX constants; the top 53 bits).
type lcg uint64

func (l *lcg) next() float64 {
	*l = *l*6364136223846793005 + 1442695040888963407
	return float64(uint64(*l)>>11) / (1 << 53)
}

// fidFeatures makes n correlated feature vectors of dimension d: uniform
// noise mixed by a fixed triangular matrix, shifted by shift.
func fidFeatures(seed uint64, n, d int, shift float64) Features {
	r := lcg(seed)
	out := make([]float64, n*d)
	z := make([]float64, d)
	for i := 0; i < n; i++ {
		for j := range z {
			z[j] = 2*r.next() - 1
		}
		for j := 0; j < d; j++ {
			var v float64
			for k := 0; k <= j; k++ {
				v += z[k] * (1 + 0.5*math.Sin(float64(3*j+k))) / float64(1+j-k)
			}
			out[i*d+j] = v + shift*float64(j%3)
		}
	}
	return Features{N: n, D: d, Data: out}
}

// fidCase is two feature sets (vectors as rows).
type fidCase struct {
	Name   string      `json:"name"`
	D      int         `json:"d"`
	Feats1 [][]float64 `json:"feats1"`
	Feats2 [][]float64 `json:"feats2"`
}

// fidRef is gen_fid_ref.py's output: FID and the first set's statistics
// (numpy.cov, rowvar=False).
type fidRef struct {
	FID    float64   `json:"fid"`
	Mu1    []float64 `json:"mu1"`
	Sigma1 []float64 `json:"sigma1"`
}

func rows(f Features) [][]float64 {
	out := make([][]float64, f.N)
	for i := range out {
		out[i] = f.Row(i)
	}
	return out
}

func unrows(t *testing.T, r [][]float64) Features {
	t.Helper()
	var data []float64
	for _, v := range r {
		data = append(data, v...)
	}
	f, err := NewFeatures(data, len(r), len(r[0]))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// ssimCase is a batch of images and masks with reference metrics.
type ssimCase struct {
	Shape  []int     `json:"shape"` // [N, C, H, W]
	Pred   []float32 `json:"pred"`
	Target []float32 `json:"target"`
	Mask   []float32 `json:"mask"` // [N, 1, H, W]
}

// imageRefs are gen_ssim_ref.py's per-image hole SSIM and PSNR.
type imageRefs struct {
	SSIM []float64 `json:"ssim"`
	PSNR []float64 `json:"psnr"`
}

// ssimImages makes a smooth target with texture, a prediction that
// differs by noise and a blur-like shift, and box-and-blob masks.
func ssimImages(n, c, h, w int) (pred, target, mask []float32) {
	r := lcg(7)
	target = make([]float32, n*c*h*w)
	pred = make([]float32, len(target))
	mask = make([]float32, n*h*w)
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					k := ((i*c+ch)*h+y)*w + x
					v := 0.6 * math.Sin(0.4*float64(x)+0.3*float64(ch)+float64(i)) * math.Cos(0.25*float64(y)-0.2*float64(i))
					target[k] = float32(v + 0.2*(r.next()-0.5))
					p := v*0.9 + 0.05*math.Sin(float64(x*y)) + 0.15*float64(i)*(r.next()-0.5)
					pred[k] = float32(math.Max(-1, math.Min(1, p)))
				}
			}
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				in := x >= 3+i && x < w-4 && y >= 2 && y < h/2+i
				blob := (x-w/3)*(x-w/3)+(y-2*h/3)*(y-2*h/3) < 9
				if in || blob {
					mask[(i*h+y)*w+x] = 1
				}
			}
		}
	}
	return pred, target, mask
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestWriteTestdata writes the reference inputs (only with
// EVAL_WRITE_TESTDATA=1); see the comment at the top of this file.
func TestWriteTestdata(t *testing.T) {
	if os.Getenv("EVAL_WRITE_TESTDATA") == "" {
		t.Skip("set EVAL_WRITE_TESTDATA=1 to rewrite eval/testdata inputs")
	}
	a := fidFeatures(1, 64, 8, 0)
	b := fidFeatures(2, 48, 8, 0.3)
	writeJSON(t, filepath.Join("testdata", "fid_features.json"), fidCase{Name: "correlated, shifted", D: 8, Feats1: rows(a), Feats2: rows(b)})
	const n, c, h, w = 2, 3, 16, 20
	p, tg, m := ssimImages(n, c, h, w)
	writeJSON(t, filepath.Join("testdata", "ssim_images.json"), ssimCase{Shape: []int{n, c, h, w}, Pred: p, Target: tg, Mask: m})
}
