package eval

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/radinpaint/rad/internal/tensortest"
	"github.com/radinpaint/rad/torch"
	"github.com/radinpaint/rad/train/data"
)

// fmnistDir is where Debian's dataset-fashion-mnist puts the files
// (EVAL_FMNIST_DIR overrides it); tests that need them skip when absent.
func fmnistDir() string {
	if d := os.Getenv("EVAL_FMNIST_DIR"); d != "" {
		return d
	}
	return "/usr/share/datasets/fashion-mnist"
}

func newTestClassifier(t *testing.T) *Classifier {
	t.Helper()
	c, err := NewClassifier(DefaultClassifierConfig(), 5, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testImages is a deterministic batch [n, 1, 32, 32] in [-1, 1].
func testImages(s *torch.Scope, n int64, seed uint64) *torch.Tensor {
	g := torch.NewGenerator(seed)
	defer g.Close()
	return s.Tanh(s.MulScalar(s.Randn(g, torch.Float32, torch.CPU, n, 1, 32, 32), 0.8))
}

func TestClassifierShapes(t *testing.T) {
	live := torch.LiveTensors()
	c := newTestClassifier(t)
	if n := c.NumParams(); n != 188554 {
		t.Errorf("%d parameters, want 188554", n)
	}
	func() {
		s := torch.NewNoGradScope()
		defer s.Close()
		x := testImages(s, 3, 1)
		logits, pooled, maps := c.Forward(s, x)
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(logits.Shape(), []int64{3, 10}) || !slices.Equal(pooled.Shape(), []int64{3, 128}) {
			t.Fatalf("logits %v pooled %v", logits.Shape(), pooled.Shape())
		}
		want := [][]int64{{3, 32, 32, 32}, {3, 64, 16, 16}, {3, 64, 8, 8}}
		if len(maps) != len(want) {
			t.Fatalf("%d maps", len(maps))
		}
		for i, m := range maps {
			if !slices.Equal(m.Shape(), want[i]) {
				t.Fatalf("map %d: %v, want %v", i, m.Shape(), want[i])
			}
		}
		// Features: the same pooled values; RGB input is made gray first
		fp, fm, err := c.Features(s, x)
		if err != nil {
			t.Fatal(err)
		}
		if len(fm) != 3 || tensortest.MaxAbsDiff(t, fp, pooled) != 0 {
			t.Fatalf("Features differ from Forward")
		}
		rgb := s.Cat(1, x, x, x)
		rp, _, err := c.Features(s, rgb)
		if err != nil {
			t.Fatal(err)
		}
		if d := tensortest.MaxAbsDiff(t, rp, pooled); d > 1e-5 {
			t.Fatalf("gray as RGB: pooled differs by %g", d)
		}
		if _, _, err := c.Features(s, s.Narrow(x, 2, 0, 28)); err == nil || !strings.Contains(err.Error(), "[3 1 28 32]") {
			t.Fatalf("wrong size: %v", err)
		}
		if _, _, err := c.Features(s, s.Cat(1, x, x)); err == nil || !strings.Contains(err.Error(), "want [N, 1 or 3, 32, 32]") {
			t.Fatalf("two channels: %v", err)
		}
		if s.Err() != nil {
			t.Fatal(s.Err())
		}
	}()
	c.Close()
	if l := torch.LiveTensors(); l != live {
		t.Fatalf("live tensors %d -> %d", live, l)
	}
	if _, err := NewClassifier(ClassifierConfig{Size: 36, Channels: []int{8, 8, 8}, Groups: 4, Hidden: 4, Classes: 2}, 1, torch.CPU); err == nil {
		t.Fatalf("size 36 with 3 stages: no error")
	}
}

func TestClassifierStepLowersLoss(t *testing.T) {
	c := newTestClassifier(t)
	defer c.Close()
	if err := c.SetTrainable(true); err != nil {
		t.Fatal(err)
	}
	opt, err := torch.NewAdamW(c.params, torch.AdamWConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Close()
	s := torch.NewNoGradScope()
	defer s.Close()
	xs, err := testImages(s, 8, 2).Float32s()
	if err != nil {
		t.Fatal(err)
	}
	ys := []int64{0, 1, 2, 3, 4, 5, 6, 7}
	first, _, err := trainStep(c, opt, xs, ys, 32)
	if err != nil {
		t.Fatal(err)
	}
	var last float64
	for i := 0; i < 3; i++ {
		if last, _, err = trainStep(c, opt, xs, ys, 32); err != nil {
			t.Fatal(err)
		}
	}
	if !(last < first) {
		t.Fatalf("loss %v after 3 steps, %v before", last, first)
	}
	if math.Abs(first-math.Log(10)) > 1.5 {
		t.Fatalf("initial loss %v far from log(10)", first)
	}
}

func TestClassifierSaveLoad(t *testing.T) {
	live := torch.LiveTensors()
	path := filepath.Join(t.TempDir(), "c.safetensors")
	func() {
		c := newTestClassifier(t)
		defer c.Close()
		if err := c.Save(path); err != nil {
			t.Fatal(err)
		}
		l, err := LoadClassifier(path, torch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if l.Config().Hidden != 128 || len(l.Config().Channels) != 3 {
			t.Fatalf("loaded config %+v", l.Config())
		}
		s := torch.NewNoGradScope()
		defer s.Close()
		_, ps := c.Params()
		_, ls := l.Params()
		for i := range ps {
			if ls[i].DType() != torch.Float32 {
				t.Fatalf("loaded parameter %d is %s", i, ls[i].DType())
			}
			// the file holds float16: loaded = float32(float16(original))
			if d := tensortest.MaxAbsDiff(t, ls[i], s.To(s.To(ps[i], torch.Float16), torch.Float32)); d != 0 {
				t.Fatalf("parameter %d differs from its float16 rounding by %g", i, d)
			}
		}
		x := testImages(s, 4, 3)
		a, err := c.Logits(s, x)
		if err != nil {
			t.Fatal(err)
		}
		b, err := l.Logits(s, x)
		if err != nil {
			t.Fatal(err)
		}
		if d := tensortest.MaxAbsDiff(t, a, b); d > 2e-2 {
			t.Fatalf("logits of the loaded classifier differ by %g", d)
		}
		// the file is float16
		sd, err := torch.LoadSafetensors(s, path)
		if err != nil {
			t.Fatal(err)
		}
		if sd.Get("fc2.weight").DType() != torch.Float16 {
			t.Fatalf("saved as %s", sd.Get("fc2.weight").DType())
		}
		// a file missing a tensor, or of another format, is refused
		names, ts := c.Params()
		bad := filepath.Join(t.TempDir(), "bad.safetensors")
		if err := torch.SaveSafetensors(bad, names[1:], ts[1:], map[string]string{"format": ClassifierFormat, "config": `{"size":32,"channels":[32,64,64],"groups":8,"hidden":128,"classes":10}`}); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadClassifier(bad, torch.CPU); err == nil || !strings.Contains(err.Error(), "15 tensors") {
			t.Fatalf("missing tensor: %v", err)
		}
		if err := torch.SaveSafetensors(bad, names, ts, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadClassifier(bad, torch.CPU); err == nil || !strings.Contains(err.Error(), "format") {
			t.Fatalf("no format: %v", err)
		}
	}()
	if l := torch.LiveTensors(); l != live {
		t.Fatalf("live tensors %d -> %d", live, l)
	}
}

// writeIDX writes gzip-compressed IDX data: dims then bytes.
func writeIDX(t *testing.T, path string, magic uint32, dims []uint32, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	hdr := make([]byte, 4+4*len(dims))
	binary.BigEndian.PutUint32(hdr, magic)
	for i, d := range dims {
		binary.BigEndian.PutUint32(hdr[4+4*i:], d)
	}
	zw.Write(hdr)
	zw.Write(body)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tinyFashion writes a Fashion-MNIST-like folder of n 28 x 28 images in
// two classes: horizontal stripes (0) and vertical stripes (1), so that
// flips keep the class.
func tinyFashion(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	pix := make([]byte, n*28*28)
	labels := make([]byte, n)
	for i := 0; i < n; i++ {
		labels[i] = byte(i % 2)
		for y := 0; y < 28; y++ {
			for x := 0; x < 28; x++ {
				v := byte((x*7 + y*3 + i*11) % 60)
				c := y // class 0: horizontal stripes
				if labels[i] == 1 {
					c = x // class 1: vertical stripes
				}
				if (c/2)%2 == 0 {
					v += 180
				}
				pix[i*784+y*28+x] = v
			}
		}
	}
	for _, split := range []string{"train", "t10k"} {
		writeIDX(t, filepath.Join(dir, split+"-images-idx3-ubyte.gz"), 0x803, []uint32{uint32(n), 28, 28}, pix)
		writeIDX(t, filepath.Join(dir, split+"-labels-idx1-ubyte.gz"), 0x801, []uint32{uint32(n)}, labels)
	}
	return dir
}

func TestLabeledIDX(t *testing.T) {
	dir := tinyFashion(t, 6)
	labels, err := ReadIDXLabels(filepath.Join(dir, "train-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != 6 || labels[3] != 1 || labels[4] != 0 {
		t.Fatalf("labels %v", labels)
	}
	set, err := LoadFashionMNIST(dir, "train", 32, 5)
	if err != nil {
		t.Fatal(err)
	}
	if set.N != 5 || len(set.Images) != 5*32*32 || set.Labels[1] != 1 {
		t.Fatalf("set of %d images, labels %v", set.N, set.Labels)
	}
	// exactly train/data's transform of the 28 x 28 image
	src, err := data.NewIDX(filepath.Join(dir, "train-images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	img, _ := src.Load(3)
	want := make([]float32, 32*32)
	if err := data.Transform(want, img, 32, 1, data.Aug{}); err != nil {
		t.Fatal(err)
	}
	for i, v := range want {
		if set.Image(3)[i] != v {
			t.Fatalf("pixel %d: %v, Transform %v", i, set.Image(3)[i], v)
		}
	}
	// errors: image file as labels, label count mismatch, bad split
	if _, err := ReadIDXLabels(filepath.Join(dir, "train-images-idx3-ubyte.gz")); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Errorf("images read as labels: %v", err)
	}
	writeIDX(t, filepath.Join(dir, "short-labels.gz"), 0x801, []uint32{4}, []byte{1, 2, 3, 4})
	if _, err := LoadLabeledIDX(filepath.Join(dir, "train-images-idx3-ubyte.gz"), filepath.Join(dir, "short-labels.gz"), 32, 0); err == nil || !strings.Contains(err.Error(), "6 images") {
		t.Errorf("count mismatch: %v", err)
	}
	writeIDX(t, filepath.Join(dir, "trunc-labels.gz"), 0x801, []uint32{9}, []byte{1, 2})
	if _, err := ReadIDXLabels(filepath.Join(dir, "trunc-labels.gz")); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated: %v", err)
	}
	if _, err := LoadFashionMNIST(dir, "val", 32, 0); err == nil {
		t.Errorf("split val: no error")
	}
}

// TestTrainClassifierTiny trains a few steps on a tiny two-class set.
func TestTrainClassifierTiny(t *testing.T) {
	live := torch.LiveTensors()
	dir := tinyFashion(t, 64)
	var logged int
	cfg := TrainConfig{Data: dir, Epochs: 3, BatchSize: 16, LR: 1e-2, Seed: 1, LogEvery: 2,
		Model: ClassifierConfig{Size: 32, Channels: []int{8, 16}, Groups: 4, Hidden: 16, Classes: 2},
		Logf:  func(string, ...any) { logged++ }}
	c, res, err := TrainClassifier(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 12 || res.TestImages != 64 || math.IsNaN(res.TestAccuracy) || logged == 0 {
		t.Fatalf("result %+v, %d log lines", res, logged)
	}
	t.Logf("tiny run: %+v", res)
	if res.TestAccuracy < 0.75 {
		t.Errorf("test accuracy %v on a trivially separable set", res.TestAccuracy)
	}
	c.Close()
	// reproducible
	c2, res2, err := TrainClassifier(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
	if res2.FinalLoss != res.FinalLoss {
		t.Errorf("second run's loss %v, first %v", res2.FinalLoss, res.FinalLoss)
	}
	if l := torch.LiveTensors(); l != live {
		t.Fatalf("live tensors %d -> %d", live, l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := TrainClassifier(ctx, cfg); err == nil {
		t.Fatalf("cancelled run: no error")
	}
	bad := cfg
	bad.Model.Classes = 1
	if _, _, err := TrainClassifier(context.Background(), bad); err == nil {
		t.Fatalf("one class: no error")
	}
}

// TestFashionMNISTFiles reads a few images of the real data when installed.
func TestFashionMNISTFiles(t *testing.T) {
	dir := fmnistDir()
	if _, err := os.Stat(FashionMNISTFile(dir, "t10k-labels-idx1-ubyte")); err != nil {
		t.Skipf("no Fashion-MNIST in %s (set EVAL_FMNIST_DIR)", dir)
	}
	set, err := LoadFashionMNIST(dir, "t10k", 32, 16)
	if err != nil {
		t.Fatal(err)
	}
	// the first test labels of Fashion-MNIST: ankle boot, pullover, trouser, trouser
	if set.N != 16 || set.Labels[0] != 9 || set.Labels[1] != 2 || set.Labels[2] != 1 || set.Labels[3] != 1 {
		t.Fatalf("labels %v", set.Labels)
	}
}

// TestTrainedClassifier checks trained weights (EVAL_CLASSIFIER, a file
// written by eval/cmd/train-classifier) on the first 2,000 Fashion-MNIST
// test images, when both are there.
func TestTrainedClassifier(t *testing.T) {
	path := os.Getenv("EVAL_CLASSIFIER")
	if path == "" {
		t.Skip("set EVAL_CLASSIFIER to a trained classifier's safetensors file")
	}
	dir := fmnistDir()
	if _, err := os.Stat(FashionMNISTFile(dir, "t10k-labels-idx1-ubyte")); err != nil {
		t.Skipf("no Fashion-MNIST in %s (set EVAL_FMNIST_DIR)", dir)
	}
	c, err := LoadClassifier(path, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	set, err := LoadFashionMNIST(dir, "t10k", c.Config().Size, 2000)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := c.Accuracy(context.Background(), set, 500)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accuracy %.4f on %d test images", acc, set.N)
	if acc < 0.88 {
		t.Fatalf("accuracy %.4f on the first %d test images", acc, set.N)
	}
}
