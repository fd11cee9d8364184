package radmodel

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radinpaint/rad/torch"
)

func copyFile(t *testing.T, src, dst string, n int) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if n >= 0 && n < len(b) {
		b = b[:n]
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadWrongConfig(t *testing.T) {
	path := fixture("pub_a.pt")
	_, err := Load(path, fixtureConfig(t, "pub_b"), torch.CPU, torch.Float32)
	if err == nil {
		t.Fatal("pub_a weights loaded with the pub_b config")
	}
	msg := err.Error()
	t.Log(msg)
	for _, want := range []string{path, "model_channels 64", "missing keys", "unexpected keys", "shape mismatches",
		"time_embed.0.weight: file [128 32], config [256 64]", "more)", "the file looks like: in 3, out 6",
		"model_channels 32"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q", want)
		}
	}
	// a config differing only in one flag: the mismatch names the keys
	cfg := fixtureConfig(t, "pub_a")
	cfg.UseScaleShiftNorm = false
	_, err = Load(path, cfg, torch.CPU, torch.Float32)
	if err == nil || !strings.Contains(err.Error(), "emb_layers.1.weight: file [64 128], config [32 128]") ||
		strings.Contains(err.Error(), "missing keys") {
		t.Fatalf("scale-shift mismatch: %v", err)
	}
	// a class-conditional config on unconditional weights
	cfg = fixtureConfig(t, "pub_a")
	cfg.NumClasses = 1000
	_, err = Load(path, cfg, torch.CPU, torch.Float32)
	if err == nil || !strings.Contains(err.Error(), "1 missing keys: label_emb.weight") {
		t.Fatalf("label_emb missing: %v", err)
	}
}

func TestLoadBadFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := fixtureConfig(t, "pub_a")
	png := filepath.Join(dir, "image.pt")
	if err := os.WriteFile(png, []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"), 0o644); err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(dir, "trunc.pt")
	copyFile(t, fixture("pub_a.pt"), trunc, 100000)
	truncTS := filepath.Join(dir, "trunc.ts.pt")
	copyFile(t, fixture("pub_a.ts.pt"), truncTS, 50000)
	empty := filepath.Join(dir, "empty.pt")
	copyFile(t, fixture("pub_a.pt"), empty, 0)
	st := filepath.Join(dir, "w.safetensors")
	m, err := Load(fixture("pub_a.pt"), cfg, torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SaveSafetensors(st); err != nil {
		t.Fatal(err)
	}
	m.Close()
	truncST := filepath.Join(dir, "trunc.safetensors")
	copyFile(t, st, truncST, 5000)

	cases := map[string]string{
		png:                              "PNG image",
		trunc:                            "trunc.pt",
		truncTS:                          "trunc.ts.pt",
		empty:                            "empty file",
		truncST:                          "trunc.safetensors",
		filepath.Join(dir, "missing.pt"): "does not exist",
		fixture("pub_a.json"):            "JSON",
	}
	for path, want := range cases {
		_, err := Load(path, cfg, torch.CPU, torch.Float32)
		if err == nil {
			t.Errorf("%s: loaded", path)
			continue
		}
		t.Logf("%s", err)
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q lacks the file name or %q", path, err, want)
		}
	}
}

