package eval

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radinpaint/rad/torch"
)

func TestMapDistanceKnown(t *testing.T) {
	s := torch.NewNoGradScope()
	defer s.Close()
	// one channel: unit normalisation gives the sign (or 0), so with a
	// positive and a negative value at every position the squared
	// difference is 4; at positions with equal signs it is 0.
	a := torch.FromSlice(s, []float32{1, 2, 3, 4, 5, 6, 7, 8}, 2, 1, 2, 2)
	b := torch.FromSlice(s, []float32{-1, -2, -3, -4, 5, 6, 7, -8}, 2, 1, 2, 2)
	// two channels: (3, 4) -> (0.6, 0.8) and (4, 3) -> (0.8, 0.6): squared
	// difference 0.04 per channel, mean 0.04
	c := torch.FromSlice(s, []float32{3, 3, 4, 4}, 1, 2, 1, 2)
	c2 := torch.FromSlice(s, []float32{4, 4, 3, 3}, 1, 2, 1, 2)
	d, err := MapDistance(s, []*torch.Tensor{a}, []*torch.Tensor{b})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := d.Float64s()
	if math.Abs(got[0]-4) > 1e-6 || math.Abs(got[1]-1) > 1e-6 {
		t.Fatalf("one-channel distance %v, want [4 1]", got)
	}
	d, err = MapDistance(s, []*torch.Tensor{c}, []*torch.Tensor{c2})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = d.Float64s()
	if math.Abs(got[0]-0.04) > 1e-6 {
		t.Fatalf("two-channel distance %v, want 0.04", got)
	}
	// layers are averaged: (4 + 0) / 2 for image 0
	d, err = MapDistance(s, []*torch.Tensor{a, a}, []*torch.Tensor{b, a})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = d.Float64s()
	if math.Abs(got[0]-2) > 1e-6 || math.Abs(got[1]-0.5) > 1e-6 {
		t.Fatalf("two-layer distance %v, want [2 0.5]", got)
	}
	// all-zero features are finite
	z := s.ZerosLike(a)
	d, err = MapDistance(s, []*torch.Tensor{z}, []*torch.Tensor{z})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ = d.Float64s(); got[0] != 0 {
		t.Fatalf("zero maps: %v", got)
	}
	// errors name the layer and the shapes
	if _, err := MapDistance(s, []*torch.Tensor{a}, []*torch.Tensor{c}); err == nil || !strings.Contains(err.Error(), "layer 0: maps [2 1 2 2] and [1 2 1 2]") {
		t.Fatalf("shape mismatch: %v", err)
	}
	if _, err := MapDistance(s, []*torch.Tensor{a, c}, []*torch.Tensor{a, c}); err == nil || !strings.Contains(err.Error(), "layer 1") {
		t.Fatalf("batch mismatch across layers: %v", err)
	}
	if _, err := MapDistance(s, nil, nil); err == nil {
		t.Fatalf("no maps: no error")
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
}

func TestPerceptualDistance(t *testing.T) {
	live := torch.LiveTensors()
	c := newTestClassifier(t)
	func() {
		defer c.Close()
		s := torch.NewNoGradScope()
		defer s.Close()
		g := torch.NewGenerator(9)
		defer g.Close()
		x := testImages(s, 3, 4)
		noise := s.Randn(g, torch.Float32, torch.CPU, 3, 1, 32, 32)
		small := s.Clamp(s.Add(x, s.MulScalar(noise, 0.05)), -1, 1)
		large := s.Clamp(s.Add(x, s.MulScalar(noise, 0.4)), -1, 1)
		same, err := PerceptualDistance(c, x, x)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := PerceptualDistance(c, x, small)
		if err != nil {
			t.Fatal(err)
		}
		dsBack, err := PerceptualDistance(c, small, x)
		if err != nil {
			t.Fatal(err)
		}
		dl, err := PerceptualDistance(c, x, large)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("same %v small %v large %v", same, ds, dl)
		for i := range same {
			if same[i] != 0 {
				t.Errorf("image %d: distance to itself %v", i, same[i])
			}
			if ds[i] != dsBack[i] {
				t.Errorf("image %d: not symmetric: %v vs %v", i, ds[i], dsBack[i])
			}
			if !(ds[i] > 0 && dl[i] > ds[i]) {
				t.Errorf("image %d: small perturbation %v, large %v", i, ds[i], dl[i])
			}
		}
		if _, err := PerceptualDistance(c, x, s.Narrow(x, 0, 0, 2)); err == nil || !strings.Contains(err.Error(), "[3 1 32 32] and [2 1 32 32]") {
			t.Errorf("shape mismatch: %v", err)
		}
		// a net without maps cannot give the distance
		pn, err := LoadTorchScriptNet(filepath.Join("testdata", "ts_pooled.pt"), torch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		defer pn.Close()
		rgb := s.Cat(1, x, x, x)
		if _, err := PerceptualDistance(pn, rgb, rgb); err == nil || !strings.Contains(err.Error(), "no feature maps") {
			t.Errorf("net without maps: %v", err)
		}
		// the TorchScript tuple net works too
		tn, err := LoadTorchScriptNet(filepath.Join("testdata", "ts_tuple.pt"), torch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		defer tn.Close()
		d, err := PerceptualDistance(tn, rgb, s.Cat(1, large, large, large))
		if err != nil || len(d) != 3 || !(d[0] > 0) {
			t.Errorf("TorchScript net distance %v, %v", d, err)
		}
	}()
	if l := torch.LiveTensors(); l != live {
		t.Fatalf("live tensors %d -> %d", live, l)
	}
}
