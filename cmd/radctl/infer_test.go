package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radinpaint/rad/infer/bench"
)

func writeTestPNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

func TestInferCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.png")
	stats := filepath.Join(dir, "s.json")
	grid := filepath.Join(dir, "g.png")
	if o, err := run(t, "infer", "--random-model", "--steps", "5", "--out", out, "--stats", stats, "--grid", grid); err != nil {
		t.Fatalf("%v %s", err, o)
	}
	var st map[string]any
	b, _ := os.ReadFile(stats)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"model_calls", "seconds", "steps", "sampler", "device"} {
		if _, ok := st[k]; !ok {
			t.Fatalf("stats lack %s: %s", k, b)
		}
	}
	if st["model_calls"].(float64) != 5 || st["sampler"] != "rad" || st["device"] != "cpu" {
		t.Fatalf("stats %s", b)
	}
	g, _ := os.Open(grid)
	gi, err := png.Decode(g)
	g.Close()
	if err != nil || gi.Bounds().Dx() != 96 {
		t.Fatalf("grid: %v %v", err, gi.Bounds())
	}
	// a real checkpoint, image and mask files; then folders, n samples
	fx := "../../testdata/adm/"
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	mask := image.NewGray(image.Rect(0, 0, 32, 32))
	for y := 4; y < 20; y++ {
		for x := 4; x < 20; x++ {
			mask.SetGray(x, y, color.Gray{255})
		}
	}
	in, md := filepath.Join(dir, "in"), filepath.Join(dir, "masks")
	os.MkdirAll(in, 0o755)
	os.MkdirAll(md, 0o755)
	writeTestPNG(t, filepath.Join(in, "a.png"), img)
	writeTestPNG(t, filepath.Join(in, "b.png"), img)
	writeTestPNG(t, filepath.Join(md, "a.png"), mask)
	writeTestPNG(t, filepath.Join(md, "b.png"), mask)
	base := []string{"infer", "--base", fx + "pub_a.pt", "--config", fx + "pub_a.json", "--steps", "3"}
	if o, err := run(t, append(base, "--image", filepath.Join(in, "a.png"), "--mask", filepath.Join(md, "a.png"), "--out", out)...); err != nil {
		t.Fatalf("%v %s", err, o)
	}
	// --average 2: the mean of two samples, run as one batch
	if o, err := run(t, append(base, "--image", filepath.Join(in, "a.png"), "--mask", filepath.Join(md, "a.png"), "--out", out,
		"--average", "2", "--stats", stats)...); err != nil {
		t.Fatalf("%v %s", err, o)
	}
	b, _ = os.ReadFile(stats)
	if err := json.Unmarshal(b, &st); err != nil || st["samples"].(float64) != 2 || st["model_calls"].(float64) != 3 {
		t.Fatalf("--average 2 stats: %v %s", err, b)
	}
	od := filepath.Join(dir, "outs")
	if o, err := run(t, append(base, "--image", in, "--mask", md, "--out", od, "--n", "2", "--batch-size", "2", "--stats", stats)...); err != nil {
		t.Fatalf("%v %s", err, o)
	}
	for _, f := range []string{"a_0.png", "a_1.png", "b_0.png", "b_1.png"} {
		if _, err := os.Stat(filepath.Join(od, f)); err != nil {
			t.Fatalf("missing %s", f)
		}
	}
	// bad inputs: clear errors, no output file
	bad := filepath.Join(dir, "bad.png")
	os.WriteFile(bad, []byte("not an image"), 0o644)
	small := filepath.Join(dir, "small.png")
	writeTestPNG(t, small, image.NewGray(image.Rect(0, 0, 8, 8)))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--image", bad, "--mask", filepath.Join(md, "a.png")}, "bad.png"},
		{[]string{"--image", filepath.Join(in, "a.png"), "--mask", small}, "mask is 8x8"},
		{[]string{"--image", filepath.Join(in, "a.png"), "--mask", filepath.Join(md, "a.png"), "--steps", "2000"}, "1000"},
		{[]string{"--image", filepath.Join(in, "a.png"), "--mask", filepath.Join(md, "a.png"), "--average", "0"}, "--average 0"},
	} {
		o2 := filepath.Join(dir, "never.png")
		_, err := run(t, append(append(append([]string{}, base...), c.args...), "--out", o2)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%v: error %v, want %q", c.args, err, c.want)
		}
		if _, err := os.Stat(o2); err == nil {
			t.Fatalf("%v left an output file", c.args)
		}
	}
}

