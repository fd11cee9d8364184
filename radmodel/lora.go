package radmodel

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/radinpaint/rad/torch"
)

// LoRA target groups (docs/DESIGN.md §3.3). "qkv" puts three adapters on the q, k
// and v slices of each attention block's fused qkv convolution.
const (
	TargetInput   = "input"    // input_blocks.0.0
	TargetOutput  = "output"   // out.2
	TargetResConv = "resblock" // in_layers.2 and out_layers.3 of every ResBlock
	TargetQKV     = "qkv"      // q, k, v of every attention block
	TargetProj    = "proj"     // proj_out of every attention block
)

// DefaultTargets are every LoRA target of the paper's setup.
var DefaultTargets = []string{TargetInput, TargetOutput, TargetResConv, TargetQKV, TargetProj}

// LoRAConfig sets the adapters' rank r, alpha (scale alpha/r) and targets.
type LoRAConfig struct {
	Rank    int
	Alpha   float64
	Targets []string
}

// DefaultLoRA is rank 16, alpha 16, every target.
var DefaultLoRA = LoRAConfig{Rank: 16, Alpha: 16, Targets: DefaultTargets}

// loraSlice is one low-rank update W += scale * B A of a conv's output
// channels given by rows (all of them when rows is nil). A has the base
// conv's kernel, stride and padding; B is a 1x1 conv.
type loraSlice struct {
	name string // tensor names are name+".A" and name+".B"
	a, b *torch.Tensor
	rows []int64 // output channels of the base conv this slice updates
}

// loraAdapter is every slice on one conv (one, or q/k/v for qkv).
type loraAdapter struct {
	conv   *conv
	slices []*loraSlice
}

// lora is a model's set of adapters.
type lora struct {
	cfg      LoRAConfig
	scale    float64
	adapters map[string]*loraAdapter // by conv key
	order    []string
	scope    *torch.Scope
}

// targetConvs lists the convs a target group covers, in model order, with
// the attention blocks for qkv.
func (n *network) targetConvs(targets []string) ([]*conv, []*attentionBlock, error) {
	want := map[string]bool{}
	for _, t := range targets {
		switch t {
		case TargetInput, TargetOutput, TargetResConv, TargetQKV, TargetProj:
			want[t] = true
		default:
			return nil, nil, fmt.Errorf("unknown LoRA target %q (want %s)", t, strings.Join(DefaultTargets, ", "))
		}
	}
	var convs []*conv
	var attn []*attentionBlock
	visit := func(l layer) {
		switch b := l.(type) {
		case *resBlock:
			if want[TargetResConv] {
				convs = append(convs, b.inConv, b.outConv)
			}
		case *attentionBlock:
			if want[TargetQKV] {
				convs = append(convs, b.qkv)
				attn = append(attn, b)
			}
			if want[TargetProj] {
				convs = append(convs, b.projOut)
			}
		case *conv:
			if want[TargetInput] && b.key == "input_blocks.0.0" {
				convs = append(convs, b)
			}
		}
	}
	for _, blk := range n.inputBlocks {
		for _, l := range blk.layers {
			visit(l)
		}
	}
	for _, l := range n.middleBlock.layers {
		visit(l)
	}
	for _, blk := range n.outputBlocks {
		for _, l := range blk.layers {
			visit(l)
		}
	}
	if want[TargetOutput] {
		convs = append(convs, n.outConv)
	}
	return convs, attn, nil
}

// qkvRows returns the output channels of q, k and v in a fused qkv conv of
// ch channels and the given heads: the new order chunks q|k|v first; the
// legacy order interleaves them per head ([q_h, k_h, v_h] for each head).
func qkvRows(ch, heads int64, newOrder bool) [3][]int64 {
	var rows [3][]int64
	hc := ch / heads
	for part := int64(0); part < 3; part++ {
		for h := int64(0); h < heads; h++ {
			for c := int64(0); c < hc; c++ {
				if newOrder {
					rows[part] = append(rows[part], part*ch+h*hc+c)
				} else {
					rows[part] = append(rows[part], h*3*hc+part*hc+c)
				}
			}
		}
	}
	return rows
}

