package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesOrLeavesAlone(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.bin")
	if err := WriteBytes(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	// a failing writer leaves the old file and no temporary file
	err := Write(p, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return errors.New("disk on fire")
	})
	if err == nil {
		t.Fatal("error not returned")
	}
	b, _ := os.ReadFile(p)
	if string(b) != "one" {
		t.Fatalf("file now %q", b)
	}
	if err := WriteBytes(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(p)
	entries, _ := os.ReadDir(dir)
	if string(b) != "two" || len(entries) != 1 {
		t.Fatalf("file %q, %d entries", b, len(entries))
	}
	if err := WriteBytes(filepath.Join(dir, "no", "such", "dir"), nil); err == nil {
		t.Fatal("write into a missing folder succeeded")
	}
}