func TestBenchCommand(t *testing.T) {
	o, err := run(t, "bench", "--steps", "4", "--repaint-respacing", "8", "--repaint-jump-length", "2", "--repaint-jump-n-sample", "2", "--forwards", "2", "--json")
	if err != nil {
		t.Fatalf("%v %s", err, o)
	}
	var r bench.Report
	if err := json.Unmarshal([]byte(o), &r); err != nil {
		t.Fatalf("%v: %s", err, o)
	}
	if len(r.Rows) != 2 || r.Rows[0].ModelCalls != 4 || r.Rows[1].ModelCalls != 14 || r.WallRatio <= 0 || r.ScalarMs <= 0 {
		t.Fatalf("bench report %+v", r)
	}
}

// TestInferNativeNetpbm inpaints a 37x29 PPM under a PGM mask with the
// demo model (which has attention resolutions, so native is forced) at
// the image's own size: the output has the input's size and its known
// pixels are the PPM's bytes.
func TestInferNativeNetpbm(t *testing.T) {
	dir := t.TempDir()
	w, h := 37, 29
	var ppm, pgm bytes.Buffer
	fmt.Fprintf(&ppm, "P6\n# a test image\n%d %d\n255\n", w, h)
	fmt.Fprintf(&pgm, "P5 %d %d\n# hole = white\n255\n", w, h)
	rgb := make([]byte, 3*w*h)
	hole := make([]bool, w*h)
	for i := range rgb {
		rgb[i] = uint8(i*13 + i/7)
	}
	ppm.Write(rgb)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := byte(0)
			if x >= 25 && y >= 18 {
				v, hole[y*w+x] = 255, true
			}
			pgm.WriteByte(v)
		}
	}
	in, mk := filepath.Join(dir, "x.ppm"), filepath.Join(dir, "m.pgm")
	os.WriteFile(in, ppm.Bytes(), 0o644)
	os.WriteFile(mk, pgm.Bytes(), 0o644)
	out, stats := filepath.Join(dir, "o.png"), filepath.Join(dir, "s.json")
	check := func(want map[string]float64, wantRes string) {
		t.Helper()
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds() != image.Rect(0, 0, w, h) {
			t.Fatalf("output %v %v", err, img.Bounds())
		}
		changed := 0
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				got := [3]byte{byte(r >> 8), byte(g >> 8), byte(b >> 8)}
				in := [3]byte(rgb[3*(y*w+x) : 3*(y*w+x)+3])
				if !hole[y*w+x] && got != in {
					t.Fatalf("known pixel (%d,%d) is %v, input %v", x, y, got, in)
				}
				if hole[y*w+x] && got != in {
					changed++
				}
			}
		}
		if changed < 20 {
			t.Fatalf("only %d hole pixels changed", changed)
		}
		var st map[string]any
		b, _ := os.ReadFile(stats)
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		if st["resolution"] != wantRes {
			t.Fatalf("stats %s", b)
		}
		for k, v := range want {
			if st[k] != v {
				t.Fatalf("stats %s: %s is %v, want %v", b, k, st[k], v)
			}
		}
	}
	base := []string{"infer", "--random-model", "--image", in, "--mask", mk, "--steps", "3", "--out", out, "--stats", stats}
	// the demo model has attention: auto resizes to its 32x32
	if o, err := run(t, base...); err != nil {
		t.Fatalf("%v %s", err, o)
	}
	check(map[string]float64{"work_width": 32, "work_height": 32, "width": 37, "height": 29}, "model")
	// native: padded to 40x32 (factor 4), cropped back
	if o, err := run(t, append(base, "--resolution", "native")...); err != nil {
		t.Fatalf("%v %s", err, o)
	}
	check(map[string]float64{"work_width": 40, "work_height": 32, "tiles": 1, "model_calls": 3}, "native")
	// tiled: 16x16 tiles blended at every step
	if o, err := run(t, append(base, "--resolution", "native", "--max-tile-pixels", "256")...); err != nil {
		t.Fatalf("%v %s", err, o)
	}
	check(map[string]float64{"work_width": 40, "work_height": 32, "tiles": 9, "model_calls": 3}, "native")
	// max side: worked at 16x13 (padded 16x16), pasted back at 37x29
	if o, err := run(t, append(base, "--resolution", "native", "--max-side", "16")...); err != nil {
		t.Fatalf("%v %s", err, o)
	}
	check(map[string]float64{"work_width": 16, "work_height": 16, "width": 37}, "native")

	// folders of PPMs with PGM masks
	ind, md, od := filepath.Join(dir, "in"), filepath.Join(dir, "masks"), filepath.Join(dir, "outs")
	os.MkdirAll(ind, 0o755)
	os.MkdirAll(md, 0o755)
	os.WriteFile(filepath.Join(ind, "a.ppm"), ppm.Bytes(), 0o644)
	os.WriteFile(filepath.Join(md, "a.pgm"), pgm.Bytes(), 0o644)
	if o, err := run(t, "infer", "--random-model", "--image", ind, "--mask", md, "--steps", "2", "--out", od, "--resolution", "native"); err != nil {
		t.Fatalf("%v %s", err, o)
	}
	if _, err := os.Stat(filepath.Join(od, "a.png")); err != nil {
		t.Fatal(err)
	}

	// bad input: errors name the file or the flag, no output
	cut := filepath.Join(dir, "cut.ppm")
	os.WriteFile(cut, ppm.Bytes()[:40], 0o644)
	never := filepath.Join(dir, "never.png")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--image", cut, "--mask", mk}, "cut.ppm"},
		{[]string{"--image", in, "--mask", mk, "--resolution", "huge"}, "--resolution"},
		{[]string{"--image", in, "--mask", mk, "--max-side", "-2"}, "--max-side"},
	} {
		_, err := run(t, append([]string{"infer", "--random-model", "--steps", "2", "--out", never}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%v: error %v, want %q", c.args, err, c.want)
		}
		if _, err := os.Stat(never); err == nil {
			t.Fatalf("%v left an output file", c.args)
		}
	}
}

