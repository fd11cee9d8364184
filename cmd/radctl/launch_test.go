package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/radinpaint/rad/train"
)

// radctl train --nproc runs this test binary as its workers: with
// testMainEnv set it is radctl.
const testMainEnv = "RADCTL_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(testMainEnv) == "1" {
		os.Args = append([]string{"radctl"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestTrainNproc: --nproc 2 runs two Gloo workers whose output comes back
// with rank prefixes; rank 0 writes the checkpoint (world size 2 in it).
func TestTrainNproc(t *testing.T) {
	t.Setenv(testMainEnv, "1")
	t.Setenv("RADTORCH_THREADS", "1")
	out := filepath.Join(t.TempDir(), "out")
	o, err := run(t, "train", "--nproc", "2", "--objective", "rad-full", "--model-flags", tinyTrainFlags,
		"--data", trainData(t, 6), "--out", out, "--steps", "2", "--batch-size", "2", "--workers", "1",
		"--sample-every", "0", "--dist-timeout", "30s")
	if err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	if !strings.Contains(o, "[rank 0] rad-full: steps 0..2") || strings.Contains(o, "[rank 1] rad-full") {
		t.Fatalf("output:\n%s", o)
	}
	info, err := train.ReadCheckpoint(filepath.Join(out, "ckpt-00000002.safetensors"))
	if err != nil || info.Config.World != 2 || info.Config.BatchSize != 2 {
		t.Fatalf("checkpoint %+v %v", info, err)
	}
}

// TestTrainLaunchBadPort: a rank whose MASTER_PORT has no store fails
// with an error naming the store and MASTER_PORT within --dist-timeout
// (2 s; the test allows 15 s).
func TestTrainLaunchBadPort(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": strconv.Itoa(port)} {
		t.Setenv(k, v)
	}
	start := time.Now()
	_, err = run(t, "train", "--objective", "rad-full", "--model-flags", tinyTrainFlags, "--data", trainData(t, 2),
		"--out", filepath.Join(t.TempDir(), "out"), "--steps", "1", "--batch-size", "1", "--dist-timeout", "2s")
	if err == nil || !strings.Contains(err.Error(), "could not reach the store at 127.0.0.1:"+strconv.Itoa(port)) ||
		!strings.Contains(err.Error(), "MASTER_PORT") {
		t.Fatalf("error %v", err)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Fatalf("took %v", el)
	}
	t.Setenv("RANK", "x")
	if _, err := run(t, "train", "--out", t.TempDir(), "--objective", "adm"); err == nil || !strings.Contains(err.Error(), "RANK") {
		t.Fatalf("bad RANK: %v", err)
	}
}
