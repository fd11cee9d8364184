package radmodel

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/radinpaint/rad/torch"
)

// fixtureOut runs the model on the fixture's x, t (and y).
func fixtureOut(t *testing.T, s *torch.Scope, m *UNet, io *torch.StateDict) *torch.Tensor {
	t.Helper()
	out := m.Forward(s, io.Get("x"), io.Get("t"), io.Get("y"))
	noErr(t, s)
	return out
}

// randomizeB gives every adapter's B random values so that it matters.
func randomizeB(t *testing.T, m *UNet, seed uint64) {
	g := torch.NewGenerator(seed)
	defer g.Close()
	s := torch.NewNoGradScope()
	defer s.Close()
	for _, key := range m.lora.order {
		for _, sl := range m.lora.adapters[key].slices {
			if err := sl.b.CopyFrom(s.Normal(g, 0, 0.05, torch.Float32, torch.CPU, sl.b.Shape()...)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestLoRAFreshMergeSaveLoad(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			m := loadFixtureModel(t, name)
			defer m.Close()
			s := torch.NewNoGradScope()
			defer s.Close()
			io := fixtureIO(t, s, name)
			base := fixtureOut(t, s, m, io)
			g := torch.NewGenerator(1)
			defer g.Close()
			if err := m.AddLoRA(DefaultLoRA, g); err != nil {
				t.Fatal(err)
			}
			// a fresh adapter (B = 0) changes nothing
			if d := maxAbsDiff(t, fixtureOut(t, s, m, io), base); d != 0 {
				t.Fatalf("fresh adapter changed the output by %g", d)
			}
			// every target got adapters: q, k, v on each qkv
			nq := 0
			for k, ad := range m.lora.adapters {
				if strings.HasSuffix(k, ".qkv") {
					nq++
					if len(ad.slices) != 3 {
						t.Fatalf("%s has %d slices", k, len(ad.slices))
					}
				}
			}
			if nq == 0 || m.lora.adapters["input_blocks.0.0"] == nil || m.lora.adapters["out.2"] == nil {
				t.Fatalf("targets missing: %v", m.lora.order)
			}
			randomizeB(t, m, 2)
			withLoRA := fixtureOut(t, s, m, io)
			if d := maxAbsDiff(t, withLoRA, base); d < 1e-4 {
				t.Fatalf("random adapters changed the output by only %g", d)
			}
			// save, then load into a fresh base: identical outputs
			path := filepath.Join(t.TempDir(), "a.safetensors")
			meta := AdapterMeta{TimestepOffset: 1, BaseSHA256: "abc123", DiffusionSteps: 1000, NoiseSchedule: "linear", LambdaVLB: 1e-3}
			if err := m.SaveAdapter(path, meta); err != nil {
				t.Fatal(err)
			}
			m2 := loadFixtureModel(t, name)
			defer m2.Close()
			got, err := m2.LoadAdapter(path, ApplyOpts{BaseSHA256: "abc123"})
			if err != nil {
				t.Fatal(err)
			}
			if got.Rank != 16 || got.Alpha != 16 || got.TimestepOffset != 1 || got.DiffusionSteps != 1000 || got.LambdaVLB != 1e-3 {
				t.Fatalf("metadata %+v", got)
			}
			if d := maxAbsDiff(t, fixtureOut(t, s, m2, io), withLoRA); d != 0 {
				t.Fatalf("loaded adapter differs by %g", d)
			}
			// merged equals unmerged
			if err := m2.MergeLoRA(); err != nil {
				t.Fatal(err)
			}
			if m2.HasLoRA() {
				t.Fatal("adapters still attached after merge")
			}
			if d := maxAbsDiff(t, fixtureOut(t, s, m2, io), withLoRA); d > 1e-5 {
				t.Fatalf("merged differs from unmerged by %g", d)
			}
			// another checkpoint (hash) is refused unless overridden
			m3 := loadFixtureModel(t, name)
			defer m3.Close()
			if _, err := m3.LoadAdapter(path, ApplyOpts{BaseSHA256: "fff"}); err == nil || !strings.Contains(err.Error(), "sha256") {
				t.Fatalf("wrong base hash: %v", err)
			}
			if _, err := m3.LoadAdapter(path, ApplyOpts{BaseSHA256: "fff", IgnoreHash: true}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoRAWrongBaseAndTrainable(t *testing.T) {
	a := loadFixtureModel(t, "pub_a")
	defer a.Close()
	g := torch.NewGenerator(1)
	defer g.Close()
	if err := a.AddLoRA(LoRAConfig{Rank: 4, Alpha: 8, Targets: []string{TargetQKV, TargetResConv}}, g); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "a.safetensors")
	if err := a.SaveAdapter(path, AdapterMeta{}); err != nil {
		t.Fatal(err)
	}
	b := loadFixtureModel(t, "pub_b")
	defer b.Close()
	if _, err := b.LoadAdapter(path, ApplyOpts{}); err == nil || !strings.Contains(err.Error(), "config") {
		t.Fatalf("adapter for pub_a applied to pub_b: %v", err)
	}
	if b.HasLoRA() {
		t.Fatal("refused adapter left adapters attached")
	}
	if err := a.AddLoRA(DefaultLoRA, g); err == nil {
		t.Fatal("second AddLoRA accepted")
	}
	if err := b.AddLoRA(LoRAConfig{Rank: 4, Alpha: 4, Targets: []string{"everything"}}, g); err == nil {
		t.Fatal("unknown target accepted")
	}
	// trainable set: adapters plus every time-embedding layer; gradients
	// reach them through a forward
	names, ts, err := a.TrainableParams()
	if err != nil {
		t.Fatal(err)
	}
	var lo, te, el int
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, "lora."):
			lo++
		case strings.HasPrefix(n, "time_embed."):
			te++
		case strings.Contains(n, ".emb_layers."):
			el++
		default:
			t.Fatalf("unexpected trainable %s", n)
		}
	}
	if lo == 0 || te != 4 || el == 0 {
		t.Fatalf("trainable: %d lora, %d time_embed, %d emb_layers", lo, te, el)
	}
	s := torch.NewScope()
	defer s.Close()
	x := s.Randn(g, torch.Float32, torch.CPU, 1, 3, 32, 32)
	loss := s.Sum(s.Square(a.Forward(s, x, s.Full(10, torch.Float32, torch.CPU, 1), nil)))
	noErr(t, s)
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	for i, p := range ts {
		if strings.HasSuffix(names[i], ".B") || strings.HasPrefix(names[i], "time_embed.") {
			gr := s.Grad(p)
			if gr == nil {
				t.Fatalf("%s has no gradient", names[i])
			}
			if v, _ := s.Sum(s.Abs(gr)).Item(); v == 0 {
				t.Fatalf("%s has a zero gradient", names[i])
			}
		}
	}
	if g := s.Grad(a.Param("input_blocks.0.0.weight")); g != nil {
		t.Fatal("a frozen base weight got a gradient")
	}
}
