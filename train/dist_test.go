package train

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/torch"
)

// The data-parallel tests run this test binary as the workers of a
// 2-process Gloo run on 127.0.0.1 (RANK, WORLD_SIZE, MASTER_* set as a
// launcher sets them); ddpSpecEnv names the worker's job file.
const ddpSpecEnv = "RAD_TRAIN_DDP_SPEC"

// ddpSpec is a worker's job.
type ddpSpec struct {
	Data, Out, Resume string
	Steps, SaveEvery  int
	BatchSize, Accum  int
	DieAtStep         int // > 0: rank 1 SIGKILLs itself after that step
	PoisonAtStep      int // > 0: rank 1's loss is NaN at that step
	TimeoutMS         int
	Result            string // where the worker writes its records (with %d: the rank)
	Dropout, LR       float64
}

// ddpConfig is the run of a spec (a tiny model, every random draw on).
func ddpConfig(sp ddpSpec) Config {
	spec, err := radmodel.ParseFlags("--image_size 16 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2 " +
		"--attention_resolutions 8 --num_head_channels 32 --learn_sigma True")
	if err != nil {
		panic(err)
	}
	c := DefaultConfig()
	c.Objective = RADFull
	c.Model = spec.Model
	c.Model.Dropout = sp.Dropout
	c.Data, c.Out, c.Resume = sp.Data, sp.Out, sp.Resume
	c.BatchSize, c.Accum, c.Workers, c.Seed = sp.BatchSize, max(sp.Accum, 1), 1, 3
	c.Steps, c.SaveEvery, c.SampleEvery = sp.Steps, sp.SaveEvery, 0
	c.LR = sp.LR
	c.RandomCrop = true
	return c
}

