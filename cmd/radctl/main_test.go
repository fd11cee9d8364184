package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/radinpaint/rad/torch"
)

// run executes radctl with args and returns its standard output.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	app := &cli.App{Name: "radctl", Commands: commands, Writer: &out, ErrWriter: &out,
		ExitErrHandler: func(*cli.Context, error) {}}
	rawArgs = args
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

func TestForwardCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.pt")
	fx := "../../testdata/adm/"
	for _, cfg := range [][]string{{"--config", fx + "pub_c.json"}, {"--model-flags", "--image_size 32 --num_channels 32 --num_res_blocks 2 --channel_mult 1,1,1,1 --attention_resolutions 16,8 --num_head_channels 32 --use_scale_shift_norm True --resblock_updown True --learn_sigma True --class_cond True"}} {
		args := append([]string{"forward", "--model", fx + "pub_c.pt", "--input", fx + "pub_c.io.pt", "--output", out}, cfg...)
		if o, err := run(t, args...); err != nil {
			t.Fatalf("%v: %s", err, o)
		}
		s := torch.NewNoGradScope()
		got, err := torch.LoadPT(s, out)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := torch.LoadPT(s, fx+"pub_c.io.pt")
		d, _ := s.Max(s.Abs(s.Sub(got.Get("out"), ref.Get("out")))).Item()
		if s.Err() != nil || d > 1e-5 {
			t.Fatalf("forward output differs by %g (%v)", d, s.Err())
		}
		s.Close()
	}
	// a tau map: constant maps give the scalar output
	s := torch.NewNoGradScope()
	defer s.Close()
	ref, _ := torch.LoadPT(s, fx+"pub_a.io.pt")
	tv, _ := ref.Get("t").Float64s()
	tau := make([]float32, 2*32*32)
	for i := range tau {
		tau[i] = float32(tv[i/1024])
	}
	in := filepath.Join(dir, "in.pt")
	if err := torch.SavePT(in, []string{"x", "tau"}, []*torch.Tensor{ref.Get("x"), torch.FromSlice(s, tau, 2, 1, 32, 32)}); err != nil {
		t.Fatal(err)
	}
	if o, err := run(t, "forward", "--model", fx+"pub_a.pt", "--config", fx+"pub_a.json", "--input", in, "--output", out); err != nil {
		t.Fatalf("%v: %s", err, o)
	}
	got, _ := torch.LoadPT(s, out)
	if d, _ := s.Max(s.Abs(s.Sub(got.Get("out"), ref.Get("out")))).Item(); d > 1e-5 {
		t.Fatalf("tau forward differs by %g", d)
	}
	// errors: wrong config, missing input, cuda:7
	if _, err := run(t, "forward", "--model", fx+"pub_a.pt", "--config", fx+"pub_b.json", "--input", in, "--output", out); err == nil || !strings.Contains(err.Error(), "pub_a.pt") {
		t.Fatalf("wrong config: %v", err)
	}
	if _, err := run(t, "forward", "--model", fx+"pub_a.pt", "--config", fx+"pub_a.json", "--input", dir+"/none.pt", "--output", out); err == nil {
		t.Fatal("missing input accepted")
	}
	if _, err := run(t, "forward", "--model", fx+"pub_a.pt", "--config", fx+"pub_a.json", "--input", in, "--output", out, "--device", "cuda:7"); err == nil {
		t.Fatal("cuda:7 accepted")
	}
	o, err := run(t, "inspect", "--model", fx+"pub_b.pt")
	if err != nil || !strings.Contains(o, "1,239,747") {
		t.Fatalf("inspect: %v\n%s", err, o)
	}
}

// convert writes a checkpoint as float16 safetensors with its config: the
// file loads without config flags and its forward matches the float32
// original to float16 rounding.
func TestConvert(t *testing.T) {
	fx := "../../testdata/adm/"
	dir := t.TempDir()
	half := filepath.Join(dir, "pub_a.f16.safetensors")
	if o, err := run(t, "convert", "--model", fx+"pub_a.pt", "--config", fx+"pub_a.json", "--out", half); err != nil || !strings.Contains(o, "float16") {
		t.Fatalf("convert: %v\n%s", err, o)
	}
	if o, err := run(t, "inspect", "--model", half); err != nil || !strings.Contains(o, "float16") {
		t.Fatalf("inspect: %v\n%s", err, o)
	}
	out := filepath.Join(dir, "out.pt")
	if o, err := run(t, "forward", "--model", half, "--input", fx+"pub_a.io.pt", "--output", out); err != nil {
		t.Fatalf("forward of the converted file without config flags: %v\n%s", err, o)
	}
	s := torch.NewNoGradScope()
	defer s.Close()
	ref, _ := torch.LoadPT(s, fx+"pub_a.io.pt")
	got, _ := torch.LoadPT(s, out)
	d, _ := s.Max(s.Abs(s.Sub(got.Get("out"), ref.Get("out")))).Item()
	if d == 0 || d > 0.05 {
		t.Fatalf("float16 forward differs by %g (want float16 rounding: > 0, < 0.05)", d)
	}
	// --resolution records the sizes to run at in the file's config
	noted := filepath.Join(dir, "noted.safetensors")
	if o, err := run(t, "convert", "--model", half, "--out", noted, "--resolution", "native"); err != nil || !strings.Contains(o, "runs at native resolution") {
		t.Fatalf("convert --resolution native: %v\n%s", err, o)
	}
	if o, err := run(t, "inspect", "--model", noted); err != nil || !strings.Contains(o, "runs at native resolution") {
		t.Fatalf("inspect of the noted file: %v\n%s", err, o)
	}
	if o, err := run(t, "convert", "--model", noted, "--out", filepath.Join(dir, "kept.safetensors")); err != nil || !strings.Contains(o, "runs at native resolution") {
		t.Fatalf("a conversion without --resolution dropped the note: %v\n%s", err, o)
	}
	if o, err := run(t, "convert", "--model", noted, "--out", filepath.Join(dir, "auto.safetensors"), "--resolution", "auto"); err != nil || strings.Contains(o, "resolution") {
		t.Fatalf("convert --resolution auto kept the note: %v\n%s", err, o)
	}
	// refusals: the input as output, an integer dtype, no config, an unknown resolution
	for _, args := range [][]string{
		{"--model", half, "--out", filepath.Join(dir, "x.safetensors"), "--resolution", "any"},
		{"--model", half, "--out", half},
		{"--model", fx + "pub_a.pt", "--config", fx + "pub_a.json", "--out", filepath.Join(dir, "x.safetensors"), "--to", "int64"},
		{"--model", fx + "pub_a.pt", "--out", filepath.Join(dir, "y.safetensors")},
	} {
		if _, err := run(t, append([]string{"convert"}, args...)...); err == nil {
			t.Fatalf("convert %v accepted", args)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.safetensors")); err == nil {
		t.Fatal("a refused conversion wrote its output")
	}
}
