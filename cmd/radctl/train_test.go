package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/train"
)

const tinyTrainFlags = "--image_size 16 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2 " +
	"--attention_resolutions 8 --num_head_channels 32 --learn_sigma True"

// trainData writes n 16x16 PNGs (a square on a plain background).
func trainData(t *testing.T, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dir, 0o755)
	for i := 0; i < n; i++ {
		img := image.NewRGBA(image.Rect(0, 0, 16, 16))
		for y := 0; y < 16; y++ {
			for x := 0; x < 16; x++ {
				c := color.RGBA{20, 40, uint8(120 + 10*i), 255}
				if x >= 3+i%5 && x < 9+i%5 && y >= 4 && y < 11 {
					c = color.RGBA{230, uint8(150 + 9*i), 30, 255}
				}
				img.SetRGBA(x, y, c)
			}
		}
		writeTestPNG(t, filepath.Join(dir, fmt.Sprintf("i%02d.png", i)), img)
	}
	return dir
}

func decodeTrainPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// adm from a config (random init) makes a base that infer and a rad-lora
// run both load; the rad-lora adapter works with radctl infer --lora;
// --resume continues and refuses contradicting flags.
func TestTrainCommand(t *testing.T) {
	data := trainData(t, 6)
	dir := t.TempDir()
	admOut := filepath.Join(dir, "adm")
	common := []string{"--data", data, "--batch-size", "2", "--workers", "1", "--preview-images", "2", "--preview-steps", "4"}
	o, err := run(t, append([]string{"train", "--objective", "adm", "--model-flags", tinyTrainFlags, "--out", admOut,
		"--steps", "3", "--save-every", "2", "--sample-every", "3"}, common...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	if !strings.Contains(o, "adm: steps 0..3") {
		t.Fatalf("output %q", o)
	}
	base := filepath.Join(admOut, train.FinalModel)
	for _, f := range []string{"ckpt-00000002.safetensors", "ckpt-00000003.safetensors", "model-00000003.safetensors",
		train.FinalModel, train.LogFile, train.PlotFile, train.ConfigFile} {
		if _, err := os.Stat(filepath.Join(admOut, f)); err != nil {
			t.Fatalf("missing %s", f)
		}
	}
	g := decodeTrainPNG(t, filepath.Join(admOut, train.SampleDir, "step-00000003.png"))
	if g.Bounds().Dy() < 2*96 || g.Bounds().Dx() < 3*96 {
		t.Fatalf("sample grid %v", g.Bounds())
	}
	recs, err := train.ReadLog(filepath.Join(admOut, train.LogFile))
	if err != nil || len(recs) != 3 {
		t.Fatalf("log: %d records, %v", len(recs), err)
	}

	// rad-lora on that base (its config is in the file), with sample grids
	loraOut := filepath.Join(dir, "lora")
	args := append([]string{"train", "--base", base, "--out", loraOut, "--steps", "2", "--save-every", "2",
		"--sample-every", "2", "--timestep-offset", "1", "--seed", "4"}, common...)
	if o, err := run(t, args...); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	adapter := filepath.Join(loraOut, train.FinalAdapter)
	meta, err := radmodel.ReadAdapterMeta(adapter)
	if err != nil || meta.TimestepOffset != 1 || meta.Rank != 16 || meta.DiffusionSteps != 1000 {
		t.Fatalf("adapter meta %+v %v", meta, err)
	}
	decodeTrainPNG(t, filepath.Join(loraOut, train.SampleDir, "step-00000002.png"))

	// radctl infer takes the adapter
	img := filepath.Join(dir, "img.png")
	mask := filepath.Join(dir, "mask.png")
	writeTestPNG(t, img, decodeTrainPNG(t, filepath.Join(data, "i01.png")))
	mk := image.NewGray(image.Rect(0, 0, 16, 16))
	for y := 4; y < 12; y++ {
		for x := 4; x < 12; x++ {
			mk.SetGray(x, y, color.Gray{255})
		}
	}
	writeTestPNG(t, mask, mk)
	res := filepath.Join(dir, "res.png")
	if o, err := run(t, "infer", "--base", base, "--lora", adapter, "--image", img, "--mask", mask, "--out", res, "--steps", "3"); err != nil {
		t.Fatalf("infer with the adapter: %v\n%s", err, o)
	}
	decodeTrainPNG(t, res)

	// a fresh run into a folder with checkpoints is refused; resume goes on
	if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), "--resume latest") {
		t.Fatalf("rerun into a used folder: %v", err)
	}
	if _, err := run(t, "train", "--out", loraOut, "--resume", "latest", "--lr", "0.5"); err == nil || !strings.Contains(err.Error(), "--lr 0.5") {
		t.Fatalf("contradicting --lr on resume: %v", err)
	}
	o, err = run(t, "train", "--out", loraOut, "--resume", "latest", "--steps", "3", "--workers", "1", "--sample-every", "0")
	if err != nil || !strings.Contains(o, "rad-lora: steps 2..3") {
		t.Fatalf("resume: %v\n%s", err, o)
	}
	info, err := train.ReadCheckpoint(filepath.Join(loraOut, "ckpt-00000003.safetensors"))
	if err != nil || info.Config.TimestepOffset != 1 || info.Config.Seed != 4 || info.Config.BatchSize != 2 {
		t.Fatalf("resumed checkpoint %+v %v", info, err)
	}
	// errors
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--out", filepath.Join(dir, "x"), "--data", data}, "--base"},
		{[]string{"train", "--objective", "adm", "--out", filepath.Join(dir, "x"), "--data", data}, "--model-flags"},
		{[]string{"train", "--objective", "adm", "--model-flags", tinyTrainFlags, "--out", filepath.Join(dir, "x")}, "--data"},
		{[]string{"train", "--objective", "gan", "--model-flags", tinyTrainFlags, "--out", filepath.Join(dir, "x"), "--data", data}, "gan"},
		{[]string{"train", "--out", filepath.Join(dir, "x"), "--resume", "latest"}, "no checkpoint"},
	} {
		if _, err := run(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}

// TestTrainPrediction: rad-full with --prediction v saves the
// parameterization in its exports; a resume with the same flags
// (--model-flags and --prediction again) continues, and one with another
// --prediction is refused; rad-lora cannot change its base's.
func TestTrainPrediction(t *testing.T) {
	data := trainData(t, 4)
	out := filepath.Join(t.TempDir(), "v")
	args := []string{"train", "--objective", "rad-full", "--model-flags", tinyTrainFlags, "--prediction", "v", "--out", out,
		"--data", data, "--batch-size", "2", "--workers", "1", "--sample-every", "0", "--save-every", "2"}
	if o, err := run(t, append(args, "--steps", "2")...); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	o, err := run(t, "inspect", "--model", filepath.Join(out, "model-00000002.safetensors"))
	if err != nil || !strings.Contains(o, "predicts v") {
		t.Fatalf("inspect: %v\n%s", err, o)
	}
	if o, err := run(t, append(args, "--steps", "3", "--resume", "latest")...); err != nil {
		t.Fatalf("resume with the same flags: %v\n%s", err, o)
	}
	bad := append(append([]string{}, args...), "--steps", "4", "--resume", "latest")
	bad[6] = "x0" // --prediction x0
	if _, err := run(t, bad...); err == nil || !strings.Contains(err.Error(), "--prediction x0") {
		t.Fatalf("resume with --prediction x0: %v", err)
	}
	if _, err := run(t, "train", "--objective", "rad-lora", "--base", filepath.Join(out, "model-00000002.safetensors"),
		"--prediction", "eps", "--data", data, "--out", filepath.Join(t.TempDir(), "l")); err == nil || !strings.Contains(err.Error(), "keeps its base's") {
		t.Fatalf("rad-lora --prediction eps on a v base: %v", err)
	}
}

// TestTrainResolution: --resolution is saved in the model files (and may
// change on resume: it is metadata); rad-lora and unknown values are
// refused.
func TestTrainResolution(t *testing.T) {
	data := trainData(t, 4)
	out := filepath.Join(t.TempDir(), "r")
	args := []string{"train", "--objective", "rad-full", "--model-flags", tinyTrainFlags, "--out", out,
		"--data", data, "--batch-size", "2", "--workers", "1", "--sample-every", "0", "--save-every", "1"}
	if o, err := run(t, append(args, "--steps", "1", "--resolution", "native")...); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	o, err := run(t, "inspect", "--model", filepath.Join(out, "model-00000001.safetensors"))
	if err != nil || !strings.Contains(o, "runs at native resolution") {
		t.Fatalf("inspect: %v\n%s", err, o)
	}
	if o, err := run(t, append(args, "--steps", "2", "--resume", "latest", "--resolution", "model")...); err != nil {
		t.Fatalf("resume with another resolution: %v\n%s", err, o)
	}
	if o, err := run(t, "inspect", "--model", filepath.Join(out, "model-00000002.safetensors")); err != nil || !strings.Contains(o, "runs at model resolution") {
		t.Fatalf("inspect after resume: %v\n%s", err, o)
	}
	if _, err := run(t, append(args[:len(args):len(args)], "--steps", "1", "--resolution", "any", "--out", filepath.Join(t.TempDir(), "x"))...); err == nil || !strings.Contains(err.Error(), "--resolution") {
		t.Fatalf("--resolution any: %v", err)
	}
	if _, err := run(t, "train", "--objective", "rad-lora", "--base", filepath.Join(out, "model-00000002.safetensors"),
		"--resolution", "native", "--data", data, "--out", filepath.Join(t.TempDir(), "l")); err == nil || !strings.Contains(err.Error(), "adapter") {
		t.Fatalf("rad-lora --resolution: %v", err)
	}
}
