package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinyIDX writes n 28 x 28 gray images (a bright blob on dark, moving
// with i) as a gzip-compressed IDX file.
func tinyIDX(t *testing.T, n int) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	hdr := make([]byte, 16)
	binary.BigEndian.PutUint32(hdr, 0x803)
	binary.BigEndian.PutUint32(hdr[4:], uint32(n))
	binary.BigEndian.PutUint32(hdr[8:], 28)
	binary.BigEndian.PutUint32(hdr[12:], 28)
	zw.Write(hdr)
	pix := make([]byte, n*28*28)
	for i := 0; i < n; i++ {
		for y := 0; y < 28; y++ {
			for x := 0; x < 28; x++ {
				dx, dy := x-8-2*i, y-14
				if dx*dx+dy*dy < 40 {
					pix[i*784+y*28+x] = 220
				} else {
					pix[i*784+y*28+x] = byte(10 + x)
				}
			}
		}
	}
	zw.Write(pix)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "t10k-images-idx3-ubyte.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEvalCommand(t *testing.T) {
	data := tinyIDX(t, 5)
	out := filepath.Join(t.TempDir(), "rad")
	o, err := run(t, "eval", "--shipped", "fmnist-rad", "--data", data, "--n", "4", "--offset", "1", "--steps", "2", "--masks", "box", "--batch-size", "3", "--out", out)
	if err != nil {
		t.Fatalf("%v: %s", err, o)
	}
	if !strings.Contains(o, "| FID-FMNIST | KID-FMNIST (mean ± std) |") || !strings.Contains(o, "| box | 4 |") {
		t.Fatalf("output:\n%s", o)
	}
	var rep struct {
		Config map[string]any   `json:"config"`
		Rows   []map[string]any `json:"rows"`
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || rep.Rows[0]["calls_per_image"] != 2.0 || rep.Config["fid_name"] != "FID-FMNIST" || rep.Config["offset"] != 1.0 ||
		!strings.Contains(rep.Config["model"].(string), "fmnist-rad") {
		t.Fatalf("report.json:\n%s", b)
	}
	for _, k := range []string{"fid", "kid_mean", "kid_std", "lpips_style", "psnr_hole", "ssim_hole", "seconds_per_image"} {
		if _, ok := rep.Rows[0][k].(float64); !ok {
			t.Fatalf("%s is %v in\n%s", k, rep.Rows[0][k], b)
		}
	}
	for _, f := range []string{"report.md", "grid-box.png", "per-image-box.csv"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatal(err)
		}
	}

	// the adapter is merged into the weights unless --unmerged-lora: the
	// same fills up to float rounding
	if !strings.Contains(rep.Config["model"].(string), "LoRA merged") {
		t.Fatalf("model %q: adapter not merged", rep.Config["model"])
	}
	outU := filepath.Join(t.TempDir(), "rad-unmerged")
	if o, err := run(t, "eval", "--shipped", "fmnist-rad", "--unmerged-lora", "--data", data, "--n", "4", "--offset", "1", "--steps", "2", "--masks", "box",
		"--batch-size", "3", "--out", outU); err != nil {
		t.Fatalf("%v: %s", err, o)
	}
	var repU struct {
		Config map[string]any   `json:"config"`
		Rows   []map[string]any `json:"rows"`
	}
	b, _ = os.ReadFile(filepath.Join(outU, "report.json"))
	if err := json.Unmarshal(b, &repU); err != nil {
		t.Fatal(err)
	}
	pm, pu := rep.Rows[0]["psnr_hole"].(float64), repU.Rows[0]["psnr_hole"].(float64)
	if strings.Contains(repU.Config["model"].(string), "merged") || math.Abs(pm-pu) > 0.01 {
		t.Fatalf("unmerged: model %q, PSNR %.4f merged vs %.4f unmerged", repU.Config["model"], pm, pu)
	}

	// the floor: mean fill, every image saved
	out2 := filepath.Join(t.TempDir(), "mean")
	if o, err := run(t, "eval", "--shipped", "fmnist", "--sampler", "mean-fill", "--data", data, "--n", "0", "--masks", "extreme,wide", "--save-images", "--out", out2); err != nil {
		t.Fatalf("%v: %s", err, o)
	}
	md, _ := os.ReadFile(filepath.Join(out2, "report.md"))
	if !strings.Contains(string(md), "| extreme | 5 |") || !strings.Contains(string(md), "| 0 |") || !strings.Contains(string(md), "mean fill") {
		t.Fatalf("report.md:\n%s", md)
	}
	if _, err := os.Stat(filepath.Join(out2, "images", "wide", "00004.png")); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--shipped", "fmnist-rad", "--n", "9"}, "has 5 images: cannot take 9 from index 0"},
		{[]string{"--shipped", "nope"}, `--shipped "nope"`},
		{[]string{"--shipped", "fmnist", "--sampler", "magic"}, `--sampler "magic"`},
		{[]string{"--shipped", "fmnist", "--masks", "box,stars"}, `unknown mask kind "stars"`},
		{[]string{"--n", "2"}, "give a model"},
		{[]string{"--shipped", "fmnist", "--base", "x.pt"}, "not both"},
		{[]string{"--shipped", "fmnist", "--features", "missing.pt"}, "missing.pt"},
		{[]string{"--shipped", "fmnist", "--subset", "9", "--n", "4"}, "subset of 9 images out of 4"},
	} {
		args := append([]string{"eval", "--data", data, "--steps", "1", "--out", t.TempDir()}, c.args...)
		if _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: want an error with %q, got %v", c.args, c.want, err)
		}
	}
	if _, err := run(t, "eval", "--shipped", "fmnist", "--data", filepath.Join(t.TempDir(), "none.gz"), "--out", t.TempDir()); err == nil || !strings.Contains(err.Error(), "none.gz") {
		t.Errorf("missing data: %v", err)
	}
}
