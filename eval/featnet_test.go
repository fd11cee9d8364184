package eval

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radinpaint/rad/internal/tensortest"
	"github.com/radinpaint/rad/torch"
)

func loadTS(t *testing.T, name string) *TorchScriptNet {
	t.Helper()
	n, err := LoadTorchScriptNet(filepath.Join("testdata", "ts_"+name+".pt"), torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTorchScriptNet runs gen_torchscript.py's modules and compares with
// the outputs PyTorch computed.
func TestTorchScriptNet(t *testing.T) {
	live, liveMods := torch.LiveTensors(), torch.LiveModules()
	func() {
		s := torch.NewNoGradScope()
		defer s.Close()
		ref, err := torch.LoadPT(s, filepath.Join("testdata", "ts_ref.pt"))
		if err != nil {
			t.Fatal(err)
		}
		x := ref.Get("x")

		tup := loadTS(t, "tuple")
		defer tup.Close()
		pooled, maps, err := tup.Features(s, x)
		if err != nil {
			t.Fatal(err)
		}
		if len(maps) != 2 {
			t.Fatalf("tuple net: %d maps, want 2", len(maps))
		}
		for name, p := range map[string][2]*torch.Tensor{"pooled": {pooled, ref.Get("pooled")},
			"map1": {maps[0], ref.Get("map1")}, "map2": {maps[1], ref.Get("map2")}} {
			if d := tensortest.MaxAbsDiff(t, p[0], p[1]); d > 1e-6 {
				t.Errorf("tuple net %s differs from PyTorch by %g", name, d)
			}
		}

		pn := loadTS(t, "pooled")
		defer pn.Close()
		p2, m2, err := pn.Features(s, x)
		if err != nil {
			t.Fatal(err)
		}
		if len(m2) != 0 || tensortest.MaxAbsDiff(t, p2, ref.Get("pooled")) > 1e-6 {
			t.Errorf("pooled-only net: %d maps, pooled off by %g", len(m2), tensortest.MaxAbsDiff(t, p2, ref.Get("pooled")))
		}

		mn := loadTS(t, "map")
		defer mn.Close()
		p3, m3, err := mn.Features(s, x)
		if err != nil {
			t.Fatal(err)
		}
		if len(m3) != 1 || tensortest.MaxAbsDiff(t, m3[0], ref.Get("map2")) > 1e-6 || tensortest.MaxAbsDiff(t, p3, ref.Get("pooled")) > 1e-6 {
			t.Errorf("map net: %d maps or values off", len(m3))
		}

		// float64 input is converted; a wrong rank is an error naming the shape
		if _, _, err := tup.Features(s, s.To(x, torch.Float64)); err != nil {
			t.Errorf("float64 input: %v", err)
		}
		if _, _, err := tup.Features(s, s.Reshape(x, 2, 3, 64)); err == nil || !strings.Contains(err.Error(), "[2 3 64]") {
			t.Errorf("3-D input: %v", err)
		}
		if s.Err() != nil {
			t.Fatal(s.Err())
		}

		bad := loadTS(t, "bad")
		defer bad.Close()
		if _, _, err := bad.Features(s, x); err == nil || !strings.Contains(err.Error(), "output 0 has shape [2 6 4]") {
			t.Errorf("3-D output: %v", err)
		}
		dict := loadTS(t, "dict")
		defer dict.Close()
		if _, _, err := dict.Features(s, x); err == nil || !strings.Contains(err.Error(), "not a tensor, tuple or list") {
			t.Errorf("dict output: %v", err)
		}
		if s.Err() != nil {
			t.Fatalf("a failing net left an error in the caller's scope: %v", s.Err())
		}
	}()
	if l, m := torch.LiveTensors(), torch.LiveModules(); l != live || m != liveMods {
		t.Fatalf("live tensors %d -> %d, modules %d -> %d", live, l, liveMods, m)
	}
	if _, err := LoadTorchScriptNet(filepath.Join("testdata", "missing.pt"), torch.CPU); err == nil || !strings.Contains(err.Error(), "missing.pt") {
		t.Errorf("missing file: %v", err)
	}
}

func TestExtractFeatures(t *testing.T) {
	s := torch.NewNoGradScope()
	defer s.Close()
	ref, err := torch.LoadPT(s, filepath.Join("testdata", "ts_ref.pt"))
	if err != nil {
		t.Fatal(err)
	}
	x := s.Cat(0, ref.Get("x"), s.Flip(ref.Get("x"), 3), s.Neg(ref.Get("x"))) // 6 images
	net := loadTS(t, "tuple")
	defer net.Close()
	all, err := ExtractFeatures(context.Background(), net, x, 0)
	if err != nil {
		t.Fatal(err)
	}
	chunked, err := ExtractFeatures(context.Background(), net, x, 4)
	if err != nil {
		t.Fatal(err)
	}
	if all.N != 6 || all.D != 6 || chunked.N != 6 {
		t.Fatalf("features [%d, %d], chunked [%d, %d]", all.N, all.D, chunked.N, chunked.D)
	}
	for i, v := range all.Data {
		if d := v - chunked.Data[i]; d > 1e-6 || d < -1e-6 {
			t.Fatalf("chunked features differ at %d: %v vs %v", i, v, chunked.Data[i])
		}
	}
	want, _ := FeaturesFromTensor(ref.Get("pooled"))
	for i, v := range want.Data {
		if d := v - all.Data[i]; d > 1e-6 || d < -1e-6 {
			t.Fatalf("features differ from PyTorch at %d", i)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ExtractFeatures(ctx, net, x, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