// AddLoRA attaches fresh adapters (A ~ N(0, 1/r), B = 0, so the model's
// output is unchanged) drawn from g.
func (m *UNet) AddLoRA(cfg LoRAConfig, g *torch.Generator) error {
	if m.lora != nil {
		return fmt.Errorf("radmodel: the model already has LoRA adapters")
	}
	if cfg.Rank < 1 || cfg.Alpha <= 0 {
		return fmt.Errorf("radmodel: LoRA rank %d and alpha %g must be positive", cfg.Rank, cfg.Alpha)
	}
	if len(cfg.Targets) == 0 {
		cfg.Targets = DefaultTargets
	}
	convs, attn, err := m.net.targetConvs(cfg.Targets)
	if err != nil {
		return err
	}
	qkvOf := map[*conv]*attentionBlock{}
	for _, a := range attn {
		qkvOf[a.qkv] = a
	}
	l := &lora{cfg: cfg, scale: cfg.Alpha / float64(cfg.Rank), adapters: map[string]*loraAdapter{}, scope: torch.NewNoGradScope()}
	r := int64(cfg.Rank)
	std := 1 / math.Sqrt(float64(cfg.Rank))
	for _, cv := range convs {
		ad := &loraAdapter{conv: cv}
		kshape := []int64{cv.k}
		if cv.dims == 2 {
			kshape = append(kshape, cv.k)
		}
		newSlice := func(name string, rows []int64, out int64) {
			a := l.scope.Normal(g, 0, std, torch.Float32, torch.CPU, append([]int64{r, cv.in}, kshape...)...)
			b := l.scope.Zeros(torch.Float32, torch.CPU, append([]int64{out, r}, ones(len(kshape))...)...)
			ad.slices = append(ad.slices, &loraSlice{name: name, a: l.scope.ToDevice(a, m.dev, torch.Float32),
				b: l.scope.ToDevice(b, m.dev, torch.Float32), rows: rows})
		}
		if at, ok := qkvOf[cv]; ok {
			rows := qkvRows(at.ch, at.heads, at.newOrder)
			for i, p := range []string{"q", "k", "v"} {
				newSlice(cv.key+"."+p, rows[i], at.ch)
			}
		} else {
			newSlice(cv.key, nil, cv.out)
		}
		l.adapters[cv.key] = ad
		l.order = append(l.order, cv.key)
	}
	if err := l.scope.Err(); err != nil {
		l.scope.Close()
		return fmt.Errorf("radmodel: LoRA init: %w", err)
	}
	m.lora = l
	return nil
}

