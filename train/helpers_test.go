package train

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/radinpaint/rad/radmodel"
)

// tinyModel is a small ADM config for fast tests: 16x16 RGB, 32
// channels, one res block, two levels, attention at 8x8, learned sigma.
func tinyModel(t testing.TB) radmodel.Config {
	t.Helper()
	spec, err := radmodel.ParseFlags("--image_size 16 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2 " +
		"--attention_resolutions 8 --num_head_channels 32 --learn_sigma True")
	if err != nil {
		t.Fatal(err)
	}
	return spec.Model
}

// shapesData writes n small PNGs of simple shapes (a disc or a square of
// one colour on a plain background of another) into a new folder.
func shapesData(t testing.TB, n, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(7))
	for i := 0; i < n; i++ {
		img := image.NewRGBA(image.Rect(0, 0, size, size))
		bg := color.RGBA{uint8(rng.Intn(80)), uint8(rng.Intn(80)), uint8(100 + rng.Intn(100)), 255}
		fg := color.RGBA{uint8(150 + rng.Intn(100)), uint8(100 + rng.Intn(150)), uint8(rng.Intn(60)), 255}
		cx, cy := float64(size)/4+rng.Float64()*float64(size)/2, float64(size)/4+rng.Float64()*float64(size)/2
		r := float64(size) * (0.15 + 0.15*rng.Float64())
		disc := i%2 == 0
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
				in := math.Abs(dx) < r && math.Abs(dy) < r
				if disc {
					in = dx*dx+dy*dy < r*r
				}
				if in {
					img.SetRGBA(x, y, fg)
				} else {
					img.SetRGBA(x, y, bg)
				}
			}
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("img%03d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return dir
}

// testConfig is a fast CPU run of the tiny model on data.
func testConfig(t testing.TB, model radmodel.Config, dataDir string, obj Objective) Config {
	c := DefaultConfig()
	c.Objective = obj
	c.Model = model
	c.Data = dataDir
	c.Out = filepath.Join(t.TempDir(), "out")
	c.BatchSize = 8
	c.Steps = 10
	c.SaveEvery = 0
	c.SampleEvery = 0
	c.Workers = 1
	c.Seed = 1
	return c
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func losses(rs []Record) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = r.Loss
	}
	return out
}