// TestInferDefaultModel: with no --base, radctl infer runs the shipped
// photo model at the image's own resolution (a size that is no multiple of
// the UNet's factor), and the known pixels are byte-exact.
func TestInferDefaultModel(t *testing.T) {
	dir := t.TempDir()
	const w, h = 37, 29
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	mask := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, color.RGBA{uint8(7 * x), uint8(9 * y), uint8(x * y), 255})
			if x > 10 && x < 20 && y > 8 && y < 18 {
				mask.SetGray(x, y, color.Gray{255})
			}
		}
	}
	in, mk := filepath.Join(dir, "in.png"), filepath.Join(dir, "mask.png")
	for p, im := range map[string]image.Image{in: img, mk: mask} {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, im); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	out, stats := filepath.Join(dir, "out.png"), filepath.Join(dir, "stats.json")
	if o, err := run(t, "infer", "--image", in, "--mask", mk, "--out", out, "--stats", stats, "--steps", "3"); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	res, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Bounds().Dx() != w || res.Bounds().Dy() != h {
		t.Fatalf("output %v, want %dx%d", res.Bounds(), w, h)
	}
	changed := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r0, g0, b0, _ := img.At(x, y).RGBA()
			r1, g1, b1, _ := res.At(x, y).RGBA()
			same := r0 == r1 && g0 == g1 && b0 == b1
			if mask.GrayAt(x, y).Y == 0 && !same {
				t.Fatalf("known pixel (%d,%d) changed", x, y)
			}
			if mask.GrayAt(x, y).Y != 0 && !same {
				changed++
			}
		}
	}
	if changed == 0 {
		t.Fatal("the hole was not filled")
	}
	raw, err := os.ReadFile(stats)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if st["resolution"] != "native" || st["work_width"] != float64(40) || st["work_height"] != float64(32) {
		t.Fatalf("stats %v: want native at 40 x 32", st)
	}
}
