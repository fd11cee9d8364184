package torch

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds writes small real files of every kind the readers take: a
// safetensors file, a torch.save zip file, and a TorchScript-like zip.
func fuzzSeeds(f *testing.F) [][]byte {
	dir := f.TempDir()
	s := NewNoGradScope()
	defer s.Close()
	a := s.Arange(0, 6, 1, Float32, CPU)
	b := s.Ones(Float16, CPU, 2, 2)
	c := s.Zeros(Int64, CPU, 3)
	if err := s.Err(); err != nil {
		f.Fatal(err)
	}
	st := filepath.Join(dir, "a.safetensors")
	pt := filepath.Join(dir, "a.pt")
	if err := SaveSafetensors(st, []string{"a", "b"}, []*Tensor{a, b}, map[string]string{"k": "v"}); err != nil {
		f.Fatal(err)
	}
	if err := SavePT(pt, []string{"a", "nested.c"}, []*Tensor{a, c}); err != nil {
		f.Fatal(err)
	}
	var seeds [][]byte
	for _, p := range []string{st, pt} {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, raw)
	}
	hdr := []byte(`{"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}`)
	wide := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	seeds = append(seeds, append(wide, hdr...), []byte("PK\x03\x04"), []byte{0x80, 2, 0x8a, 0x0a}, nil)
	return seeds
}

// loadChecked runs a reader in a fresh scope: a failed load leaves no
// tensor in the scope, and closing the scope frees everything it made.
func loadChecked(t *testing.T, load func(s *Scope) (*StateDict, error)) {
	live := LiveTensors()
	s := NewNoGradScope()
	d, err := load(s)
	if err == nil {
		for _, k := range d.Keys {
			if !d.Tensors[k].Valid() {
				t.Fatalf("tensor %q is not valid", k)
			}
		}
	} else if s.Len() != 0 {
		t.Fatalf("a failed load left %d tensors in the scope", s.Len())
	}
	s.Close()
	if LiveTensors() != live {
		t.Fatalf("live tensors %d -> %d", live, LiveTensors())
	}
}

// FuzzLoadSafetensors: no input makes the safetensors reader (header and
// offsets) panic, crash or leak.
func FuzzLoadSafetensors(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		loadChecked(t, func(s *Scope) (*StateDict, error) { return LoadSafetensorsBytes(s, "fuzz.safetensors", raw) })
	})
}

// FuzzLoadPT: the torch.save reader (zip and legacy pickle) returns an
// error for any malformed file and never panics, crashes or leaks.
func FuzzLoadPT(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	path := filepath.Join(f.TempDir(), "fuzz.pt")
	f.Fuzz(func(t *testing.T, raw []byte) {
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		loadChecked(t, func(s *Scope) (*StateDict, error) { return LoadPT(s, path) })
	})
}

// FuzzDetectReaderAt: file-kind detection (safetensors, torch.save zip or
// legacy, TorchScript archive) never panics, and agrees with DetectFile.
func FuzzDetectReaderAt(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	path := filepath.Join(f.TempDir(), "fuzz.bin")
	f.Fuzz(func(t *testing.T, raw []byte) {
		k, err := DetectReaderAt(bytes.NewReader(raw), int64(len(raw)))
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		k2, err2 := DetectFile(path)
		if k != k2 || (err == nil) != (err2 == nil) {
			t.Fatalf("DetectReaderAt %v %v, DetectFile %v %v", k, err, k2, err2)
		}
		_ = k.String()
	})
}
