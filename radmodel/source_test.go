package radmodel

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/radinpaint/rad/torch"
)

// Weights load from an fs.FS (as go:embed gives them) and an io.ReaderAt in
// every format Load reads, giving the same model as Load from a path; bad
// files get errors that name the caller's name, never a temporary path.
func TestLoadFSAndReaderAt(t *testing.T) {
	name := "pub_c"
	cfg := fixtureConfig(t, name)
	m, err := Load(fixture(name+".ts.pt"), cfg, torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dir := t.TempDir()
	st := filepath.Join(dir, "w.safetensors")
	pt := filepath.Join(dir, "w.pt")
	if err := m.SaveSafetensors(st); err != nil {
		t.Fatal(err)
	}
	if err := m.SaveStateDict(pt); err != nil {
		t.Fatal(err)
	}
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	fsys := fstest.MapFS{
		"weights/model.safetensors": {Data: read(st)},
		"weights/model.pt":          {Data: read(pt)},
		"weights/model.ts.pt":       {Data: read(fixture(name + ".ts.pt"))},
		"weights/notes.txt":         {Data: []byte("{not weights}")},
		"weights/cut.pt":            {Data: read(pt)[:200]},
	}
	for _, f := range []string{"weights/model.safetensors", "weights/model.pt", "weights/model.ts.pt"} {
		got, err := LoadFS(fsys, f, cfg, torch.CPU, torch.Float32)
		if err != nil {
			t.Fatalf("LoadFS %s: %v", f, err)
		}
		checkAgainstIO(t, got, name)
		got.Close()
		raw := fsys[f].Data
		got, err = LoadReaderAt(f, bytes.NewReader(raw), int64(len(raw)), cfg, torch.CPU, torch.Float32)
		if err != nil {
			t.Fatalf("LoadReaderAt %s: %v", f, err)
		}
		checkAgainstIO(t, got, name)
		got.Close()
	}
	// os.DirFS files are io.ReaderAt: read in place
	got, err := LoadFS(os.DirFS(dir), "w.pt", cfg, torch.CPU, torch.Float32)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstIO(t, got, name)
	got.Close()

	for f, want := range map[string]string{
		"weights/notes.txt": "not a model file",
		"weights/cut.pt":    "weights/cut.pt",
		"weights/missing":   "weights/missing",
		"weights":           "is a directory",
	} {
		_, err := LoadFS(fsys, f, cfg, torch.CPU, torch.Float32)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), f) ||
			strings.Contains(err.Error(), os.TempDir()+"/radmodel-weights") {
			t.Errorf("LoadFS %s: error %v, want one naming %q and %q", f, err, f, want)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "radmodel-weights-*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}
