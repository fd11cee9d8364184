package main

import (
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if o, err := run(t, "infer", "--demo", "--steps", "5", "--out", out, "--stats", stats, "--grid", grid); err != nil {
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
	var r benchReport
	if err := json.Unmarshal([]byte(o), &r); err != nil {
		t.Fatalf("%v: %s", err, o)
	}
	if len(r.Rows) != 2 || r.Rows[0].ModelCalls != 4 || r.Rows[1].ModelCalls != 14 || r.WallRatio <= 0 || r.ScalarMs <= 0 {
		t.Fatalf("bench report %+v", r)
	}
}
