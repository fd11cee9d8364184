package radmodel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/radinpaint/rad/torch"
)

// Load reads the weights of the model cfg describes from path and places
// them on dev with model dtype dt (float32, float16 or bfloat16; see UNet
// for which tensors stay float32). The file's format is judged from its
// content, not its name: a torch.save state dict (zip or legacy; any float
// dtype, e.g. the released fp16 checkpoints), a TorchScript archive of the
// model (its parameters are read), or safetensors. A state dict wrapped in
// a dict (e.g. {"state_dict": ...}) or saved from DataParallel ("module.")
// is unwrapped.
//
// Every key is checked: missing keys, unexpected keys and shape mismatches
// give one error naming the file and the config.
func Load(path string, cfg Config, dev torch.Device, dt torch.DType) (*UNet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("radmodel: load %s: %w", path, err)
	}
	tmp := torch.NewNoGradScope()
	defer tmp.Close()
	sd, _, err := ReadWeights(tmp, path)
	if err != nil {
		return nil, err
	}
	return FromStateDict(sd, cfg, dev, dt, path)
}

// LoadSafetensorsBytes builds a model from the bytes of a safetensors file
// (e.g. weights embedded with go:embed; name names them in errors), on dev
// with model dtype dt. The config is the one saved in the file's metadata
// by SaveSafetensors ("radmodel.config"); every key is checked as Load
// does.
func LoadSafetensorsBytes(name string, raw []byte, dev torch.Device, dt torch.DType) (*UNet, error) {
	tmp := torch.NewNoGradScope()
	defer tmp.Close()
	sd, err := torch.LoadSafetensorsBytes(tmp, name, raw)
	if err != nil {
		return nil, fmt.Errorf("radmodel: %w", err)
	}
	js, _ := sd.Meta[metaConfigKey].(string)
	if js == "" {
		return nil, fmt.Errorf("radmodel: %s has no %s metadata: give its config", name, metaConfigKey)
	}
	var cfg Config
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		return nil, fmt.Errorf("radmodel: %s: bad %s metadata: %w", name, metaConfigKey, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("radmodel: %s: %w", name, err)
	}
	return FromStateDict(sd, cfg, dev, dt, name)
}

// ReadWeights reads the tensors of a checkpoint (any supported format)
// into s, on the CPU, keys in file order, and tells the format.
func ReadWeights(s *torch.Scope, path string) (*torch.StateDict, torch.FileKind, error) {
	kind, err := torch.DetectFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, kind, fmt.Errorf("radmodel: checkpoint %s does not exist", path)
		}
		return nil, kind, fmt.Errorf("radmodel: checkpoint %s: cannot read: %w", path, unprefix(err, path))
	}
	var sd *torch.StateDict
	switch kind {
	case torch.KindTorchZip, torch.KindTorchLegacy:
		sd, err = torch.LoadPT(s, path)
	case torch.KindSafetensors:
		sd, err = torch.LoadSafetensors(s, path)
	case torch.KindTorchScript:
		sd, err = readTorchScript(s, path)
	default:
		return nil, kind, fmt.Errorf("radmodel: checkpoint %s: %s, not a model file (want a torch.save state dict, "+
			"a TorchScript archive or safetensors)", path, sniff(path))
	}
	if err != nil {
		return nil, kind, fmt.Errorf("radmodel: checkpoint %s (%s): %w", path, kind, unprefix(err, path))
	}
	return sd, kind, nil
}

// unprefix drops a leading "checkpoint PATH: " that torch's loaders add,
// since our messages name the file already.
func unprefix(err error, path string) error {
	msg := err.Error()
	for _, p := range []string{"checkpoint " + path + ": ", "safetensors " + path + ": ", "torchscript " + path + ": ", path + ": "} {
		if strings.HasPrefix(msg, p) {
			return fmt.Errorf("%s", strings.TrimPrefix(msg, p))
		}
	}
	return err
}

func readTorchScript(s *torch.Scope, path string) (*torch.StateDict, error) {
	mod, err := torch.LoadModule(path, torch.CPU)
	if err != nil {
		return nil, err
	}
	defer mod.Close()
	names, ts, err := mod.Named(s, false)
	if err != nil {
		return nil, err
	}
	sd := &torch.StateDict{Tensors: map[string]*torch.Tensor{}, Meta: map[string]any{}}
	for i, n := range names {
		if _, dup := sd.Tensors[n]; !dup {
			sd.Keys = append(sd.Keys, n)
		}
		sd.Tensors[n] = ts[i]
	}
	return sd, nil
}

// sniff names what an unrecognised file looks like.
func sniff(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unreadable"
	}
	defer f.Close()
	head := make([]byte, 16)
	n, _ := io.ReadFull(f, head)
	return sniffBytes(head[:n])
}