func ones(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

// HasLoRA reports whether adapters are attached.
func (m *UNet) HasLoRA() bool { return m.lora != nil }

// loraDelta is the adapters' contribution to conv cv's output for input x
// (nil when cv has none): scale * B(A(x)), placed at its output rows.
func (m *UNet) loraDelta(c *torch.Scope, cv *conv, x *torch.Tensor) *torch.Tensor {
	if m.lora == nil {
		return nil
	}
	ad := m.lora.adapters[cv.key]
	if ad == nil {
		return nil
	}
	o := torch.ConvOpts{Stride: cv.stride, Padding: cv.pad}
	var parts []*torch.Tensor
	for _, sl := range ad.slices {
		a, b := sl.a, sl.b
		if x.DType() != torch.Float32 {
			a, b = c.To(a, x.DType()), c.To(b, x.DType())
		}
		var h *torch.Tensor
		if cv.dims == 1 {
			h = c.Conv1d(c.Conv1d(x, a, nil, o), b, nil, torch.ConvOpts{})
		} else {
			h = c.Conv2d(c.Conv2d(x, a, nil, o), b, nil, torch.ConvOpts{})
		}
		parts = append(parts, h)
	}
	var d *torch.Tensor
	if len(parts) == 1 {
		d = parts[0]
	} else {
		// scatter q, k, v back to their rows of the fused output
		cat := c.Cat(1, parts...)
		var rows []int64
		for _, sl := range ad.slices {
			rows = append(rows, sl.rows...)
		}
		d = c.IndexSelect(cat, 1, torch.FromSliceOn(c, x.Device(), inversePerm(rows)))
	}
	return c.MulScalar(d, m.lora.scale)
}

// inversePerm returns q with q[rows[i]] = i.
func inversePerm(rows []int64) []int64 {
	q := make([]int64, len(rows))
	for i, r := range rows {
		q[r] = int64(i)
	}
	return q
}

// trainableEmbedding reports whether a key belongs to the time-embedding
// layers RAD trains fully (time_embed.* and every emb_layers.*).
func trainableEmbedding(key string) bool {
	return strings.HasPrefix(key, "time_embed.") || strings.Contains(key, ".emb_layers.")
}

// TrainableParams returns what LoRA fine-tuning trains: every adapter
// tensor ("lora.<conv>[.q|.k|.v].A/.B") and the time-embedding layers
// (time_embed.*, every emb_layers.*), all set to require grad. The base's
// other weights are frozen.
func (m *UNet) TrainableParams() ([]string, []*torch.Tensor, error) {
	if m.lora == nil {
		return nil, nil, fmt.Errorf("radmodel: no LoRA adapters (call AddLoRA)")
	}
	names, ts := m.adapterTensors()
	for i, t := range ts {
		if err := t.SetRequiresGrad(true); err != nil {
			return nil, nil, fmt.Errorf("radmodel: %s: %w", names[i], err)
		}
	}
	return names, ts, nil
}

// SetAllTrainable makes every weight require grad (full fine-tuning) and
// returns them in state-dict order.
func (m *UNet) SetAllTrainable() ([]string, []*torch.Tensor, error) {
	names := m.Keys()
	ts := make([]*torch.Tensor, len(names))
	for i, k := range names {
		ts[i] = m.params[k]
		if err := ts[i].SetRequiresGrad(true); err != nil {
			return nil, nil, fmt.Errorf("radmodel: %s: %w", k, err)
		}
	}
	return names, ts, nil
}

// MergeLoRA adds every adapter's update into its base weight
// (W += scale * B A, per slice) and drops the adapters: the merged model
// computes the same outputs without them.
func (m *UNet) MergeLoRA() error {
	if m.lora == nil {
		return fmt.Errorf("radmodel: no LoRA adapters to merge")
	}
	s := torch.NewNoGradScope()
	defer s.Close()
	for _, key := range m.lora.order {
		ad := m.lora.adapters[key]
		w := m.params[key+".weight"]
		delta := s.Zeros(torch.Float32, m.dev, w.Shape()...)
		for _, sl := range ad.slices {
			// B [out,r,1(,1)] x A [r,in,k(,k)] -> [out,in,k(,k)]
			b2 := s.Reshape(sl.b, sl.b.Size(0), sl.b.Size(1))
			a2 := s.Reshape(sl.a, sl.a.Size(0), -1)
			d := s.Reshape(s.Matmul(b2, a2), append([]int64{sl.b.Size(0)}, sl.a.Shape()[1:]...)...)
			if sl.rows == nil {
				delta = s.Add(delta, d)
			} else {
				// place d's rows at sl.rows: pick from [d; 0] with the zero
				// row for every other output channel
				pad := s.Cat(0, d, s.Zeros(torch.Float32, m.dev, append([]int64{1}, d.Shape()[1:]...)...))
				sel := make([]int64, w.Size(0))
				for i := range sel {
					sel[i] = d.Size(0)
				}
				for i, r := range sl.rows {
					sel[r] = int64(i)
				}
				delta = s.Add(delta, s.IndexSelect(pad, 0, torch.FromSliceOn(s, m.dev, sel)))
			}
		}
		upd := s.Add(s.To(w, torch.Float32), s.MulScalar(delta, m.lora.scale))
		if err := s.Err(); err != nil {
			return fmt.Errorf("radmodel: merging LoRA into %s: %w", key, err)
		}
		if err := w.CopyFrom(upd); err != nil {
			return fmt.Errorf("radmodel: merging LoRA into %s: %w", key, err)
		}
	}
	m.lora.scope.Close()
	m.lora = nil
	return nil
}

// AdapterMeta is the metadata an adapter file carries.
type AdapterMeta struct {
	Rank           int
	Alpha          float64
	Targets        []string
	TimestepOffset float64
	BaseConfig     Config
	BaseSHA256     string
	DiffusionSteps int
	NoiseSchedule  string
	LambdaVLB      float64
}

func (a AdapterMeta) strings() (map[string]string, error) {
	cfg, err := json.Marshal(a.BaseConfig)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"format":          "rad-lora",
		"rank":            strconv.Itoa(a.Rank),
		"alpha":           strconv.FormatFloat(a.Alpha, 'g', -1, 64),
		"targets":         strings.Join(a.Targets, ","),
		"timestep_offset": strconv.FormatFloat(a.TimestepOffset, 'g', -1, 64),
		"base_config":     string(cfg),
		"base_sha256":     a.BaseSHA256,
		"diffusion_steps": strconv.Itoa(a.DiffusionSteps),
		"noise_schedule":  a.NoiseSchedule,
		"lambda_vlb":      strconv.FormatFloat(a.LambdaVLB, 'g', -1, 64),
	}, nil
}

