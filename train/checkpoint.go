package train

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/radinpaint/rad/torch"
)

// Checkpoint files. A checkpoint is one safetensors file
// ckpt-<step>.safetensors holding
//
//	param/<name>   the trained weights (rad-lora: adapters and
//	               time-embedding layers; rad-full, adm: every weight)
//	ema/<name>     their EMA (when on)
//	optim/<name>   AdamW's exp_avg.<i> and exp_avg_sq.<i>
//	rng/<name>     every torch generator's state (uint8)
//
// and, in the metadata, "format" = "rad-train-checkpoint", "config" (the
// run's Config as JSON) and "state" (step, optimizer step count, data
// loader position, counters, as JSON). Beside it, each checkpoint exports
// adapter-<step>.safetensors (rad-lora, for radctl infer --lora) or
// model-<step>.safetensors (rad-full, adm: a model radmodel.Load reads),
// from the EMA weights when EMA is on, and then also adapter-raw-<step> or
// model-raw-<step> from the raw weights.
const (
	ckptFormat  = "rad-train-checkpoint"
	ckptPrefix  = "ckpt-"
	ckptSuffix  = ".safetensors"
	stepDigits  = 8
	metaFormat  = "format"
	metaConfig  = "config"
	metaState   = "state"
	groupParam  = "param/"
	groupEMA    = "ema/"
	groupOptim  = "optim/"
	groupRNG    = "rng/"
	exportLoRA  = "adapter-"
	exportModel = "model-"
	// rawInfix names the raw weights' exports: adapter-raw-<step>,
	// model-raw-<step> (EMA on)
	rawInfix = "raw-"
)

var ckptName = regexp.MustCompile(`^(ckpt|adapter|model|adapter-raw|model-raw)-(\d+)\.safetensors$`)

// stepFile is e.g. ckpt-00001000.safetensors.
func stepFile(prefix string, step int) string {
	return fmt.Sprintf("%s%0*d%s", prefix, stepDigits, step, ckptSuffix)
}

// trainState is the checkpoint's "state" metadata.
type trainState struct {
	Step           int      `json:"step"`
	OptimizerSteps int64    `json:"optimizer_steps"`
	DataPosition   int      `json:"data_position"`
	NonFinite      int      `json:"nonfinite_steps"`
	Consecutive    int      `json:"consecutive_nonfinite"`
	SkippedFiles   int      `json:"skipped_files"`
	Trainable      []string `json:"trainable"`
	Generators     []string `json:"generators"`
}

// CheckpointInfo is what ReadCheckpoint tells about a checkpoint.
type CheckpointInfo struct {
	Path string
	// Step is the number of optimizer steps done.
	Step int
	// Config is the run's configuration.
	Config Config
	// DataPosition is the data loader's batch position to resume at.
	DataPosition int
	// OptimizerSteps is AdamW's step count (steps skipped as non-finite
	// do not count).
	OptimizerSteps int64
	// NonFinite is the number of steps skipped so far.
	NonFinite int
	// Trainable names the trained tensors; HasEMA says whether their EMA
	// is saved.
	Trainable []string
	HasEMA    bool
	// Tensors is the number of tensors in the file.
	Tensors int

	state trainState
}

// ReadCheckpoint reads and checks a checkpoint: metadata, and every tensor
// the state names (so a truncated or half-written file is refused).
func ReadCheckpoint(path string) (*CheckpointInfo, error) {
	s := torch.NewNoGradScope()
	defer s.Close()
	info, _, err := loadCheckpoint(s, path)
	return info, err
}