// sniffBytes names what a file starting with head looks like.
func sniffBytes(head []byte) string {
	switch {
	case len(head) == 0:
		return "an empty file"
	case bytes.HasPrefix(head, []byte("\x89PNG")):
		return "a PNG image"
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		return "a JPEG image"
	case bytes.HasPrefix(head, []byte("\x1f\x8b")):
		return "a gzip file"
	case bytes.HasPrefix(head, []byte("{")) || bytes.HasPrefix(head, []byte("[")):
		return "a JSON/text file"
	case bytes.HasPrefix(head, []byte("<")):
		return "an HTML/XML file (a download error page?)"
	}
	return fmt.Sprintf("an unknown format (starts with %q)", head)
}

// anchorKey is present in every ADM state dict.
const anchorKey = "time_embed.0.weight"

// unwrap finds the model's keys inside a wrapped state dict: keys under
// "state_dict.", "model.", "module.", "ema." and the like.
func unwrap(sd *torch.StateDict) *torch.StateDict {
	if _, ok := sd.Tensors[anchorKey]; ok {
		return sd
	}
	prefix := ""
	for _, k := range sd.Keys {
		if strings.HasSuffix(k, "."+anchorKey) {
			prefix = strings.TrimSuffix(k, anchorKey)
			break
		}
	}
	if prefix == "" {
		return sd
	}
	out := &torch.StateDict{Tensors: map[string]*torch.Tensor{}, Meta: sd.Meta}
	for _, k := range sd.Keys {
		if strings.HasPrefix(k, prefix) {
			nk := strings.TrimPrefix(k, prefix)
			out.Keys = append(out.Keys, nk)
			out.Tensors[nk] = sd.Tensors[k]
		}
	}
	return out
}

// FromStateDict builds a model from tensors already read (e.g. by
// ReadWeights). source names them in errors. The tensors are copied (or
// shared when already on dev in the right dtype); sd keeps its own.
func FromStateDict(sd *torch.StateDict, cfg Config, dev torch.Device, dt torch.DType, source string) (*UNet, error) {
	m, err := newUNet(cfg, dev, dt)
	if err != nil {
		return nil, fmt.Errorf("radmodel: load %s: %w", source, err)
	}
	sd = unwrap(sd)
	if err := m.checkKeys(sd, source); err != nil {
		m.Close()
		return nil, err
	}
	tmp := torch.NewNoGradScope()
	defer tmp.Close()
	for _, s := range m.specs {
		t := sd.Tensors[s.Key]
		p := tmp.Detach(tmp.ToDevice(t, dev, m.paramDType(s)))
		if err := tmp.Err(); err != nil {
			m.Close()
			return nil, fmt.Errorf("radmodel: load %s: tensor %q to %s %s: %w", source, s.Key, dev, m.paramDType(s), err)
		}
		m.params[s.Key] = m.scope.Adopt(p)
	}
	return m, nil
}

// shapeMismatch is one key whose file shape (or dtype) differs.
type shapeMismatch struct {
	key        string
	file, want []int64
	dtype      torch.DType
}

// checkKeys compares sd with the config's state dict, all keys at once.
func (m *UNet) checkKeys(sd *torch.StateDict, source string) error {
	want := make(map[string]bool, len(m.specs))
	var missing []string
	var bad []shapeMismatch
	for _, s := range m.specs {
		want[s.Key] = true
		t, ok := sd.Tensors[s.Key]
		switch {
		case !ok || t == nil:
			missing = append(missing, s.Key)
		case !slices.Equal(t.Shape(), s.Shape):
			bad = append(bad, shapeMismatch{key: s.Key, file: t.Shape(), want: s.Shape})
		case !t.DType().IsFloat():
			bad = append(bad, shapeMismatch{key: s.Key, file: t.Shape(), want: s.Shape, dtype: t.DType()})
		}
	}
	var unexpected []string
	for _, k := range sd.Keys {
		if !want[k] {
			unexpected = append(unexpected, k)
		}
	}
	if len(missing)+len(unexpected)+len(bad) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "radmodel: checkpoint %s does not match the config (%s): %d of %d keys fit",
		source, m.cfg.Short(), len(m.specs)-len(missing)-len(bad), len(m.specs))
	const show = 5
	list := func(what, sep string, items []string) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n  %d %s: %s", len(items), what, strings.Join(items[:min(show, len(items))], sep))
		if len(items) > show {
			fmt.Fprintf(&b, "%s... (%d more)", sep, len(items)-show)
		}
	}
	list("missing keys", ", ", missing)
	list("unexpected keys", ", ", unexpected)
	ms := make([]string, len(bad))
	for i, x := range bad {
		if x.dtype != 0 && slices.Equal(x.file, x.want) {
			ms[i] = fmt.Sprintf("%s is %s, not a float tensor", x.key, x.dtype)
		} else {
			ms[i] = fmt.Sprintf("%s: file %v, config %v", x.key, x.file, x.want)
		}
	}
	list("shape mismatches", "; ", ms)
	shapes := make(map[string][]int64, len(sd.Keys))
	for _, k := range sd.Keys {
		if t := sd.Tensors[k]; t.Valid() {
			shapes[k] = t.Shape()
		}
	}
	if r := InspectShapes(sd.Keys, shapes); r.Recognised {
		fmt.Fprintf(&b, "\n  the file looks like: %s", r.Guess())
	}
	return fmt.Errorf("%s", b.String())
}