func parseAdapterMeta(meta map[string]any) (AdapterMeta, error) {
	get := func(k string) (string, error) {
		v, ok := meta[k].(string)
		if !ok {
			return "", fmt.Errorf("metadata key %q is missing", k)
		}
		return v, nil
	}
	var a AdapterMeta
	if f, _ := get("format"); f != "rad-lora" {
		return a, fmt.Errorf("not a RAD LoRA adapter (format %q)", f)
	}
	var err error
	num := func(k string) float64 {
		if err != nil {
			return 0
		}
		var s string
		if s, err = get(k); err != nil {
			return 0
		}
		var v float64
		if v, err = strconv.ParseFloat(s, 64); err != nil {
			err = fmt.Errorf("metadata %s = %q: %w", k, s, err)
		}
		return v
	}
	a.Rank = int(num("rank"))
	a.Alpha = num("alpha")
	a.TimestepOffset = num("timestep_offset")
	a.DiffusionSteps = int(num("diffusion_steps"))
	a.LambdaVLB = num("lambda_vlb")
	if err != nil {
		return a, err
	}
	t, err := get("targets")
	if err != nil {
		return a, err
	}
	a.Targets = strings.Split(t, ",")
	a.NoiseSchedule, _ = get("noise_schedule")
	a.BaseSHA256, _ = get("base_sha256")
	c, err := get("base_config")
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal([]byte(c), &a.BaseConfig); err != nil {
		return a, fmt.Errorf("metadata base_config: %w", err)
	}
	return a, nil
}

// SaveAdapter writes the adapters and the trained time-embedding layers
// as safetensors with the metadata (rank, alpha and targets are filled in
// from the adapters; BaseConfig from the model if empty). The file is
// written atomically.
func (m *UNet) SaveAdapter(path string, meta AdapterMeta) error {
	if m.lora == nil {
		return fmt.Errorf("radmodel: no LoRA adapters to save")
	}
	meta.Rank, meta.Alpha, meta.Targets = m.lora.cfg.Rank, m.lora.cfg.Alpha, m.lora.cfg.Targets
	if meta.BaseConfig.ModelChannels == 0 {
		meta.BaseConfig = m.cfg
	}
	md, err := meta.strings()
	if err != nil {
		return err
	}
	names, ts := m.adapterTensors()
	return torch.SaveSafetensors(path, names, ts, md)
}

// adapterTensors lists what an adapter file holds: every adapter tensor,
// then the time-embedding layers.
func (m *UNet) adapterTensors() ([]string, []*torch.Tensor) {
	var names []string
	var ts []*torch.Tensor
	for _, key := range m.lora.order {
		for _, sl := range m.lora.adapters[key].slices {
			names = append(names, "lora."+sl.name+".A", "lora."+sl.name+".B")
			ts = append(ts, sl.a, sl.b)
		}
	}
	for _, s := range m.specs {
		if trainableEmbedding(s.Key) {
			names = append(names, s.Key)
			ts = append(ts, m.params[s.Key])
		}
	}
	return names, ts
}

// ReadAdapterMeta reads an adapter file's metadata only.
func ReadAdapterMeta(path string) (AdapterMeta, error) {
	s := torch.NewNoGradScope()
	defer s.Close()
	d, err := torch.LoadSafetensors(s, path)
	if err != nil {
		return AdapterMeta{}, fmt.Errorf("adapter %s: %w", path, err)
	}
	a, err := parseAdapterMeta(d.Meta)
	if err != nil {
		return a, fmt.Errorf("adapter %s: %w", path, err)
	}
	return a, nil
}

