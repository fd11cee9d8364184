package radmodel

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/radinpaint/rad/torch"
)

const fixtureTol = 1e-5

// checkAgainstIO runs m on the fixture inputs and compares every
// intermediate the hook sees with NAME.io.pt, naming the first block that
// differs; then the fractional-timestep call.
func checkAgainstIO(t *testing.T, m *UNet, name string) {
	t.Helper()
	checkAgainstIOWith(t, m, name, ForwardOpts{})
}

// checkAgainstIOWith is checkAgainstIO with forward options (the hook is
// the comparison's).
func checkAgainstIOWith(t *testing.T, m *UNet, name string, opts ForwardOpts) {
	t.Helper()
	s := torch.NewNoGradScope()
	defer s.Close()
	io, err := torch.LoadPT(s, fixture(name+".io.pt"))
	if err != nil {
		t.Fatal(err)
	}
	x, y := io.Get("x"), io.Get("y")

	run := func(t0 *torch.Tensor, suffix string, outKey string) {
		t.Helper()
		var seen []string
		var bad []string
		hook := func(n string, h *torch.Tensor) {
			want := io.Get(n + suffix)
			if want == nil {
				return
			}
			seen = append(seen, n)
			if d := maxAbsDiff(t, h, want); !(d <= fixtureTol) {
				bad = append(bad, fmt.Sprintf("%s%s: max |diff| %.3g (shape %v, want %v)", n, suffix, d, h.Shape(), want.Shape()))
			}
		}
		o := opts
		o.Hook = hook
		out := m.ForwardWith(s, x, t0, y, o)
		noErr(t, s)
		if len(bad) > 0 {
			t.Errorf("%s: first mismatching block %s (all: %s)", name, bad[0], strings.Join(bad, "; "))
		}
		if out.DType() != torch.Float32 {
			t.Errorf("output dtype %s", out.DType())
		}
		if d := maxAbsDiff(t, out, io.Get(outKey)); !(d <= fixtureTol) {
			t.Errorf("%s: %s max |diff| %.3g", name, outKey, d)
		} else {
			t.Logf("%s: %s max |diff| %.3g, %d intermediates compared", name, outKey, d, len(seen))
		}
		if suffix == "" {
			// every intermediate of the io file was seen
			for _, k := range io.Keys {
				if strings.HasPrefix(k, "h_") || strings.HasPrefix(k, "emb") && !strings.HasSuffix(k, "_tf") {
					found := false
					for _, n := range seen {
						found = found || n == k
					}
					if !found {
						t.Errorf("%s: hook never reported %s", name, k)
					}
				}
			}
		}
	}
	run(io.Get("t"), "", "out")
	run(io.Get("tf"), "_tf", "out_tf")
}

// TestFixtureForward: the forward of weights read from the state dict and
// from the TorchScript archive gives guided-diffusion's outputs, block by
// block; so does the channels-last path (and, as in every no-grad forward,
// the in-place SiLU and residual adds), whose output is contiguous NCHW.
func TestFixtureForward(t *testing.T) {
	for _, c := range []struct {
		name, file string
		opts       ForwardOpts
	}{
		{"state-dict", ".pt", ForwardOpts{}},
		{"torchscript", ".ts.pt", ForwardOpts{}},
		{"channels-last", ".pt", ForwardOpts{ChannelsLast: true}},
	} {
		for _, name := range fixtureNames {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				m, err := Load(fixture(name+c.file), fixtureConfig(t, name), torch.CPU, torch.Float32)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				checkAgainstIOWith(t, m, name, c.opts)
				if !c.opts.ChannelsLast {
					return
				}
				s := torch.NewNoGradScope().SetInference(true)
				defer s.Close()
				size := int64(m.cfg.ImageSize)
				x := s.Zeros(torch.Float32, torch.CPU, 1, int64(m.cfg.InChannels), size, size)
				var y *torch.Tensor
				if m.cfg.NumClasses > 0 {
					y = s.Zeros(torch.Int64, torch.CPU, 1)
				}
				out := m.ForwardWith(s, x, s.Full(10, torch.Float32, torch.CPU, 1), y, c.opts)
				noErr(t, s)
				if !out.IsContiguous() {
					t.Fatal("channels-last forward returned a non-contiguous output")
				}
			})
		}
	}
}

