package train

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radinpaint/rad/radmodel"
	"github.com/radinpaint/rad/torch"
)

// A tiny model trained with the ADM objective: the loss falls clearly,
// every step is logged, the loss curve decodes, exports load as models.
func TestADMLossFalls(t *testing.T) {
	model := tinyModel(t)
	cfg := testConfig(t, model, shapesData(t, 32, 16), ADM)
	cfg.Steps = 200
	cfg.BatchSize = 4
	cfg.LR = 1e-3
	cfg.EMA = 0.99
	cfg.SaveEvery = 100
	cfg.Keep = 1
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != cfg.Steps || res.Step != cfg.Steps || res.NonFinite != 0 {
		t.Fatalf("%d records, step %d, %d non-finite", len(res.Records), res.Step, res.NonFinite)
	}
	l := losses(res.Records)
	first, last := mean(l[:20]), mean(l[len(l)-20:])
	t.Logf("ADM loss: first 20 steps %.4f, last 20 %.4f (%.1f s)", first, last, res.Seconds)
	if !(last < 0.5*first) {
		t.Fatalf("loss did not fall: first 20 steps %.4f, last 20 %.4f", first, last)
	}
	for _, r := range res.Records {
		if r.LR != cfg.LR || !(r.GradNorm > 0) || r.Skipped || r.Seconds <= 0 || !(r.VLB > 0) || !(r.MSE > 0) {
			t.Fatalf("bad record %+v", r)
		}
		// ADM's loss is mse + 1 * vb
		if d := math.Abs(r.Loss - (r.MSE + r.VLB)); d > 1e-5*r.Loss {
			t.Fatalf("step %d: loss %g != mse %g + vb %g", r.Step, r.Loss, r.MSE, r.VLB)
		}
	}
	// the JSONL log: one line per step with every field
	raw, err := os.ReadFile(filepath.Join(cfg.Out, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	n := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		for _, k := range []string{"step", "mse", "vlb", "loss", "lr", "grad_norm", "skipped", "seconds", "bad_files"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("line %d has no %q: %s", n+1, k, sc.Text())
			}
		}
		n++
		if int(m["step"].(float64)) != n {
			t.Fatalf("line %d is step %v", n, m["step"])
		}
	}
	if n != cfg.Steps {
		t.Fatalf("%d log lines for %d steps", n, cfg.Steps)
	}
	recs, err := ReadLog(filepath.Join(cfg.Out, LogFile))
	if err != nil || len(recs) != cfg.Steps || recs[10].Loss != res.Records[10].Loss {
		t.Fatalf("ReadLog: %v, %d records", err, len(recs))
	}
	decodePNG(t, filepath.Join(cfg.Out, PlotFile))
	// keep 1: only the last checkpoint and its export remain
	cks, _ := Checkpoints(cfg.Out)
	if len(cks) != 1 || filepath.Base(cks[0]) != "ckpt-00000200.safetensors" || res.Checkpoint != cks[0] {
		t.Fatalf("checkpoints %v (result %s)", cks, res.Checkpoint)
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, "model-00000100.safetensors")); !os.IsNotExist(err) {
		t.Fatal("the export of a pruned checkpoint was kept")
	}
	for _, p := range []string{res.Export, res.Final} {
		m, err := radmodel.Load(p, model, torch.CPU, torch.Float32)
		if err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	info, err := ReadCheckpoint(res.Checkpoint)
	if err != nil || info.Step != 200 || info.Config.Objective != ADM || info.OptimizerSteps != 200 || !info.HasEMA ||
		len(info.Trainable) != len(tinyKeys(t)) || info.DataPosition != 200 {
		t.Fatalf("checkpoint info %+v, %v", info, err)
	}
}

func tinyKeys(t *testing.T) []string {
	m, err := radmodel.NewRandom(tinyModel(t), torch.CPU, torch.Float32, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	return m.Keys()
}

func decodePNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < 32 || b.Dy() < 32 {
		t.Fatalf("%s is %v", path, b)
	}
}

