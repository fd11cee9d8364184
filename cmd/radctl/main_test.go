package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/urfave/cli/v2"
)

// run executes radctl with args and returns its standard output.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	app := &cli.App{Name: "radctl", Commands: commands, Writer: &out, ErrWriter: &out,
		ExitErrHandler: func(*cli.Context, error) {}}
	err := app.Run(append([]string{"radctl"}, args...))
	return out.String(), err
}

func TestVersion(t *testing.T) {
	out, err := run(t, "version", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r versionReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if r.Libtorch == "" || r.ABI == 0 || len(r.Devices) == 0 || r.Devices[0] != "cpu" || r.Threads < 1 {
		t.Fatalf("version report %+v", r)
	}
}

func TestMasksCommand(t *testing.T) {
	dir := t.TempDir()
	if _, err := run(t, "masks", "--kind", "box", "--n", "3", "--size", "64", "--seed", "5", "--out", dir); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "00002.png"))
	dir2 := t.TempDir()
	run(t, "masks", "--kind", "box", "--n", "3", "--size", "64", "--seed", "5", "--out", dir2)
	b, _ := os.ReadFile(filepath.Join(dir2, "00002.png"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatal("same seed gave different files")
	}
	if _, err := run(t, "masks", "--kind", "stars", "--out", dir); err == nil {
		t.Fatal("unknown kind accepted")
	}
}