// ddpWorker is a worker's main: join the group from the environment,
// train, write the records.
func ddpWorker(specPath string) int {
	b, err := os.ReadFile(specPath)
	var sp ddpSpec
	if err == nil {
		err = json.Unmarshal(b, &sp)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 2
	}
	l, err := LaunchFromEnv()
	if err != nil || l == nil {
		fmt.Fprintln(os.Stderr, "worker: launch:", err)
		return 2
	}
	pg, err := l.Join(torch.Gloo, time.Duration(sp.TimeoutMS)*time.Millisecond)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	defer pg.Close()
	if sp.DieAtStep > 0 && l.Rank == 1 {
		testHooks.afterStep = func(t *trainer, r Record) {
			if r.Step == sp.DieAtStep {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	if sp.PoisonAtStep > 0 && l.Rank == 1 {
		testHooks.poison = func(step int) poison {
			if step == sp.PoisonAtStep {
				return poisonLoss
			}
			return poisonNone
		}
	}
	cfg := ddpConfig(sp)
	cfg.Group = pg
	res, err := Run(context.Background(), cfg)
	if res != nil {
		out, _ := json.Marshal(res.Records)
		if werr := os.WriteFile(fmt.Sprintf(sp.Result, l.Rank), out, 0o644); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	return 0
}

func ddpFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ddpOutcome is one worker's exit and output.
type ddpOutcome struct {
	err     error
	stderr  string
	records []Record
	took    time.Duration
}

// runDDP runs world workers of sp and waits for them (bounded by limit).
func runDDP(t *testing.T, sp ddpSpec, world int, limit time.Duration) []ddpOutcome {
	t.Helper()
	dir := t.TempDir()
	if sp.TimeoutMS == 0 {
		sp.TimeoutMS = 30000
	}
	sp.Result = filepath.Join(dir, "records-%d.json")
	specPath := filepath.Join(dir, "spec.json")
	b, _ := json.Marshal(sp)
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	port := ddpFreePort(t)
	outs := make([]ddpOutcome, world)
	cmds := make([]*exec.Cmd, world)
	errb := make([]*bytes.Buffer, world)
	start := time.Now()
	for r := 0; r < world; r++ {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		l := Launch{Rank: r, World: world, LocalRank: r, Addr: "127.0.0.1", Port: port}
		cmd.Env = append(append(os.Environ(), ddpSpecEnv+"="+specPath, "RADTORCH_THREADS=1"), l.Env()...)
		errb[r] = &bytes.Buffer{}
		cmd.Stderr, cmd.Stdout = errb[r], errb[r]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[r] = cmd
	}
	done := make(chan int)
	for r, cmd := range cmds {
		go func(r int, cmd *exec.Cmd) {
			outs[r].err = cmd.Wait()
			outs[r].took = time.Since(start)
			done <- r
		}(r, cmd)
	}
	for range cmds {
		<-done
	}
	for r := range cmds {
		outs[r].stderr = errb[r].String()
		if raw, err := os.ReadFile(fmt.Sprintf(sp.Result, r)); err == nil {
			if err := json.Unmarshal(raw, &outs[r].records); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("workers still running after %v", limit)
	}
	return outs
}

func ddpOK(t *testing.T, outs []ddpOutcome) []Record {
	t.Helper()
	for r, o := range outs {
		if o.err != nil {
			t.Fatalf("rank %d: %v\n%s", r, o.err, o.stderr)
		}
	}
	return outs[0].records
}

// readTensors reads a safetensors file's float tensors.
func readTensors(t *testing.T, path string) map[string][]float64 {
	t.Helper()
	s := torch.NewNoGradScope()
	defer s.Close()
	sd, err := torch.LoadSafetensors(s, path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float64{}
	for _, k := range sd.Keys {
		v, err := sd.Get(k).Float64s()
		if err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	return out
}

// Tolerances of the 1-process / 2-process comparison. The two compute
// the same sums in another order (batch 4 against two batches of 2, then
// the all-reduce's sum), so they agree to float32 reduction-order
// rounding: losses and gradient norms to a relative 1e-5. AdamW divides
// each gradient by its running RMS, so for weights whose gradient is
// near zero a rounding-size difference of the gradient becomes a
// visible part of the step: weights after 4 steps at lr 1e-3 agree to
// 1e-4 absolute, a tenth of one step's largest move (measured: about
// 2e-5).
const (
	ddpLossTol   = 1e-5
	ddpWeightTol = 1e-4
)

// TestDataParallel: 2 processes x batch 2 against 1 process x batch 4
// (same data, seed, dropout 0.1, random crops): the same losses at every
// step (the ranks' mean, equal on both ranks) and the same weights (raw
// and EMA exports) after 4 steps, within ddpLossTol / ddpWeightTol. Then
// a 2-process run stopped at step 2 and resumed to 4 reproduces the
// uninterrupted 2-process run bit for bit (losses, gradient norms,
// final export bytes), and only rank 0 wrote files; its step-2
// checkpoint resumed in 1 process (re-sharded to batch 4) gives the
// 2-process losses within ddpLossTol.
func TestDataParallel(t *testing.T) {
	dataDir := shapesData(t, 10, 20)
	sp := ddpSpec{Data: dataDir, Steps: 4, SaveEvery: 2, BatchSize: 2, Dropout: 0.1, LR: 1e-3}

	// the reference: one process (a group of one) with batch 4
	one := sp
	one.BatchSize = 4
	one.Out = filepath.Join(t.TempDir(), "one")
	refOut := runDDP(t, one, 1, 60*time.Second)
	ddpOK(t, refOut)
	ref := refOut[0].records

	sp.Out = filepath.Join(t.TempDir(), "two")
	outs := runDDP(t, sp, 2, 90*time.Second)
	two := ddpOK(t, outs)
	if len(two) != 4 || len(outs[1].records) != 4 {
		t.Fatalf("%d and %d records", len(two), len(outs[1].records))
	}
	worst := 0.0
	for i, r := range two {
		w := ref[i]
		if outs[1].records[i].Loss != r.Loss {
			t.Fatalf("step %d: rank 0 loss %v, rank 1 %v", r.Step, r.Loss, outs[1].records[i].Loss)
		}
		for _, p := range [][2]float64{{r.Loss, w.Loss}, {r.MSE, w.MSE}, {r.VLB, w.VLB}, {r.GradNorm, w.GradNorm}} {
			d := math.Abs(p[0]-p[1]) / (math.Abs(p[1]) + 1e-12)
			worst = max(worst, d)
			if d > ddpLossTol {
				t.Fatalf("step %d: 2 processes %+v, 1 process %+v", r.Step, r, w)
			}
		}
		if r.CommSeconds <= 0 {
			t.Fatalf("step %d: no all-reduce time recorded", r.Step)
		}
	}
	if ref[0].Loss == ref[1].Loss {
		t.Fatal("degenerate losses")
	}
	wworst := 0.0
	for _, f := range []string{FinalModel, FinalModelRaw} {
		a, b := readTensors(t, filepath.Join(one.Out, f)), readTensors(t, filepath.Join(sp.Out, f))
		for k, av := range a {
			bv := b[k]
			if len(bv) != len(av) {
				t.Fatalf("%s %s: %d values, want %d", f, k, len(bv), len(av))
			}
			for i := range av {
				wworst = max(wworst, math.Abs(av[i]-bv[i]))
			}
		}
	}
	if wworst > ddpWeightTol {
		t.Fatalf("weights differ by up to %g (tolerance %g)", wworst, ddpWeightTol)
	}
	t.Logf("2x2 vs 1x4: losses within %.2g (relative), weights within %.2g", worst, wworst)
	// only rank 0 wrote files: one log with every step
	if recs, err := ReadLog(filepath.Join(sp.Out, LogFile)); err != nil || len(recs) != 4 {
		t.Fatalf("log: %v, %d records", err, len(recs))
	}
	ck, err := ReadCheckpoint(filepath.Join(sp.Out, stepFile(ckptPrefix, 4)))
	if err != nil || ck.Config.World != 2 || ck.Config.RNG != RNGSample || ck.DataPosition != 4 {
		t.Fatalf("checkpoint: %v %+v", err, ck)
	}

	// resume: 2 steps, then on to 4
	part := sp
	part.Out = filepath.Join(t.TempDir(), "part")
	part.Steps = 2
	ddpOK(t, runDDP(t, part, 2, 60*time.Second))
	part.Steps, part.Resume = 4, "latest"
	resumed := ddpOK(t, runDDP(t, part, 2, 60*time.Second))
	if len(resumed) != 2 {
		t.Fatalf("resumed run: %d records", len(resumed))
	}
	for i, r := range resumed {
		w := two[2+i]
		if r.Step != w.Step || r.Loss != w.Loss || r.MSE != w.MSE || r.GradNorm != w.GradNorm {
			t.Fatalf("step %d: resumed %+v, uninterrupted %+v", r.Step, r, w)
		}
	}
	fa, _ := os.ReadFile(filepath.Join(sp.Out, FinalModel))
	fb, _ := os.ReadFile(filepath.Join(part.Out, FinalModel))
	if len(fa) == 0 || !bytes.Equal(fa, fb) {
		t.Fatal("final exports of the resumed and the uninterrupted 2-process runs differ")
	}

	// the step-2 checkpoint of the 2-process run resumed in one process:
	// re-sharded to batch 4, it goes on as the 2-process run did
	solo := part
	solo.Resume = filepath.Join(part.Out, stepFile(ckptPrefix, 2))
	solo.Out = filepath.Join(t.TempDir(), "solo")
	rs := ddpOK(t, runDDP(t, solo, 1, 60*time.Second))
	if len(rs) != 2 {
		t.Fatalf("re-sharded run: %d records", len(rs))
	}
	for i, r := range rs {
		w := two[2+i]
		if r.Step != w.Step || math.Abs(r.Loss-w.Loss) > ddpLossTol*math.Abs(w.Loss) {
			t.Fatalf("step %d: re-sharded on 1 process %+v, 2 processes %+v", r.Step, r, w)
		}
	}
	ck, err = ReadCheckpoint(filepath.Join(solo.Out, stepFile(ckptPrefix, 4)))
	if err != nil || ck.Config.World != 1 || ck.Config.BatchSize != 4 {
		t.Fatalf("re-sharded checkpoint: %v %+v", err, ck)
	}
}

// TestReshardRefusals: a world size that does not divide the global batch,
// or a run on the old random stream, is refused with the sizes named.
func TestReshardRefusals(t *testing.T) {
	ck := &CheckpointInfo{Path: "ckpt", Config: Config{World: 2, BatchSize: 3, RNG: RNGStream}}
	c := Config{BatchSize: 3, RNG: RNGStream}
	if err := c.reshard(ck); err == nil || !strings.Contains(err.Error(), "resumes on 2 process(es) only") {
		t.Fatalf("stream run on another world size: %v", err)
	}
	c = Config{BatchSize: 3, RNG: RNGSample}
	if err := c.reshard(ck); err != nil || c.BatchSize != 6 {
		t.Fatalf("2 x 3 on 1 rank: %v, batch %d", err, c.BatchSize)
	}
	// 1 rank x 5 cannot be cut in 2 (checked through the arithmetic the
	// group would give)
	ck = &CheckpointInfo{Path: "ckpt", Config: Config{World: 1, BatchSize: 5, RNG: RNGSample}}
	if err := reshardTo(&Config{BatchSize: 5, RNG: RNGSample}, ck, 2); err == nil || !strings.Contains(err.Error(), "global batch of 5") {
		t.Fatalf("5 on 2 ranks: %v", err)
	}
}

// TestDataParallelKilledWorker: rank 1's loss is NaN at step 2 (both
// ranks skip the step); rank 1 is SIGKILLed after step 3 of a
// run that checkpoints every step: rank 0 exits with an error naming the
// failed collective within the timeout (10 s; the test allows 15 s after
// rank 1's death), and its last checkpoint loads.
func TestDataParallelKilledWorker(t *testing.T) {
	dataDir := shapesData(t, 6, 16)
	sp := ddpSpec{Data: dataDir, Out: filepath.Join(t.TempDir(), "out"), Steps: 200, SaveEvery: 1, BatchSize: 2,
		LR: 1e-3, DieAtStep: 3, PoisonAtStep: 2, TimeoutMS: 10000}
	outs := runDDP(t, sp, 2, 60*time.Second)
	if outs[1].err == nil || !strings.Contains(outs[1].err.Error(), "killed") {
		t.Fatalf("rank 1: %v", outs[1].err)
	}
	if outs[0].err == nil {
		t.Fatal("rank 0 went on without its peer")
	}
	// rank 1's NaN loss at step 2 skipped the step on both ranks
	if rs := outs[0].records; len(rs) < 3 || rs[0].Skipped || !rs[1].Skipped || rs[2].Skipped {
		t.Fatalf("rank 0's records %+v: want step 2 (only) skipped", rs)
	}
	if !strings.Contains(outs[0].stderr, "c10d allreduce on rank 0 of 2 failed") {
		t.Fatalf("rank 0's error is unclear:\n%s", outs[0].stderr)
	}
	if d := outs[0].took - outs[1].took; d > 15*time.Second {
		t.Fatalf("rank 0 took %v after its peer died", d)
	}
	have, err := Checkpoints(sp.Out)
	if err != nil || len(have) == 0 {
		t.Fatalf("no checkpoint: %v", err)
	}
	ck, err := ReadCheckpoint(have[len(have)-1])
	if err != nil || ck.Step < 3 {
		t.Fatalf("last checkpoint %s: %v (%+v)", have[len(have)-1], err, ck)
	}
	t.Logf("rank 0 exited %v after rank 1 died: %s", (outs[0].took - outs[1].took).Round(time.Millisecond),
		strings.TrimSpace(lastLine(outs[0].stderr)))
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// TestLaunchFromEnv: torchrun's variables are read, and a bad one is
// named in the error.
func TestLaunchFromEnv(t *testing.T) {
	t.Setenv(EnvWorldSize, "")
	if l, err := LaunchFromEnv(); l != nil || err != nil {
		t.Fatalf("no launcher: %v %v", l, err)
	}
	t.Setenv(EnvWorldSize, "4")
	t.Setenv(EnvRank, "3")
	t.Setenv(EnvLocalRank, "1")
	t.Setenv(EnvMasterAddr, "node0")
	t.Setenv(EnvMasterPort, "29500")
	l, err := LaunchFromEnv()
	if err != nil || *l != (Launch{Rank: 3, World: 4, LocalRank: 1, Addr: "node0", Port: 29500}) {
		t.Fatalf("%+v %v", l, err)
	}
	for _, bad := range [][2]string{{EnvRank, "4"}, {EnvMasterPort, "x"}, {EnvRank, ""}} {
		t.Setenv(bad[0], bad[1])
		if _, err := LaunchFromEnv(); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Fatalf("%s=%q: %v", bad[0], bad[1], err)
		}
		t.Setenv(EnvRank, "3")
		t.Setenv(EnvMasterPort, "29500")
	}
}

// TestOldCheckpointRNG: a checkpoint config written before Config.RNG
// existed (no "rng" field) resumes on the old stream scheme, and new
// runs default to the per-sample scheme.
func TestOldCheckpointRNG(t *testing.T) {
	var saved Config
	if err := json.Unmarshal([]byte(`{"objective":"rad-full","batch_size":2,"accum":1,"seed":3,"lr":0.001}`), &saved); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	if c.RNG != RNGSample {
		t.Fatalf("new runs: rng %q", c.RNG)
	}
	c.adoptSaved(saved)
	c.Objective, c.Model, c.Data, c.Out = RADFull, tinyModel(t), "data", "out"
	if err := c.normalize(); err != nil || c.RNG != RNGStream {
		t.Fatalf("old checkpoint: rng %q, %v", c.RNG, err)
	}
	c.World = 2
	if err := c.normalize(); err == nil || !strings.Contains(err.Error(), "resume it in one process") {
		t.Fatalf("old checkpoint on 2 ranks: %v", err)
	}
}

// phaseStep draws phase 1 with the asked probability, uniformly within
// each phase, and never leaves [0, T).
func TestPhaseStep(t *testing.T) {
	const n, T, draws = 100, 200, 40000
	for _, p1 := range []float64{0.25, 0.8, 1} {
		var inPhase1 int
		var seen [T]int
		for i := 0; i < draws; i++ {
			st := phaseStep(sampleKey(12345, int64(i)), p1, n, T)
			if st < 0 || st >= T {
				t.Fatalf("p1 %g: step %d outside [0, %d)", p1, st, T)
			}
			seen[st]++
			if st < n {
				inPhase1++
			}
		}
		got := float64(inPhase1) / draws
		if math.Abs(got-p1) > 0.01 {
			t.Errorf("p1 %g: phase-1 share %.4f", p1, got)
		}
		// uniform within each phase: every step drawn, none far from its
		// expected count
		for st, c := range seen {
			want := draws * p1 / n
			if st >= n {
				want = draws * (1 - p1) / (T - n)
			}
			if want == 0 && c != 0 || want > 0 && (c == 0 || math.Abs(float64(c)-want) > 6*math.Sqrt(want)) {
				t.Fatalf("p1 %g: step %d drawn %d times, want about %.0f", p1, st, c, want)
			}
		}
	}
}
