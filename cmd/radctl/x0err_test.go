package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestX0ErrCommand runs radctl x0err with the shipped photo model on a few
// gradient images: a table and JSON rows per step with both predictors,
// the same numbers on a second run, and clear errors for bad steps and
// modes.
func TestX0ErrCommand(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	for i := 0; i < 3; i++ {
		img := image.NewRGBA(image.Rect(0, 0, 32, 32))
		for y := 0; y < 32; y++ {
			for x := 0; x < 32; x++ {
				img.SetRGBA(x, y, color.RGBA{uint8(8 * x), uint8(8 * y), uint8(60 * i), 255})
			}
		}
		f, _ := os.Create(filepath.Join(data, fmt.Sprintf("%d.png", i)))
		png.Encode(f, img)
		f.Close()
	}
	js := filepath.Join(dir, "rows.json")
	args := []string{"x0err", "--data", data, "--size", "32", "--masks", "large-box", "--steps", "100,900", "--repeats", "2", "--json", js}
	out, err := run(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "| 100 |") || !strings.Contains(out, "| 900 |") || !strings.Contains(out, "prediction") {
		t.Fatalf("output %q", out)
	}
	read := func() []map[string]any {
		var r struct{ Rows []map[string]any }
		raw, _ := os.ReadFile(js)
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		return r.Rows
	}
	rows := read()
	if len(rows) != 2 || rows[0]["n"] != 6.0 || !(rows[1]["known_mean"].(float64) > 0) || !(rows[1]["zero"].(float64) > 0) || rows[1]["model"] == nil {
		t.Fatalf("rows %v", rows)
	}
	if _, err := run(t, args...); err != nil {
		t.Fatal(err)
	}
	if again := read(); fmt.Sprint(again) != fmt.Sprint(rows) {
		t.Errorf("a second run gave %v, the first %v", again, rows)
	}
	for _, bad := range [][]string{{"--steps", "1000"}, {"--mode", "ddpm"}, {"--steps", "x"}, {"--masks", "stars"}} {
		if _, err := run(t, append(append([]string{}, args...), bad...)...); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
