package torch

import (
	"encoding/binary"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const fixtures = "../testdata/adm"

var pubNames = []string{"pub_a", "pub_b", "pub_c"}

type fixtureMeta struct {
	StateDictEntries int `json:"state_dict_entries"`
	ParamCount       int `json:"param_count"`
}

func readMeta(t *testing.T, name string) fixtureMeta {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m fixtureMeta
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoadStateDictFixtures(t *testing.T) {
	for _, name := range pubNames {
		t.Run(name, func(t *testing.T) {
			s := NewNoGradScope()
			defer s.Close()
			meta := readMeta(t, name)
			d, err := LoadPT(s, filepath.Join(fixtures, name+".pt"))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Keys) != meta.StateDictEntries {
				t.Fatalf("%d entries, want %d", len(d.Keys), meta.StateDictEntries)
			}
			var params int64
			for _, k := range d.Keys {
				params += d.Tensors[k].Numel()
			}
			if params != int64(meta.ParamCount) {
				t.Fatalf("%d parameters, want %d", params, meta.ParamCount)
			}
			if d.Keys[0] != "time_embed.0.weight" {
				t.Fatalf("first key %q", d.Keys[0])
			}
			// TorchScript parameters have the same names, shapes and values
			m, err := LoadModule(filepath.Join(fixtures, name+".ts.pt"), CPU)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			names, ts, err := m.Named(s, true)
			if err != nil {
				t.Fatal(err)
			}
			if len(names) != len(d.Keys) {
				t.Fatalf("TorchScript has %d tensors, state dict %d", len(names), len(d.Keys))
			}
			for i, n := range names {
				if n != d.Keys[i] {
					t.Fatalf("key %d: TorchScript %q, state dict %q", i, n, d.Keys[i])
				}
				pt := d.Tensors[n]
				if !slices.Equal(pt.Shape(), ts[i].Shape()) {
					t.Fatalf("%s: shapes %v vs %v", n, pt.Shape(), ts[i].Shape())
				}
				eq, err := s.All(s.Eq(pt, ts[i])).Item()
				if err != nil || eq != 1 {
					t.Fatalf("%s: values differ (%v)", n, err)
				}
			}
			// TorchScript forward on the io inputs equals the stored output
			io, err := LoadPT(s, filepath.Join(fixtures, name+".io.pt"))
			if err != nil {
				t.Fatal(err)
			}
			in := []*Tensor{io.Get("x"), io.Get("t")}
			if y := io.Get("y"); y != nil {
				in = append(in, y)
			}
			out := m.Forward(s, in...)
			noErr(t, s)
			diff, _ := s.Max(s.Abs(s.Sub(out, io.Get("out")))).Item()
			if diff > 1e-5 {
				t.Fatalf("TorchScript forward differs from out by %g", diff)
			}
			// ForwardAll returns the one output tensor
			all := m.ForwardAll(s, in...)
			noErr(t, s)
			if len(all) != 1 {
				t.Fatalf("ForwardAll: %d outputs, want 1", len(all))
			}
			diff, _ = s.Max(s.Abs(s.Sub(all[0], out))).Item()
			if diff != 0 {
				t.Fatalf("ForwardAll differs from Forward by %g", diff)
			}
			// fractional timesteps work too
			in[1] = io.Get("tf")
			out = m.Forward(s, in...)
			noErr(t, s)
			diff, _ = s.Max(s.Abs(s.Sub(out, io.Get("out_tf")))).Item()
			if diff > 1e-5 {
				t.Fatalf("TorchScript forward (fractional t) differs from out_tf by %g", diff)
			}
		})
	}
}

func TestLoadDiffusionTables(t *testing.T) {
	s := NewNoGradScope()
	defer s.Close()
	d, err := LoadPT(s, filepath.Join(fixtures, "diffusion.pt"))
	if err != nil {
		t.Fatal(err)
	}
	b := d.Get("full/betas")
	if b == nil || b.DType() != Float64 || !slices.Equal(b.Shape(), []int64{1000}) {
		t.Fatalf("full/betas: %v", b)
	}
	v := vals(t, b)
	if v[0] < 1e-4-1e-15 || v[0] > 1e-4+1e-15 || v[999] < 0.02-1e-15 || v[999] > 0.02+1e-15 {
		t.Fatalf("betas ends %v %v", v[0], v[999])
	}
	tm := d.Get("r100/timestep_map")
	if tm == nil || tm.DType() != Int64 {
		t.Fatalf("timestep_map %v", tm)
	}
}

func TestSavePTRoundTrip(t *testing.T) {
	s := NewScope()
	defer s.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "out.pt")
	names := []string{"out", "ids", "half", "flag", "perm"}
	perm := s.Permute(s.Reshape(s.Arange(0, 6, 1, Float32, CPU), 2, 3), 1, 0) // non-contiguous
	ts := []*Tensor{
		FromSlice(s, []float32{1.5, -2, 3}, 3, 1),
		FromSlice(s, []int64{7, 8}),
		s.To(FromSlice(s, []float32{0.5, 1}), Float16),
		FromSlice(s, []bool{true, false}),
		perm,
	}
	if err := SavePT(path, names, ts); err != nil {
		t.Fatal(err)
	}
	d, err := LoadPT(s, path)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		got := d.Get(n)
		if got == nil {
			t.Fatalf("missing %q", n)
		}
		if got.DType() != ts[i].DType() || !slices.Equal(got.Shape(), ts[i].Shape()) {
			t.Fatalf("%s: %v, want %v", n, got, ts[i])
		}
		near(t, n, vals(t, got), vals(t, ts[i]), 0)
	}
	// Python's torch.load reads it (when a Python torch is installed)
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err == nil {
		if exec.Command(py, "-c", "import torch").Run() == nil {
			out, err := exec.Command(py, "-c",
				"import sys,torch; d=torch.load(sys.argv[1]); print(sorted(d), d['out'].flatten().tolist(), d['perm'].tolist(), d['half'].dtype)", path).CombinedOutput()
			if err != nil {
				t.Fatalf("torch.load: %v\n%s", err, out)
			}
			want := "['flag', 'half', 'ids', 'out', 'perm'] [1.5, -2.0, 3.0] [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]] torch.float16"
			if strings.TrimSpace(string(out)) != want {
				t.Fatalf("torch.load read %q, want %q", out, want)
			}
		}
	}
	// no temporary file left behind
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("files left: %v", entries)
	}
}

