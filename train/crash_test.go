package train

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/radinpaint/rad/radmodel"
)

// The crash test runs this test binary as a child that trains and is
// SIGKILLed while it writes a checkpoint.
const (
	crashOutEnv  = "RAD_TRAIN_CRASH_OUT"
	crashDataEnv = "RAD_TRAIN_CRASH_DATA"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(ddpSpecEnv); spec != "" {
		os.Exit(ddpWorker(spec))
	}
	if out := os.Getenv(crashOutEnv); out != "" {
		os.Exit(crashChild(out, os.Getenv(crashDataEnv)))
	}
	os.Exit(m.Run())
}

// slowWriter writes in small chunks with a pause after each, so that a
// save takes seconds.
type slowWriter struct{ w io.Writer }

func (s slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 8<<10)
		m, err := s.w.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		p = p[k:]
		time.Sleep(10 * time.Millisecond)
	}
	return n, nil
}

func crashConfig(out, dataDir string) Config {
	spec, err := radmodel.ParseFlags("--image_size 16 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2 " +
		"--attention_resolutions 8 --num_head_channels 32 --learn_sigma True")
	if err != nil {
		panic(err)
	}
	c := DefaultConfig()
	c.Objective = RADFull
	c.Model = spec.Model
	c.Data, c.Out = dataDir, out
	c.BatchSize, c.Workers, c.Seed = 2, 1, 5
	c.Steps, c.SaveEvery, c.SampleEvery = 1000, 2, 0
	return c
}

// crashChild trains with every checkpoint after the first written slowly,
// until it is killed.
func crashChild(out, dataDir string) int {
	saves := 0
	saveHook = func(path string, w io.Writer) io.Writer {
		saves++
		if saves == 1 {
			return w
		}
		return slowWriter{w}
	}
	_, err := Run(context.Background(), crashConfig(out, dataDir))
	fmt.Fprintln(os.Stderr, "child was not killed:", err)
	return 3
}

// A process killed in the middle of a checkpoint save leaves the previous
// checkpoint loadable and no corrupt checkpoint; the run resumes from it.
func TestCrashDuringSave(t *testing.T) {
	dataDir := shapesData(t, 8, 16)
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashOutEnv+"="+out, crashDataEnv+"="+dataDir, "RADTORCH_THREADS=1")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(out, "ckpt-00000002.safetensors")
	second := filepath.Join(out, "ckpt-00000004.safetensors")
	tmpGlob := filepath.Join(out, ".ckpt-00000004.safetensors.tmp-*")
	deadline := time.Now().Add(60 * time.Second)
	var partial string
	for partial == "" {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the child never reached its second save\n%s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
		if _, err := os.Stat(first); err != nil {
			continue
		}
		ms, _ := filepath.Glob(tmpGlob)
		for _, m := range ms {
			if st, err := os.Stat(m); err == nil && st.Size() > 64<<10 {
				partial = m
			}
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	st, err := os.Stat(partial)
	if err != nil {
		t.Fatalf("the partial file is gone: %v", err)
	}
	t.Logf("killed with %d bytes of %s written", st.Size(), filepath.Base(partial))
	if _, err := os.Stat(second); !os.IsNotExist(err) {
		t.Fatalf("a checkpoint file exists for the interrupted save: %v", err)
	}
	info, err := ReadCheckpoint(first)
	if err != nil || info.Step != 2 {
		t.Fatalf("previous checkpoint: %+v, %v", info, err)
	}
	// the half-written file is not a loadable checkpoint
	if _, err := ReadCheckpoint(partial); err == nil {
		t.Fatal("the partial file reads as a checkpoint")
	}
	cks, _ := Checkpoints(out)
	if len(cks) != 1 || cks[0] != first {
		t.Fatalf("checkpoints %v", cks)
	}
	// resuming picks the previous checkpoint and cleans up
	cfg := crashConfig(out, dataDir)
	cfg.Steps = 4
	cfg.Resume = "auto"
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.StartStep != 2 || res.Step != 4 {
		t.Fatalf("resumed %d..%d", res.StartStep, res.Step)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Fatal("the temporary file of the interrupted save was left")
	}
	if _, err := ReadCheckpoint(second); err != nil {
		t.Fatal(err)
	}
}