// The TorchScript module itself agrees with our forward (a check of the
// fixture files and of batch handling at another batch size).
func TestTorchScriptModuleAgrees(t *testing.T) {
	name := "pub_c"
	mod, err := torch.LoadModule(fixture(name+".ts.pt"), torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close()
	m, err := Load(fixture(name+".ts.pt"), fixtureConfig(t, name), torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := torch.NewNoGradScope()
	defer s.Close()
	g := torch.NewGenerator(7)
	defer g.Close()
	x := s.Randn(g, torch.Float32, torch.CPU, 3, 3, 32, 32)
	tt := torch.FromSlice(s, []int64{0, 500, 999})
	y := torch.FromSlice(s, []int64{1, 2, 999})
	want := mod.Forward(s, x, tt, y)
	got := m.Forward(s, x, tt, y)
	noErr(t, s)
	if d := maxAbsDiff(t, got, want); !(d <= fixtureTol) {
		t.Fatalf("batch 3: max |diff| vs TorchScript %.3g", d)
	}
}

func TestTimestepEmbedding(t *testing.T) {
	s := torch.NewNoGradScope()
	defer s.Close()
	ti := torch.FromSlice(s, []int64{0, 7, 999})
	tf := torch.FromSlice(s, []float32{0, 7, 999})
	for _, dim := range []int{32, 33} {
		a := TimestepEmbedding(s, ti, dim, 10000)
		b := TimestepEmbedding(s, tf, dim, 10000)
		noErr(t, s)
		if got := a.Shape(); got[0] != 3 || got[1] != int64(dim) {
			t.Fatalf("shape %v", got)
		}
		if d := maxAbsDiff(t, a, b); d != 0 {
			t.Fatalf("int and float t differ by %g", d)
		}
		v, _ := a.Float64s()
		half := dim / 2
		// t=7 row: cos(7*f_i) then sin(7*f_i), f_i = exp(-ln(1e4) i/half)
		for i := 0; i < half; i++ {
			f := math.Exp(-math.Log(10000) * float64(i) / float64(half))
			if math.Abs(v[dim+i]-math.Cos(7*f)) > 1e-5 || math.Abs(v[dim+half+i]-math.Sin(7*f)) > 1e-5 {
				t.Fatalf("dim %d entry %d: %g %g", dim, i, v[dim+i], v[dim+half+i])
			}
		}
		if dim%2 == 1 && (v[dim-1] != 0 || v[2*dim-1] != 0) {
			t.Fatalf("odd dim: last column not zero")
		}
	}
}

// A single timestep value serves the whole batch.
func TestForwardScalarTimestep(t *testing.T) {
	m, err := Load(fixture("pub_a.pt"), fixtureConfig(t, "pub_a"), torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := torch.NewNoGradScope()
	defer s.Close()
	g := torch.NewGenerator(1)
	defer g.Close()
	x := s.Randn(g, torch.Float32, torch.CPU, 2, 3, 32, 32)
	a := m.Forward(s, x, torch.FromSlice(s, []int64{42}), nil)
	b := m.Forward(s, x, torch.FromSlice(s, []int64{42, 42}), nil)
	noErr(t, s)
	if d := maxAbsDiff(t, a, b); d > 1e-6 {
		t.Fatalf("scalar t differs from per-image t by %g", d)
	}
}

func TestForwardBadInputs(t *testing.T) {
	m, err := Load(fixture("pub_c.pt"), fixtureConfig(t, "pub_c"), torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cases := []struct {
		name    string
		x, t, y func(s *torch.Scope) *torch.Tensor
		want    string
	}{
		{"no labels", func(s *torch.Scope) *torch.Tensor { return s.Zeros(torch.Float32, torch.CPU, 1, 3, 32, 32) },
			func(s *torch.Scope) *torch.Tensor { return torch.FromSlice(s, []int64{1}) },
			func(s *torch.Scope) *torch.Tensor { return nil }, "needs labels"},
		{"channels", func(s *torch.Scope) *torch.Tensor { return s.Zeros(torch.Float32, torch.CPU, 1, 4, 32, 32) },
			func(s *torch.Scope) *torch.Tensor { return torch.FromSlice(s, []int64{1}) },
			func(s *torch.Scope) *torch.Tensor { return torch.FromSlice(s, []int64{1}) }, "want [B,3,H,W]"},
		{"size", func(s *torch.Scope) *torch.Tensor { return s.Zeros(torch.Float32, torch.CPU, 1, 3, 20, 20) },
			func(s *torch.Scope) *torch.Tensor { return torch.FromSlice(s, []int64{1}) },
			func(s *torch.Scope) *torch.Tensor { return torch.FromSlice(s, []int64{1}) }, "multiples of 8"},
		{"t count", func(s *torch.Scope) *torch.Tensor { return s.Zeros(torch.Float32, torch.CPU, 3, 3, 32, 32) },
			func(s *torch.Scope) *torch.Tensor { return torch.FromSlice(s, []int64{1, 2}) },
			func(s *torch.Scope) *torch.Tensor { return torch.FromSlice(s, []int64{1, 2, 3}) }, "want [3]"},
	}
	for _, c := range cases {
		s := torch.NewNoGradScope()
		out := m.Forward(s, c.x(s), c.t(s), c.y(s))
		if out != nil || s.Err() == nil || !strings.Contains(s.Err().Error(), c.want) {
			t.Errorf("%s: got err %v, want one containing %q", c.name, s.Err(), c.want)
		}
		s.Close()
	}
}

// Repeated forwards leave the number of live tensors unchanged: every
// temporary is freed before Forward returns.
func TestForwardFreesTemporaries(t *testing.T) {
	m, err := Load(fixture("pub_c.pt"), fixtureConfig(t, "pub_c"), torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := torch.NewNoGradScope()
	defer s.Close()
	g := torch.NewGenerator(3)
	defer g.Close()
	x := s.Randn(g, torch.Float32, torch.CPU, 2, 3, 32, 32)
	tt := torch.FromSlice(s, []int64{10, 900})
	y := torch.FromSlice(s, []int64{3, 4})
	var live []int64
	for i := 0; i < 4; i++ {
		c := s.Child()
		out := m.Forward(c, x, tt, y)
		noErr(t, c)
		if c.Len() != 1 || out == nil {
			t.Fatalf("forward left %d tensors in the caller's scope, want 1 (the output)", c.Len())
		}
		c.Close()
		live = append(live, torch.LiveTensors())
	}
	for i := 1; i < len(live); i++ {
		if live[i] != live[0] {
			t.Fatalf("live tensors grew over repeated forwards: %v", live)
		}
	}
	// and with the hook and an output kept in the same scope
	before := torch.LiveTensors()
	for i := 0; i < 3; i++ {
		out := m.ForwardWith(s, x, tt, y, ForwardOpts{Hook: func(string, *torch.Tensor) {}})
		noErr(t, s)
		out.Free()
	}
	if after := torch.LiveTensors(); after != before {
		t.Fatalf("live tensors %d -> %d", before, after)
	}
}

// Dropout runs only in training, drawn from the given generator.
func TestDropoutTrainOnly(t *testing.T) {
	cfg := fixtureConfig(t, "pub_a")
	cfg.Dropout = 0.3
	m, err := NewRandom(cfg, torch.CPU, torch.Float32, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := torch.NewNoGradScope()
	defer s.Close()
	g := torch.NewGenerator(9)
	defer g.Close()
	x := s.Randn(g, torch.Float32, torch.CPU, 1, 3, 32, 32)
	tt := torch.FromSlice(s, []int64{100})
	e1 := m.Forward(s, x, tt, nil)
	e2 := m.Forward(s, x, tt, nil)
	g1, g2 := torch.NewGenerator(11), torch.NewGenerator(11)
	defer g1.Close()
	defer g2.Close()
	t1 := m.ForwardWith(s, x, tt, nil, ForwardOpts{Train: true, Generator: g1})
	t2 := m.ForwardWith(s, x, tt, nil, ForwardOpts{Train: true, Generator: g2})
	t3 := m.ForwardWith(s, x, tt, nil, ForwardOpts{Train: true, Generator: g1})
	noErr(t, s)
	if d := maxAbsDiff(t, e1, e2); d != 0 {
		t.Fatalf("eval forwards differ by %g", d)
	}
	if d := maxAbsDiff(t, t1, t2); d != 0 {
		t.Fatalf("same-seed training forwards differ by %g", d)
	}
	if d := maxAbsDiff(t, t1, e1); d < 1e-4 {
		t.Fatalf("training forward equals eval forward (diff %g): dropout not applied", d)
	}
	if d := maxAbsDiff(t, t1, t3); d < 1e-4 {
		t.Fatalf("two draws of dropout are equal")
	}
	// training with dropout and no generator is an error
	m.ForwardWith(s, x, tt, nil, ForwardOpts{Train: true})
	if s.Err() == nil {
		t.Fatal("dropout without a generator: no error")
	}
}

// A random bfloat16 model runs on the CPU and gives float32 output close
// to the float32 model with the same weights.
func TestBFloat16Forward(t *testing.T) {
	cfg := fixtureConfig(t, "pub_b")
	m32, err := Load(fixture("pub_b.pt"), cfg, torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m32.Close()
	m16, err := Load(fixture("pub_b.pt"), cfg, torch.CPU, torch.BFloat16)
	if err != nil {
		t.Fatal(err)
	}
	defer m16.Close()
	if dt := m16.Param("input_blocks.1.0.in_layers.2.weight").DType(); dt != torch.BFloat16 {
		t.Fatalf("block conv stored as %s", dt)
	}
	for _, k := range []string{"input_blocks.1.0.in_layers.0.weight", "time_embed.0.weight", "out.2.weight", "input_blocks.1.0.emb_layers.1.weight"} {
		if dt := m16.Param(k).DType(); dt != torch.Float32 {
			t.Fatalf("%s stored as %s, want float32", k, dt)
		}
	}
	s := torch.NewNoGradScope()
	defer s.Close()
	io, err := torch.LoadPT(s, fixture("pub_b.io.pt"))
	if err != nil {
		t.Fatal(err)
	}
	a := m32.Forward(s, io.Get("x"), io.Get("t"), nil)
	b := m16.Forward(s, io.Get("x"), io.Get("t"), nil)
	noErr(t, s)
	if b.DType() != torch.Float32 {
		t.Fatalf("bf16 model output dtype %s", b.DType())
	}
	if d := maxAbsDiff(t, a, b); !(d < 0.1) {
		t.Fatalf("bf16 vs f32 max |diff| %g", d)
	} else {
		t.Logf("bf16 vs f32 max |diff| %g", d)
	}
}

// One model serves several goroutines at once, each with its own scope.
func TestForwardConcurrent(t *testing.T) {
	name := "pub_a"
	m, err := Load(fixture(name+".pt"), fixtureConfig(t, name), torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ref := torch.NewNoGradScope()
	defer ref.Close()
	io, err := torch.LoadPT(ref, fixture(name+".io.pt"))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			s := torch.NewNoGradScope()
			defer s.Close()
			var err error
			for j := 0; j < 3 && err == nil; j++ {
				out := m.Forward(s, io.Get("x"), io.Get("t"), nil)
				if err = s.Err(); err == nil {
					a, _ := out.Float32s()
					b, _ := io.Get("out").Float32s()
					for k := range a {
						if math.Abs(float64(a[k]-b[k])) > fixtureTol {
							err = fmt.Errorf("element %d: %g vs %g", k, a[k], b[k])
							break
						}
					}
				}
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// Gradients flow through the forward (the temporaries it frees stay alive
// in the autograd graph).
func TestForwardBackward(t *testing.T) {
	cfg := fixtureConfig(t, "pub_c")
	m, err := NewRandom(cfg, torch.CPU, torch.Float32, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	w := m.Param("input_blocks.4.1.qkv.weight")
	if err := w.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.SetRequiresGrad(false) }()
	s := torch.NewScope()
	defer s.Close()
	g := torch.NewGenerator(1)
	defer g.Close()
	x := s.Randn(g, torch.Float32, torch.CPU, 2, 3, 32, 32)
	noErr(t, s)
	if err := x.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	out := m.Forward(s, x, torch.FromSlice(s, []int64{5, 600}), torch.FromSlice(s, []int64{1, 2}))
	loss := s.Mean(s.Square(out))
	noErr(t, s)
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*torch.Tensor{"x": x, "qkv weight": w} {
		gr := s.Grad(p)
		noErr(t, s)
		if gr == nil {
			t.Fatalf("no gradient for %s", name)
		}
		n, _ := s.Norm(gr).Item()
		if !(n > 0) || math.IsInf(n, 0) {
			t.Fatalf("gradient norm of %s = %g", name, n)
		}
	}
	_ = w.ZeroGrad()
}