// saveRandomBase writes a random tiny model as a base checkpoint.
func saveRandomBase(t *testing.T, cfg radmodel.Config) string {
	t.Helper()
	m, err := radmodel.NewRandom(cfg, torch.CPU, torch.Float32, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p := filepath.Join(t.TempDir(), "base.safetensors")
	if err := m.SaveSafetensors(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakePreview stands in for the sampler (package infer is not imported
// here): it fills the hole with the model's eps prediction at a mid-level
// timestep.
func fakePreview(ctx context.Context, s *torch.Scope, m *radmodel.UNet, x0, mask *torch.Tensor) (*torch.Tensor, error) {
	out := m.Forward(s, x0, s.Full(500, torch.Float32, x0.Device(), x0.Size(0)), nil)
	eps := s.Clamp(s.Narrow(out, 1, 0, x0.Size(1)), -1, 1)
	r := s.Add(s.Mul(x0, s.RSubScalar(1, mask)), s.Mul(eps, mask))
	return r, s.Err()
}

// rad-lora from a saved random base: only the trainable set changes,
// adapters load with LoadAdapter (EMA weights), sample grids decode,
// corrupt files are skipped and counted.
func TestRADLoRA(t *testing.T) {
	model := tinyModel(t)
	base := saveRandomBase(t, model)
	dataDir := shapesData(t, 20, 16)
	if err := os.WriteFile(filepath.Join(dataDir, "broken.png"), []byte("\x89PNG\r\n\x1a\n not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, model, dataDir, RADLoRA)
	cfg.Base = base
	cfg.Steps = 6
	cfg.SaveEvery = 3
	cfg.SampleEvery = 3
	cfg.PreviewImages = 3
	cfg.LR = 1e-3
	cfg.TimestepOffset = 1
	cfg.Preview = fakePreview
	var notes []string
	cfg.Logf = func(f string, a ...any) { notes = append(notes, f) }

	// at the last step, compare every weight with the base file
	baseScope := torch.NewNoGradScope()
	defer baseScope.Close()
	baseSD, err := torch.LoadSafetensors(baseScope, base)
	if err != nil {
		t.Fatal(err)
	}
	checked := false
	testHooks.afterStep = func(tr *trainer, r Record) {
		if r.Step != cfg.Steps {
			return
		}
		checked = true
		trained := map[string]bool{}
		for _, n := range tr.names {
			trained[n] = true
			if !strings.HasPrefix(n, "lora.") && !strings.HasPrefix(n, "time_embed.") && !strings.Contains(n, ".emb_layers.") {
				t.Errorf("unexpected trained tensor %s", n)
			}
		}
		s := torch.NewNoGradScope()
		defer s.Close()
		changed := 0
		for _, k := range tr.model.Keys() {
			eq, _ := s.All(s.Eq(tr.model.Param(k), baseSD.Get(k))).Item()
			if !trained[k] && eq != 1 {
				t.Errorf("frozen weight %s changed", k)
			}
			if trained[k] && eq != 1 {
				changed++
			}
		}
		if changed == 0 {
			t.Error("no time-embedding weight changed")
		}
	}
	defer func() { testHooks.afterStep = nil }()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !checked {
		t.Fatal("the last step was not checked")
	}
	if res.SkippedFiles != 1 || res.Records[len(res.Records)-1].BadFiles != 1 {
		t.Fatalf("skipped files %d (%v), last record %+v", res.SkippedFiles, res.SkippedNames, res.Records[len(res.Records)-1])
	}
	// adapters: one per checkpoint plus the final one, loadable on the base
	sha, _ := radmodel.FileSHA256(base)
	for _, p := range []string{"adapter-00000003.safetensors", "adapter-00000006.safetensors", FinalAdapter} {
		m, err := radmodel.Load(base, model, torch.CPU, torch.Float32)
		if err != nil {
			t.Fatal(err)
		}
		meta, err := m.LoadAdapter(filepath.Join(cfg.Out, p), radmodel.ApplyOpts{BaseSHA256: sha})
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		if meta.Rank != 16 || meta.Alpha != 16 || meta.TimestepOffset != 1 || meta.BaseSHA256 != sha ||
			meta.DiffusionSteps != 1000 || meta.NoiseSchedule != "linear" || meta.LambdaVLB != 1e-3 || !meta.BaseConfig.Equal(model) {
			t.Fatalf("%s: metadata %+v", p, meta)
		}
	}
	// the adapter holds the EMA weights of the checkpoint
	s := torch.NewNoGradScope()
	defer s.Close()
	ad, err := torch.LoadSafetensors(s, filepath.Join(cfg.Out, "adapter-00000006.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	ck, err := torch.LoadSafetensors(s, filepath.Join(cfg.Out, "ckpt-00000006.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	diffTrained := false
	for _, k := range ad.Keys {
		if eq, _ := s.All(s.Eq(ad.Get(k), ck.Get(groupEMA+k))).Item(); eq != 1 {
			t.Fatalf("adapter tensor %s is not the EMA", k)
		}
		if eq, _ := s.All(s.Eq(ad.Get(k), ck.Get(groupParam+k))).Item(); eq != 1 {
			diffTrained = true
		}
	}
	if !diffTrained {
		t.Fatal("EMA equals the trained weights")
	}
	if len(res.Samples) != 2 {
		t.Fatalf("samples %v", res.Samples)
	}
	for _, p := range res.Samples {
		decodePNG(t, p)
	}
	decodePNG(t, filepath.Join(cfg.Out, PlotFile))
	if _, err := os.Stat(filepath.Join(cfg.Out, ConfigFile)); err != nil {
		t.Fatal(err)
	}
	// the output folder now holds checkpoints: a fresh run is refused
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "already holds checkpoints") {
		t.Fatalf("fresh run into a used folder: %v", err)
	}
}

// k steps, then a resume for k more, give the losses of 2k steps, bit for
// bit (with EMA, dropout and gradient accumulation).
func TestResumeEquivalence(t *testing.T) {
	model := tinyModel(t)
	dataDir := shapesData(t, 12, 16)
	base := saveRandomBase(t, model)
	// "" is the EMA rule and the random scheme of checkpoints written
	// before warm-up and RNGSample existed
	for _, tc := range []struct {
		obj         Objective
		warmup, rng string
	}{{RADFull, EMAWarmupRatio, RNGSample}, {RADLoRA, EMAWarmupRatio, RNGSample}, {RADFull, "", ""}} {
		obj := tc.obj
		t.Run(string(obj)+"/ema-warmup-"+tc.warmup+"/rng-"+tc.rng, func(t *testing.T) {
			mk := func() Config {
				c := testConfig(t, model, dataDir, obj)
				c.EMAWarmup = tc.warmup
				c.RNG = tc.rng
				c.Model.Dropout = 0.1
				c.BatchSize = 3
				c.Accum = 2
				c.LR = 1e-3
				c.Steps = 8
				c.SaveEvery = 4
				if obj == RADLoRA {
					c.Base = base
				}
				return c
			}
			whole := mk()
			a, err := Run(context.Background(), whole)
			if err != nil {
				t.Fatal(err)
			}
			part := mk()
			part.Steps = 4
			part.SaveEvery = 0
			if _, err := Run(context.Background(), part); err != nil {
				t.Fatal(err)
			}
			part.Steps = 8
			part.Resume = "latest"
			part.LR = 5 // the checkpoint's settings win
			var notes []string
			part.Logf = func(f string, a ...any) { notes = append(notes, f) }
			b, err := Run(context.Background(), part)
			if err != nil {
				t.Fatal(err)
			}
			if b.StartStep != 4 || len(b.Records) != 4 {
				t.Fatalf("resumed at %d with %d records", b.StartStep, len(b.Records))
			}
			for i, r := range b.Records {
				w := a.Records[4+i]
				if r.Step != w.Step || r.Loss != w.Loss || r.MSE != w.MSE || r.VLB != w.VLB || r.GradNorm != w.GradNorm {
					t.Fatalf("step %d: resumed %+v, uninterrupted %+v", r.Step, r, w)
				}
			}
			if a.Records[4].Loss == a.Records[5].Loss {
				t.Fatal("degenerate losses")
			}
			// the final exports are the same bytes
			fa, _ := os.ReadFile(a.Final)
			fb, _ := os.ReadFile(b.Final)
			if len(fa) == 0 || !bytes.Equal(fa, fb) {
				t.Fatal("final exports differ")
			}
			ra, _ := os.ReadFile(a.FinalRaw)
			rb, _ := os.ReadFile(b.FinalRaw)
			if len(ra) == 0 || !bytes.Equal(ra, rb) || bytes.Equal(ra, fa) {
				t.Fatal("raw exports differ, or equal the EMA export")
			}
			// the log of the resumed run holds all 8 steps once
			recs, err := ReadLog(filepath.Join(part.Out, LogFile))
			if err != nil || len(recs) != 8 || recs[7].Loss != a.Records[7].Loss {
				t.Fatalf("resumed log: %v, %d records", err, len(recs))
			}
			if len(notes) == 0 || !strings.Contains(strings.Join(notes, "\n"), "resum") {
				t.Fatalf("notes %q", notes)
			}
		})
	}
}

// A NaN loss or gradient skips the step (no update) and is counted; N in a
// row stop the run with ErrNonFinite and leave the last checkpoint intact.
func TestNonFinite(t *testing.T) {
	model := tinyModel(t)
	dataDir := shapesData(t, 12, 16)
	defer func() { testHooks.poison, testHooks.afterStep = nil, nil }()

	cfg := testConfig(t, model, dataDir, RADFull)
	cfg.BatchSize = 2
	cfg.Steps = 6
	testHooks.poison = func(step int) poison {
		switch step {
		case 3:
			return poisonLoss
		case 5:
			return poisonGrad
		}
		return poisonNone
	}
	var before [][]byte
	snapshot := func(tr *trainer) [][]byte {
		var out [][]byte
		for _, ts := range [][]*torch.Tensor{tr.params, tr.ema} {
			b, err := ts[0].Bytes()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}
	testHooks.afterStep = func(tr *trainer, r Record) {
		now := snapshot(tr)
		if r.Step == 3 || r.Step == 5 {
			if !r.Skipped || !bytes.Equal(now[0], before[0]) || !bytes.Equal(now[1], before[1]) {
				t.Errorf("step %d: skipped %v, weights changed", r.Step, r.Skipped)
			}
		} else if r.Skipped {
			t.Errorf("step %d skipped", r.Step)
		}
		before = now
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.NonFinite != 2 || !math.IsNaN(res.Records[2].Loss) || !math.IsInf(res.Records[4].GradNorm, 1) || res.Step != 6 {
		t.Fatalf("non-finite %d, records %+v", res.NonFinite, res.Records)
	}
	info, err := ReadCheckpoint(res.Checkpoint)
	if err != nil || info.OptimizerSteps != 4 || info.NonFinite != 2 {
		t.Fatalf("checkpoint %+v %v", info, err)
	}
	// the skipped steps are logged with null losses
	raw, _ := os.ReadFile(filepath.Join(cfg.Out, LogFile))
	if !bytes.Contains(raw, []byte(`"loss":null,"lr":0.0001,"grad_norm":null,"skipped":true`)) {
		t.Fatalf("log:\n%s", raw)
	}

	// three in a row stop the run
	testHooks.afterStep = nil
	cfg = testConfig(t, model, dataDir, RADFull)
	cfg.BatchSize = 2
	cfg.Steps = 20
	cfg.SaveEvery = 2
	cfg.MaxNonFinite = 3
	testHooks.poison = func(step int) poison {
		if step >= 4 {
			return poisonLoss
		}
		return poisonNone
	}
	res, err = Run(context.Background(), cfg)
	if err == nil || !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "intact") {
		t.Fatalf("run with NaN losses: %v", err)
	}
	t.Log(err)
	if res == nil || res.Step != 6 || res.NonFinite != 3 {
		t.Fatalf("result %+v", res)
	}
	cks, _ := Checkpoints(cfg.Out)
	for _, c := range cks {
		if _, err := ReadCheckpoint(c); err != nil {
			t.Fatal(err)
		}
	}
	if len(cks) == 0 || res.Checkpoint != cks[len(cks)-1] {
		t.Fatalf("checkpoints %v, result %s", cks, res.Checkpoint)
	}
}

// Cancelling the context stops between steps with a checkpoint of the last
// step done.
func TestCancelSavesCheckpoint(t *testing.T) {
	cfg := testConfig(t, tinyModel(t), shapesData(t, 8, 16), ADM)
	cfg.BatchSize = 2
	cfg.Steps = 100
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	testHooks.afterStep = func(tr *trainer, r Record) {
		if r.Step == 3 {
			cancel()
		}
	}
	defer func() { testHooks.afterStep = nil }()
	res, err := Run(ctx, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	info, err := ReadCheckpoint(res.Checkpoint)
	if err != nil || info.Step != 3 {
		t.Fatalf("checkpoint %+v %v", info, err)
	}
}

func TestConfigErrors(t *testing.T) {
	model := tinyModel(t)
	dataDir := shapesData(t, 4, 16)
	for name, mod := range map[string]func(c *Config){
		"rad-lora without base": func(c *Config) { c.Objective = RADLoRA; c.Base = "" },
		"no data":               func(c *Config) { c.Data = "" },
		"missing data":          func(c *Config) { c.Data = "/no/such/folder" },
		"objective":             func(c *Config) { c.Objective = "gan" },
		"steps":                 func(c *Config) { c.Steps = 0 },
		"ema":                   func(c *Config) { c.EMA = 1 },
		"lr":                    func(c *Config) { c.LR = 0 },
		"device":                func(c *Config) { c.Device = "cuda:7" },
		"missing base":          func(c *Config) { c.Base = "/no/such/base.pt" },
		"resume missing":        func(c *Config) { c.Resume = "latest" },
		"class labels from IDX": func(c *Config) { c.Model.NumClasses = 10; c.Data = writeIDX(t) },
		"phase-1 fraction":      func(c *Config) { c.PhaseOneFraction = 1.5 },
		"phase-1 fraction adm":  func(c *Config) { c.Objective = ADM; c.PhaseOneFraction = 0.5 },
		"phase-1 fraction rng":  func(c *Config) { c.RNG = RNGStream; c.PhaseOneFraction = 0.5 },
		"min-SNR gamma":         func(c *Config) { c.MinSNRGamma = -1 },
		"min-SNR gamma inf":     func(c *Config) { c.MinSNRGamma = math.Inf(1) },
	} {
		c := testConfig(t, model, dataDir, RADFull)
		mod(&c)
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// channel shuffle: refused for a gray model, kept in the checkpoint
	// and on resume for an RGB one
	c := testConfig(t, model, dataDir, RADFull)
	c.Model.InChannels, c.Model.OutChannels, c.Data, c.ChannelShuffle = 1, 2, writeIDX(t), true
	if _, err := Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "channel shuffle") {
		t.Fatalf("channel shuffle on a gray model: %v", err)
	}
	c = testConfig(t, model, dataDir, RADFull)
	c.Steps, c.SaveEvery, c.ChannelShuffle, c.MinSNRGamma = 2, 2, true, 5
	res, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	info, err := ReadCheckpoint(res.Checkpoint)
	if err != nil || !info.Config.ChannelShuffle || info.Config.MinSNRGamma != 5 {
		t.Fatalf("checkpoint config %+v: %v", info.Config, err)
	}
	c.ChannelShuffle, c.MinSNRGamma, c.Resume, c.Steps = false, 0, "latest", 3
	if _, err := Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if info, err = ReadCheckpoint(filepath.Join(c.Out, "ckpt-00000003.safetensors")); err != nil || !info.Config.ChannelShuffle || info.Config.MinSNRGamma != 5 {
		t.Fatalf("resumed checkpoint config %+v: %v", info.Config, err)
	}
}

// writeIDX writes a tiny IDX image file (4 gray 16x16 images).
func writeIDX(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "images.idx")
	b := []byte{0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 16, 0, 0, 0, 16}
	b = append(b, make([]byte, 4*16*16)...)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Class-conditional models get guided-diffusion's labels (file name
// prefixes before "_", numbered in sorted order).
func TestClassLabels(t *testing.T) {
	model := tinyModel(t)
	model.NumClasses = 3
	dir := shapesData(t, 6, 16)
	names, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	for i, n := range names {
		os.Rename(n, filepath.Join(dir, []string{"cat", "dog", "ant"}[i%3]+"_"+filepath.Base(n)))
	}
	cfg := testConfig(t, model, dir, ADM)
	cfg.BatchSize = 2
	cfg.Steps = 2
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if className("/x/n01440764_10026.JPEG") != "n01440764" || className("plain.png") != "plain.png" {
		t.Fatal("className")
	}
	model.NumClasses = 2
	cfg = testConfig(t, model, dir, ADM)
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "3 classes") {
		t.Fatalf("3 classes for a 2-class model: %v", err)
	}
}

func TestPlot(t *testing.T) {
	var buf bytes.Buffer
	steps := []int{1, 2, 3, 4, 5}
	if err := PlotLoss(&buf, steps, []float64{1, math.NaN(), 0.5, 0.2, 0.1}, false, "t"); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 800 || b.Dy() != 480 {
		t.Fatalf("plot of %v pixels, want 800x480", b)
	}
	for _, lin := range []bool{true, false} {
		buf.Reset()
		if err := PlotLoss(&buf, nil, nil, lin, "empty"); err != nil {
			t.Fatal(err)
		}
	}
}