// Weights round-trip through safetensors and torch.save; the format is
// judged from the content, not the extension; fp16 weights and wrapped
// state dicts load.
func TestLoadFormats(t *testing.T) {
	dir := t.TempDir()
	name := "pub_c"
	cfg := fixtureConfig(t, name)
	m, err := Load(fixture(name+".ts.pt"), cfg, torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, k := range m.Keys() {
		if m.Param(k).RequiresGrad() {
			t.Fatalf("%s requires grad after loading TorchScript", k)
		}
	}
	st := filepath.Join(dir, "weights.pt") // safetensors content, misleading name
	if err := m.SaveSafetensors(st); err != nil {
		t.Fatal(err)
	}
	if k, _ := torch.DetectFile(st); k != torch.KindSafetensors {
		t.Fatalf("saved file detected as %s", k)
	}
	if r, err := Inspect(st); err != nil || r.SavedConfig == nil || !r.SavedConfig.Equal(cfg) || !r.Consistent || r.SavedConfig.Resolution != "" {
		t.Fatalf("Inspect of saved safetensors: %v\n%v", err, r)
	}
	// the resolution note travels with the weights
	noted := cfg
	noted.Resolution = SizeNative
	mn, err := Load(st, noted, torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	stn := filepath.Join(dir, "noted.safetensors")
	err = mn.SaveSafetensors(stn)
	mn.Close()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(stn)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := LoadSafetensorsBytes("noted", raw, torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	if got := mb.Config().Resolution; got != SizeNative {
		t.Fatalf("resolution after a save and load: %q, want native", got)
	}
	mb.Close()
	m2, err := Load(st, cfg, torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstIO(t, m2, name)
	m2.Close()

	pt := filepath.Join(dir, "weights.safetensors") // torch.save content
	if err := m.SaveStateDict(pt); err != nil {
		t.Fatal(err)
	}
	m3, err := Load(pt, cfg, torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstIO(t, m3, name)
	m3.Close()

	// fp16 weights wrapped as {"state_dict": {"module.<key>": ...}}
	s := torch.NewNoGradScope()
	defer s.Close()
	keys := m.Keys()
	var names []string
	var ts []*torch.Tensor
	for _, k := range keys {
		names = append(names, "state_dict.module."+k)
		ts = append(ts, s.To(m.Param(k), torch.Float16))
	}
	noErr(t, s)
	half := filepath.Join(dir, "half.pt")
	if err := torch.SavePT(half, names, ts); err != nil {
		t.Fatal(err)
	}
	m4, err := Load(half, cfg, torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m4.Close()
	if dt := m4.Param("input_blocks.0.0.weight").DType(); dt != torch.Float32 {
		t.Fatalf("fp16 file loaded as %s", dt)
	}
	io, err := torch.LoadPT(s, fixture(name+".io.pt"))
	if err != nil {
		t.Fatal(err)
	}
	out := m4.Forward(s, io.Get("x"), io.Get("t"), io.Get("y"))
	noErr(t, s)
	if d := maxAbsDiff(t, out, io.Get("out")); !(d < 0.02) {
		t.Fatalf("fp16 weights: max |diff| %g", d)
	} else {
		t.Logf("fp16-rounded weights: max |diff| %g", d)
	}
}

func TestInspect(t *testing.T) {
	for _, name := range fixtureNames {
		for _, file := range []string{name + ".pt", name + ".ts.pt"} {
			r, err := Inspect(fixture(file))
			if err != nil {
				t.Fatal(err)
			}
			want := fixtureConfig(t, name)
			c := r.Config
			if !r.Recognised || !r.Consistent {
				t.Fatalf("%s: recognised %v consistent %v\n%s", file, r.Recognised, r.Consistent, r)
			}
			f := readFixtureJSON(t, name)
			if r.ParamCount != f.ParamCount || r.NumTensors != f.StateDictEntries {
				t.Fatalf("%s: %d params in %d tensors", file, r.ParamCount, r.NumTensors)
			}
			// what the weights determine
			c.ImageSize, c.NumHeads, c.NumHeadChannels = want.ImageSize, want.NumHeads, want.NumHeadChannels
			c.UseNewAttentionOrder, c.Dropout = want.UseNewAttentionOrder, want.Dropout
			if !c.Equal(want) {
				t.Fatalf("%s: inferred %+v, want %+v", file, r.Config, want)
			}
			s := r.String()
			for _, w := range []string{"input_blocks", "image_size", "num_head_channels", "reproduces all"} {
				if !strings.Contains(s, w) {
					t.Fatalf("%s: report lacks %q:\n%s", file, w, s)
				}
			}
			if file == "pub_c.pt" {
				t.Logf("\n%s", s)
			}
		}
	}
	// a preset's shapes alone
	c, _ := Preset("imagenet256")
	ps, _ := c.ParamShapes()
	keys := make([]string, len(ps))
	shapes := map[string][]int64{}
	for i, p := range ps {
		keys[i] = p.Key
		shapes[p.Key] = p.Shape
	}
	r := InspectShapes(keys, shapes)
	if !r.Consistent || r.Config.ImageSize != 256 || r.Config.NumClasses != 1000 ||
		joinInts(r.Config.AttentionResolutions) != "8,16,32" {
		t.Fatalf("imagenet256 shapes:\n%s", r)
	}
	if _, err := Inspect(fixture("pub_a.io.pt")); err != nil {
		t.Fatal(err)
	} else if r, _ := Inspect(fixture("pub_a.io.pt")); r.Recognised {
		t.Fatal("io file recognised as a model")
	}
}