func TestSafetensorsRoundTrip(t *testing.T) {
	s := NewScope()
	defer s.Close()
	path := filepath.Join(t.TempDir(), "x.safetensors")
	names := []string{"w", "i", "b16", "mask"}
	ts := []*Tensor{
		FromSlice(s, []float32{1, 2, 3, 4, 5, 6}, 2, 3),
		FromSlice(s, []int64{-1, 1 << 33}),
		s.To(FromSlice(s, []float32{0.5, 2}), BFloat16),
		FromSlice(s, []bool{false, true, true}),
	}
	meta := map[string]string{"rank": "16", "base_sha256": "abc"}
	if err := SaveSafetensors(path, names, ts, meta); err != nil {
		t.Fatal(err)
	}
	d, err := LoadSafetensors(s, path)
	if err != nil {
		t.Fatal(err)
	}
	if d.Meta["rank"] != "16" || d.Meta["base_sha256"] != "abc" {
		t.Fatalf("metadata %v", d.Meta)
	}
	for i, n := range names {
		got := d.Get(n)
		if got == nil || got.DType() != ts[i].DType() || !slices.Equal(got.Shape(), ts[i].Shape()) {
			t.Fatalf("%s: %v, want %v", n, got, ts[i])
		}
		near(t, n, vals(t, got), vals(t, ts[i]), 0)
	}
	if k, _ := DetectFile(path); k != KindSafetensors {
		t.Fatalf("detected %v", k)
	}
	// truncated
	raw, _ := os.ReadFile(path)
	bad := filepath.Join(t.TempDir(), "bad.safetensors")
	os.WriteFile(bad, raw[:len(raw)-5], 0o644)
	if _, err := LoadSafetensors(s, bad); err == nil || !strings.Contains(err.Error(), "bad.safetensors") {
		t.Fatalf("truncated safetensors: %v", err)
	}
	os.WriteFile(bad, []byte{1, 2}, 0o644)
	if _, err := LoadSafetensors(s, bad); err == nil {
		t.Fatal("2-byte safetensors accepted")
	}
}