// NewRandom makes a model with random weights drawn from a generator
// seeded with seed, as the reference fixtures were: conv and linear
// weights N(0, (g/sqrt(fan_in))^2) with g = 1, or 0.5 for the layers
// guided-diffusion zero-initialises (out_layers.3, proj_out, out.2);
// biases N(0, 0.05^2); GroupNorm weights 1 + N(0, 0.1^2), biases
// N(0, 0.05^2); the label embedding N(0, 0.5^2). (The draws do not
// reproduce the fixtures' values.) For tests and benchmarks.
func NewRandom(cfg Config, dev torch.Device, dt torch.DType, seed uint64) (*UNet, error) {
	m, err := newUNet(cfg, dev, dt)
	if err != nil {
		return nil, err
	}
	g := torch.NewGenerator(seed)
	defer g.Close()
	tmp := torch.NewNoGradScope()
	defer tmp.Close()
	for _, s := range m.specs {
		var mean, std float64
		switch s.kind {
		case kindWeight:
			gain := 1.0
			if s.zero {
				gain = 0.5
			}
			std = gain / math.Sqrt(float64(numel(s.Shape[1:])))
		case kindBias, kindNormB:
			std = 0.05
		case kindNormW:
			mean, std = 1, 0.1
		case kindEmbedding:
			std = 0.5
		}
		r := tmp.Normal(g, mean, std, torch.Float32, torch.CPU, s.Shape...)
		p := tmp.ToDevice(r, dev, m.paramDType(s))
		if err := tmp.Err(); err != nil {
			m.Close()
			return nil, fmt.Errorf("radmodel: random init of %q: %w", s.Key, err)
		}
		free(r)
		m.params[s.Key] = m.scope.Adopt(p)
	}
	return m, nil
}

// weights returns the keys and tensors in state_dict() order.
func (m *UNet) weights() ([]string, []*torch.Tensor, error) {
	keys := m.Keys()
	ts := make([]*torch.Tensor, len(keys))
	for i, k := range keys {
		ts[i] = m.params[k]
		if !ts[i].Valid() {
			return nil, nil, fmt.Errorf("radmodel: parameter %q is missing or freed", k)
		}
	}
	return keys, ts, nil
}

// metaConfigKey is the safetensors metadata entry holding the config.
const metaConfigKey = "radmodel.config"

// SaveSafetensors writes the weights (state-dict keys, stored dtypes) as
// safetensors, atomically. The header's metadata holds the config as JSON
// under "radmodel.config".
func (m *UNet) SaveSafetensors(path string) error {
	return m.SaveSafetensorsAs(path, m.dt)
}

// SaveSafetensorsAs is SaveSafetensors with every floating-point weight
// stored as dt (float16 halves a float32 model's file; loading converts
// back to the dtype asked for).
func (m *UNet) SaveSafetensorsAs(path string, dt torch.DType) error {
	keys, ts, err := m.weights()
	if err != nil {
		return err
	}
	if dt != m.dt {
		if dt != torch.Float32 && dt != torch.Float16 && dt != torch.BFloat16 {
			return fmt.Errorf("radmodel: save %s: dtype %s, want float32, float16 or bfloat16", path, dt)
		}
		s := torch.NewNoGradScope()
		defer s.Close()
		conv := make([]*torch.Tensor, len(ts))
		for i, t := range ts {
			conv[i] = t
			if t.DType().IsFloat() {
				conv[i] = s.To(t, dt)
			}
		}
		if err := s.Err(); err != nil {
			return fmt.Errorf("radmodel: save %s: %w", path, err)
		}
		ts = conv
	}
	cj, err := json.Marshal(m.cfg)
	if err != nil {
		return err
	}
	meta := map[string]string{"format": "pt", metaConfigKey: string(cj)}
	if err := torch.SaveSafetensors(path, keys, ts, meta); err != nil {
		return fmt.Errorf("radmodel: %w", err)
	}
	return nil
}

// SaveStateDict writes the weights as a torch.save file (a dict with the
// state-dict keys) that Python's torch.load and Load read.
func (m *UNet) SaveStateDict(path string) error {
	keys, ts, err := m.weights()
	if err != nil {
		return err
	}
	if err := torch.SavePT(path, keys, ts); err != nil {
		return fmt.Errorf("radmodel: %w", err)
	}
	return nil
}

// sortedKeys returns the keys of a map, sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
