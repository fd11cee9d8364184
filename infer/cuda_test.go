package infer

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/torch"
)

// TestCUDAInpaint runs RAD on CUDA with pub_a (skips without CUDA).
func TestCUDAInpaint(t *testing.T) {
	if !torch.CUDAAvailable() {
		t.Skip("no CUDA device")
	}
	cfg, err := radmodel.ConfigFromJSON(filepath.Join(fixtures, "pub_a.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := radmodel.Load(filepath.Join(fixtures, "pub_a.pt"), cfg, torch.CUDA(0), torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ip := newInpainter(t, m)
	img := randomImage(32, 32, 1)
	mask := boxMask(32, 32, 8, 8, 24, 20)
	a, st, err := ip.Inpaint(context.Background(), img, mask, Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if st.ModelCalls != 100 || st.Device != "cuda:0" {
		t.Fatalf("stats %+v", st)
	}
	knownEqual(t, pngRoundTrip(t, a), img, mask)
	b, _, _ := ip.Inpaint(context.Background(), img, mask, Options{Seed: 7})
	if !bytes.Equal(a.Pix, b.Pix) {
		t.Fatal("same seed, different outputs on CUDA")
	}
	t.Logf("RAD 100 steps on cuda:0 (pub_a, 32x32): %.2f s", st.Seconds)
}