// loadCheckpoint reads a checkpoint into s.
func loadCheckpoint(s *torch.Scope, path string) (*CheckpointInfo, *torch.StateDict, error) {
	sd, err := torch.LoadSafetensors(s, path)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: %w", err)
	}
	str := func(k string) string { v, _ := sd.Meta[k].(string); return v }
	if f := str(metaFormat); f != ckptFormat {
		return nil, nil, fmt.Errorf("checkpoint %s: format %q, not a training checkpoint (%s)", path, f, ckptFormat)
	}
	info := &CheckpointInfo{Path: path, Tensors: len(sd.Keys)}
	if err := json.Unmarshal([]byte(str(metaConfig)), &info.Config); err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: bad config metadata: %w", path, err)
	}
	if err := json.Unmarshal([]byte(str(metaState)), &info.state); err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: bad state metadata: %w", path, err)
	}
	st := info.state
	info.Step, info.DataPosition, info.OptimizerSteps = st.Step, st.DataPosition, st.OptimizerSteps
	info.NonFinite, info.Trainable = st.NonFinite, st.Trainable
	info.HasEMA = info.Config.EMA > 0
	var missing []string
	need := func(k string) {
		if sd.Get(k) == nil {
			missing = append(missing, k)
		}
	}
	for _, n := range st.Trainable {
		need(groupParam + n)
		if info.HasEMA {
			need(groupEMA + n)
		}
	}
	for i := range st.Trainable {
		need(groupOptim + "exp_avg." + strconv.Itoa(i))
		need(groupOptim + "exp_avg_sq." + strconv.Itoa(i))
	}
	for _, g := range st.Generators {
		need(groupRNG + g)
	}
	if len(missing) > 0 || len(st.Trainable) == 0 {
		return nil, nil, fmt.Errorf("checkpoint %s: incomplete: %d of its tensors are missing (%s)", path, len(missing), firstFew(missing))
	}
	return info, sd, nil
}

func firstFew(v []string) string {
	if len(v) > 3 {
		return strings.Join(v[:3], ", ") + ", ..."
	}
	return strings.Join(v, ", ")
}

// Checkpoints lists the checkpoint files of a folder, oldest (lowest
// step) first. Temporary files of interrupted saves are not listed.
func Checkpoints(dir string) ([]string, error) {
	steps, err := listSteps(dir, "ckpt")
	if err != nil {
		return nil, err
	}
	out := make([]string, len(steps))
	for i, st := range steps {
		out[i] = filepath.Join(dir, stepFile(ckptPrefix, st))
	}
	return out, nil
}

// listSteps returns the steps of the files kind-<step>.safetensors in dir,
// sorted.
func listSteps(dir, kind string) ([]int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var steps []int
	for _, e := range entries {
		m := ckptName.FindStringSubmatch(e.Name())
		if m == nil || m[1] != kind || !e.Type().IsRegular() {
			continue
		}
		n, err := strconv.Atoi(m[2])
		if err == nil {
			steps = append(steps, n)
		}
	}
	sort.Ints(steps)
	return steps, nil
}

// prune removes all but the newest keep checkpoints (keep < 0: none) and
// every export whose checkpoint is gone.
func prune(dir string, keep int) error {
	if keep < 0 {
		return nil
	}
	steps, err := listSteps(dir, "ckpt")
	if err != nil {
		return err
	}
	kept := map[int]bool{}
	for i, st := range steps {
		if i >= len(steps)-keep {
			kept[st] = true
			continue
		}
		if err := os.Remove(filepath.Join(dir, stepFile(ckptPrefix, st))); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	for _, kind := range []string{"adapter", "model", "adapter-raw", "model-raw"} {
		es, err := listSteps(dir, kind)
		if err != nil {
			return err
		}
		for _, st := range es {
			if !kept[st] {
				if err := os.Remove(filepath.Join(dir, stepFile(kind+"-", st))); err != nil && !os.IsNotExist(err) {
					return err
				}
			}
		}
	}
	return nil
}

// removeStaleTemps deletes the temporary files interrupted saves of this
// package's files left in dir (atomicfile's ".<name>.tmp-*").
func removeStaleTemps(dir string) {
	for _, pat := range []string{".ckpt-*.tmp-*", ".adapter-*.tmp-*", ".model-*.tmp-*", ".loss.png.tmp-*",
		".train.jsonl.tmp-*", ".config.json.tmp-*", ".adapter.safetensors.tmp-*", ".model.safetensors.tmp-*"} {
		ms, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, m := range ms {
			os.Remove(m)
		}
	}
}

// saveHook, set by tests, wraps the writer of a checkpoint file (to slow
// it down so that a kill lands in the middle of a save).
var saveHook func(path string, w io.Writer) io.Writer

// writeSafetensors writes tensors as safetensors, atomically (temporary
// file, fsync, rename: a crash leaves the previous file or none), one
// tensor at a time so that only one host copy is alive.
func writeSafetensors(path string, names []string, ts []*torch.Tensor, meta map[string]string) error {
	var wrap func(io.Writer) io.Writer
	if saveHook != nil {
		wrap = func(w io.Writer) io.Writer { return saveHook(path, w) }
	}
	if err := torch.SaveSafetensorsWith(path, names, ts, meta, wrap); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}