func TestBadFiles(t *testing.T) {
	s := NewScope()
	defer s.Close()
	dir := t.TempDir()
	start := LiveTensors()
	// missing
	if _, err := LoadPT(s, filepath.Join(dir, "nope.pt")); err == nil || !strings.Contains(err.Error(), "nope.pt") {
		t.Fatalf("missing file: %v", err)
	}
	// truncated zip .pt
	raw, err := os.ReadFile(filepath.Join(fixtures, "pub_a.pt"))
	if err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(dir, "trunc.pt")
	os.WriteFile(trunc, raw[:len(raw)/2], 0o644)
	if _, err := LoadPT(s, trunc); err == nil || !strings.Contains(err.Error(), "trunc.pt") {
		t.Fatalf("truncated .pt: %v", err)
	}
	// truncated legacy .pt (as SavePT writes)
	leg := filepath.Join(dir, "legacy.pt")
	ones := NewScope()
	if err := SavePT(leg, []string{"a"}, []*Tensor{ones.Ones(Float32, CPU, 1000)}); err != nil {
		t.Fatal(err)
	}
	ones.Close()
	raw, _ = os.ReadFile(leg)
	os.WriteFile(leg, raw[:len(raw)-100], 0o644)
	if _, err := LoadPT(s, leg); err == nil {
		t.Fatal("truncated legacy .pt accepted")
	}
	// a PNG given as a checkpoint
	pngPath := filepath.Join(dir, "image.png")
	f, _ := os.Create(pngPath)
	png.Encode(f, image.NewGray(image.Rect(0, 0, 4, 4)))
	f.Close()
	if _, err := LoadPT(s, pngPath); err == nil || !strings.Contains(err.Error(), "not a torch.save file") {
		t.Fatalf("PNG as checkpoint: %v", err)
	}
	if _, err := LoadModule(pngPath, CPU); err == nil || !strings.Contains(err.Error(), "image.png") {
		t.Fatalf("PNG as TorchScript: %v", err)
	}
	// an empty file and a file of zeros
	empty := filepath.Join(dir, "empty.pt")
	os.WriteFile(empty, nil, 0o644)
	if _, err := LoadPT(s, empty); err == nil {
		t.Fatal("empty file accepted")
	}
	os.WriteFile(empty, make([]byte, 4096), 0o644)
	if _, err := LoadPT(s, empty); err == nil {
		t.Fatal("file of zeros accepted")
	}
	// TorchScript given to LoadPT, state dict given to LoadModule
	if _, err := LoadPT(s, filepath.Join(fixtures, "pub_a.ts.pt")); err == nil || !strings.Contains(err.Error(), "TorchScript") {
		t.Fatalf("TorchScript as state dict: %v", err)
	}
	if _, err := LoadModule(filepath.Join(fixtures, "pub_a.pt"), CPU); err == nil {
		t.Fatal("state dict loaded as TorchScript")
	}
	// truncated TorchScript
	raw, _ = os.ReadFile(filepath.Join(fixtures, "pub_a.ts.pt"))
	tts := filepath.Join(dir, "trunc.ts.pt")
	os.WriteFile(tts, raw[:len(raw)/3], 0o644)
	if _, err := LoadModule(tts, CPU); err == nil {
		t.Fatal("truncated TorchScript accepted")
	}
	if _, err := LoadModule(filepath.Join(fixtures, "pub_a.ts.pt"), CUDA(7)); err == nil {
		t.Fatal("TorchScript onto cuda:7 accepted")
	}
	if LiveTensors() != start {
		t.Fatalf("failed loads leaked %d tensors", LiveTensors()-start)
	}
	if LiveModules() != 0 {
		t.Fatalf("%d modules alive", LiveModules())
	}
}

// TestDetectSafetensorsHeader0x80: a safetensors file whose header length
// has the low byte 0x80 starts with the pickle opcode PROTO; it is still
// safetensors (found with a Python-written fp16 export).
func TestDetectSafetensorsHeader0x80(t *testing.T) {
	hdr := []byte(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`)
	for len(hdr)%256 != 0x80 {
		hdr = append(hdr, ' ')
	}
	raw := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	raw = append(append(raw, hdr...), 0, 0, 128, 63)
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if k, err := DetectFile(path); err != nil || k != KindSafetensors {
		t.Fatalf("detected %v, %v", k, err)
	}
	s := NewScope()
	defer s.Close()
	d, err := LoadSafetensors(s, path)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := d.Get("a").Float32s(); len(v) != 1 || v[0] != 1 {
		t.Fatalf("value %v", v)
	}
}
