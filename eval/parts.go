package eval

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/radinpaint/rad/infer"
	"github.com/radinpaint/rad/radmodel/masks"
	"github.com/radinpaint/rad/torch"
)

// Resumable evaluation (RunConfig.Parts): every finished batch's results
// are kept in a safetensors file named after its mask kind and data set
// indices, with a key over everything that made them in its metadata. A
// later Run reuses a file whose key matches and samples the batch again
// otherwise (a missing, stale or unreadable file is never an error).

// Safetensors metadata keys and tensor name of a part file.
const (
	partKey     = "rad.eval.key"
	partSeconds = "rad.eval.seconds_per_image"
	partCalls   = "rad.eval.calls"
	partTensor  = "results"
)

// partsKeyBase is the part of a batch key shared by every batch of a run:
// the model's fingerprint, its device type, the method and its settings,
// the seeds.
func partsKeyBase(cfg *RunConfig, sm *sampler) (string, error) {
	fp := "none"
	if cfg.Model != nil {
		var err error
		if fp, err = cfg.Model.Fingerprint(); err != nil {
			return "", fmt.Errorf("eval: run: %w", err)
		}
	}
	// the sampling code's version: batches sampled by older code are
	// sampled again
	key := fmt.Sprintf("sampler code %d; model %s on %s; method %s steps %d eta %v scalar %v jump %d x %d; chain %d %s offset %v; seed %d mask seed %d",
		infer.SamplerVersion, fp, devType(sm), cfg.Method, cfg.Steps, cfg.Eta, cfg.ScalarEmbedding, cfg.JumpLength, cfg.JumpNSample,
		cfg.DiffusionSteps, cfg.NoiseSchedule, cfg.TimestepOffset, cfg.Seed, cfg.MaskSeed)
	if cfg.Resample > 1 {
		// only resampled runs name it (and its code's version): the keys of
		// plain runs are those they always were
		key += fmt.Sprintf("; resample %d (code %d)", cfg.Resample, infer.ResampleVersion)
	}
	return key, nil
}

// partKeyOf is one batch's key: the run's base, the mask kind, the data
// set indices, and the bytes of the batch's images, masks and labels.
func partKeyOf(base string, kind masks.Kind, first, n int, x0, m []float32, labels []int64) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s; masks %s; images %d..%d\n", base, kind, first, first+n-1)
	// Little-endian IEEE bits of each float32, then each int64
	// (binary.Write on a slice writes it in one call; a hash.Hash never
	// returns an error).
	binary.Write(h, binary.LittleEndian, x0)
	binary.Write(h, binary.LittleEndian, m)
	binary.Write(h, binary.LittleEndian, labels)
	return hex.EncodeToString(h.Sum(nil))
}

// partPath is the file of images first..first+n-1 under kind.
func partPath(dir string, kind masks.Kind, first, n int) string {
	return filepath.Join(dir, fmt.Sprintf("%s-%06d-%06d.safetensors", kind, first, first+n-1))
}

// part is a kept batch.
type part struct {
	results       []float32
	secondsPerImg float64
	calls         int64
	reused        bool // read back, not sampled
}

// loadPart reads a kept batch; ok is false when the file is missing,
// unreadable, of another shape or made under another key.
func loadPart(path, key string, shape []int64) (part, bool) {
	if _, err := os.Stat(path); err != nil {
		return part{}, false
	}
	s := torch.NewNoGradScope()
	defer s.Close()
	d, err := torch.LoadSafetensors(s, path)
	if err != nil || d.Meta[partKey] != key {
		return part{}, false
	}
	t := d.Get(partTensor)
	if t == nil || t.DType() != torch.Float32 || fmt.Sprint(t.Shape()) != fmt.Sprint(shape) {
		return part{}, false
	}
	v, err := t.Float32s()
	if err != nil {
		return part{}, false
	}
	secs, err1 := strconv.ParseFloat(fmt.Sprint(d.Meta[partSeconds]), 64)
	calls, err2 := strconv.ParseInt(fmt.Sprint(d.Meta[partCalls]), 10, 64)
	if err1 != nil || err2 != nil {
		return part{}, false
	}
	return part{results: v, secondsPerImg: secs, calls: calls}, true
}

// savePart keeps a finished batch (atomically).
func savePart(path, key string, shape []int64, p part) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("eval: run: %w", err)
	}
	s := torch.NewNoGradScope()
	defer s.Close()
	t := torch.FromSlice(s, p.results, shape...)
	if err := s.Err(); err != nil {
		return fmt.Errorf("eval: run: %w", err)
	}
	meta := map[string]string{partKey: key,
		partSeconds: strconv.FormatFloat(p.secondsPerImg, 'g', -1, 64),
		partCalls:   strconv.FormatInt(p.calls, 10)}
	if err := torch.SaveSafetensors(path, []string{partTensor}, []*torch.Tensor{t}, meta); err != nil {
		return fmt.Errorf("eval: run: keep batch: %w", err)
	}
	return nil
}

// devType names the sampler's device type (results on CPU and CUDA are
// not bit-equal).
func devType(sm *sampler) string {
	if sm.dev.IsCUDA() {
		return "cuda"
	}
	return "cpu"
}