// ApplyOpts control LoadAdapter.
type ApplyOpts struct {
	// BaseSHA256 is the hash of the base checkpoint the model was loaded
	// from (FileSHA256); empty skips the check.
	BaseSHA256 string
	// IgnoreHash applies an adapter trained on another file of the same
	// config.
	IgnoreHash bool
}

// LoadAdapter attaches the adapters of a file written by SaveAdapter (and
// its trained time-embedding layers) to the model. An adapter made for a
// base of another config is refused; so is one made for another checkpoint
// file (by SHA-256) unless IgnoreHash.
func (m *UNet) LoadAdapter(path string, o ApplyOpts) (AdapterMeta, error) {
	if m.lora != nil {
		return AdapterMeta{}, fmt.Errorf("adapter %s: the model already has LoRA adapters", path)
	}
	s := torch.NewNoGradScope()
	defer s.Close()
	d, err := torch.LoadSafetensors(s, path)
	if err != nil {
		return AdapterMeta{}, fmt.Errorf("adapter %s: %w", path, err)
	}
	return m.applyAdapter(path, d, o)
}

// LoadAdapterBytes is LoadAdapter on the bytes of an adapter file (e.g.
// embedded with go:embed); name names it in errors.
func (m *UNet) LoadAdapterBytes(name string, raw []byte, o ApplyOpts) (AdapterMeta, error) {
	if m.lora != nil {
		return AdapterMeta{}, fmt.Errorf("adapter %s: the model already has LoRA adapters", name)
	}
	s := torch.NewNoGradScope()
	defer s.Close()
	d, err := torch.LoadSafetensorsBytes(s, name, raw)
	if err != nil {
		return AdapterMeta{}, fmt.Errorf("adapter %s: %w", name, err)
	}
	return m.applyAdapter(name, d, o)
}

// applyAdapter attaches the adapter in d (read from path) to m.
func (m *UNet) applyAdapter(path string, d *torch.StateDict, o ApplyOpts) (AdapterMeta, error) {
	meta, err := parseAdapterMeta(d.Meta)
	if err != nil {
		return meta, fmt.Errorf("adapter %s: %w", path, err)
	}
	if !meta.BaseConfig.Equal(m.cfg) {
		return meta, fmt.Errorf("adapter %s was trained on a base with config %s, but this model is %s",
			path, meta.BaseConfig.Short(), m.cfg.Short())
	}
	if !o.IgnoreHash && o.BaseSHA256 != "" && meta.BaseSHA256 != "" && meta.BaseSHA256 != o.BaseSHA256 {
		return meta, fmt.Errorf("adapter %s was trained on base checkpoint sha256 %s, this base is %s (override with the ignore-hash option if the bases are equivalent)",
			path, short(meta.BaseSHA256), short(o.BaseSHA256))
	}
	g := torch.NewGenerator(0)
	defer g.Close()
	if err := m.AddLoRA(LoRAConfig{Rank: meta.Rank, Alpha: meta.Alpha, Targets: meta.Targets}, g); err != nil {
		return meta, fmt.Errorf("adapter %s: %w", path, err)
	}
	names, ts := m.adapterTensors()
	var missing, bad []string
	for i, n := range names {
		src := d.Get(n)
		if src == nil {
			missing = append(missing, n)
			continue
		}
		if !slices.Equal(src.Shape(), ts[i].Shape()) {
			bad = append(bad, fmt.Sprintf("%s %v (want %v)", n, src.Shape(), ts[i].Shape()))
			continue
		}
		if err := ts[i].CopyFrom(src); err != nil {
			bad = append(bad, n+": "+err.Error())
		}
	}
	if len(missing)+len(bad) > 0 || len(d.Keys) != len(names) {
		m.lora.scope.Close()
		m.lora = nil
		sort.Strings(missing)
		return meta, fmt.Errorf("adapter %s does not fit: %d missing (%s), %d mismatched (%s), %d tensors in file for %d expected",
			path, len(missing), firstFew(missing), len(bad), firstFew(bad), len(d.Keys), len(names))
	}
	return meta, nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func firstFew(v []string) string {
	if len(v) > 3 {
		return strings.Join(v[:3], ", ") + ", ..."
	}
	return strings.Join(v, ", ")
}

// FileSHA256 is the hex SHA-256 of a file (a base checkpoint's identity).
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
