package models

import (
	"testing"

	"github.com/radinpaint/rad/torch"
)

// TestShippedModels loads every shipped model and adapter, runs a forward
// and checks the output's shape and finiteness.
func TestShippedModels(t *testing.T) {
	m, err := Photo(torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := m.Config()
	if len(cfg.AttentionResolutions) != 0 || cfg.InChannels != 3 || !cfg.LearnSigma {
		t.Fatalf("photo config %s", cfg.Short())
	}
	forward := func(name string, c, h, w int64, run func(s *torch.Scope, x, tt *torch.Tensor) *torch.Tensor) {
		s := torch.NewNoGradScope()
		defer s.Close()
		g := torch.NewGenerator(1)
		defer g.Close()
		x := s.Randn(g, torch.Float32, torch.CPU, 2, c, h, w)
		tt := s.Full(300, torch.Float32, torch.CPU, 2)
		out := run(s, x, tt)
		if err := s.Err(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := out.Shape(); got[0] != 2 || got[1] != 2*c || got[2] != h || got[3] != w {
			t.Fatalf("%s: output %v", name, got)
		}
		ok, err := s.All(s.IsFinite(out)).Item()
		if err != nil || ok == 0 {
			t.Fatalf("%s: non-finite output (%v)", name, err)
		}
	}
	// fully convolutional: any multiple of 8
	forward("photo", 3, 40, 56, func(s *torch.Scope, x, tt *torch.Tensor) *torch.Tensor { return m.Forward(s, x, tt, nil) })

	for _, name := range []string{AdapterRAD, AdapterCfg2} {
		b, err := FMNISTBase(torch.CPU, torch.Float32)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := FMNISTAdapter(b, name); err != nil {
			b.Close()
			t.Fatalf("%s: %v", name, err)
		}
		forward("fmnist "+name, 1, 32, 32, func(s *torch.Scope, x, tt *torch.Tensor) *torch.Tensor { return b.Forward(s, x, tt, nil) })
		b.Close()
	}
	b, _ := FMNISTBase(torch.CPU, torch.Float32)
	defer b.Close()
	if _, err := FMNISTAdapter(b, "nope"); err == nil {
		t.Fatal("unknown adapter accepted")
	}
	if len(FMNISTClassifierBytes()) == 0 {
		t.Fatal("no classifier")
	}
}
