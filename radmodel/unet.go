package radmodel

import (
	"fmt"
	"math"
	"sync"

	"github.com/radinpaint/rad/torch"
)

// network is unet.py UNetModel's module tree, without tensors.
type network struct {
	cfg          Config
	timeEmbed0   *linear    // time_embed.0 (time_embed.1 is SiLU)
	timeEmbed2   *linear    // time_embed.2
	labelEmb     *embedding // label_emb (class-conditional only)
	inputBlocks  []*sequential
	middleBlock  *sequential
	outputBlocks []*sequential
	outNorm      *groupNorm // out.0 (out.1 is SiLU)
	outConv      *conv      // out.2, zero_module
}

// buildNetwork mirrors UNetModel.__init__ (dims=2). c must have passed the
// basic checks of Validate (positive sizes, head settings).
func buildNetwork(c Config) *network {
	n := &network{cfg: c}
	mc := int64(c.ModelChannels)
	ted := int64(c.TimeEmbedDim())
	numHeadsUp := c.numHeadsUp()

	n.timeEmbed0 = &linear{key: "time_embed.0", in: mc, out: ted}
	n.timeEmbed2 = &linear{key: "time_embed.2", in: ted, out: ted}
	if c.NumClasses > 0 {
		n.labelEmb = &embedding{key: "label_emb", n: int64(c.NumClasses), dim: ted}
	}

	ch := int64(c.levelChannels(c.ChannelMult[0]))
	inputCh := ch
	n.inputBlocks = []*sequential{{key: "input_blocks.0", layers: []layer{
		&conv{key: "input_blocks.0.0", in: int64(c.InChannels), out: ch, k: 3, stride: 1, pad: 1, dims: 2, lowp: true},
	}}}
	inputBlockChans := []int64{ch}
	ds := 1
	for level, mult := range c.ChannelMult {
		for i := 0; i < c.NumResBlocks; i++ {
			key := fmt.Sprintf("input_blocks.%d", len(n.inputBlocks))
			out := int64(c.levelChannels(mult))
			layers := []layer{newResBlock(key+".0", ch, ted, out, c, noResample)}
			ch = out
			if c.hasAttention(ds) {
				layers = append(layers, newAttentionBlock(key+".1", ch, c.NumHeads, c.NumHeadChannels, c.UseNewAttentionOrder))
			}
			n.inputBlocks = append(n.inputBlocks, &sequential{key: key, layers: layers})
			inputBlockChans = append(inputBlockChans, ch)
		}
		if level != len(c.ChannelMult)-1 {
			key := fmt.Sprintf("input_blocks.%d", len(n.inputBlocks))
			out := ch
			var l layer
			if c.ResblockUpdown {
				l = newResBlock(key+".0", ch, ted, out, c, resampleDown)
			} else {
				l = newDownsample(key+".0", ch, out, c.ConvResample)
			}
			n.inputBlocks = append(n.inputBlocks, &sequential{key: key, layers: []layer{l}})
			ch = out
			inputBlockChans = append(inputBlockChans, ch)
			ds *= 2
		}
	}

	n.middleBlock = &sequential{key: "middle_block", layers: []layer{
		newResBlock("middle_block.0", ch, ted, ch, c, noResample),
		newAttentionBlock("middle_block.1", ch, c.NumHeads, c.NumHeadChannels, c.UseNewAttentionOrder),
		newResBlock("middle_block.2", ch, ted, ch, c, noResample),
	}}

	for level := len(c.ChannelMult) - 1; level >= 0; level-- {
		mult := c.ChannelMult[level]
		for i := 0; i <= c.NumResBlocks; i++ {
			key := fmt.Sprintf("output_blocks.%d", len(n.outputBlocks))
			ich := inputBlockChans[len(inputBlockChans)-1]
			inputBlockChans = inputBlockChans[:len(inputBlockChans)-1]
			out := int64(c.levelChannels(mult))
			layers := []layer{newResBlock(key+".0", ch+ich, ted, out, c, noResample)}
			ch = out
			if c.hasAttention(ds) {
				layers = append(layers, newAttentionBlock(fmt.Sprintf("%s.%d", key, len(layers)), ch, numHeadsUp,
					c.NumHeadChannels, c.UseNewAttentionOrder))
			}
			if level > 0 && i == c.NumResBlocks {
				lk := fmt.Sprintf("%s.%d", key, len(layers))
				if c.ResblockUpdown {
					layers = append(layers, newResBlock(lk, ch, ted, ch, c, resampleUp))
				} else {
					layers = append(layers, newUpsample(lk, ch, ch, c.ConvResample))
				}
				ds /= 2
			}
			n.outputBlocks = append(n.outputBlocks, &sequential{key: key, layers: layers})
		}
	}

	n.outNorm = &groupNorm{key: "out.0", ch: ch}
	n.outConv = &conv{key: "out.2", in: inputCh, out: int64(c.OutChannels), k: 3, stride: 1, pad: 1, dims: 2, zero: true}
	return n
}

// params lists every state-dict entry in state_dict() order.
func (n *network) params() paramList {
	var p paramList
	n.timeEmbed0.params(&p)
	n.timeEmbed2.params(&p)
	if n.labelEmb != nil {
		n.labelEmb.params(&p)
	}
	for _, b := range n.inputBlocks {
		b.params(&p)
	}
	n.middleBlock.params(&p)
	for _, b := range n.outputBlocks {
		b.params(&p)
	}
	n.outNorm.params(&p)
	n.outConv.params(&p)
	return p
}

// attnInfo describes one AttentionBlock of a config.
type attnInfo struct {
	key      string
	ch       int
	heads    int
	newOrder bool
}

// attentionLayout lists the attention blocks (module path, channels,
// heads) of c.
func attentionLayout(c Config) []attnInfo {
	n := buildNetwork(c)
	var out []attnInfo
	visit := func(q *sequential) {
		for _, l := range q.layers {
			if a, ok := l.(*attentionBlock); ok {
				out = append(out, attnInfo{a.key, int(a.ch), int(a.heads), a.newOrder})
			}
		}
	}
	for _, b := range n.inputBlocks {
		visit(b)
	}
	visit(n.middleBlock)
	for _, b := range n.outputBlocks {
		visit(b)
	}
	return out
}

// ParamShape is one state-dict entry: its key and shape.
type ParamShape struct {
	Key   string
	Shape []int64
}

// Numel is the number of elements of the entry.
func (p ParamShape) Numel() int64 { return numel(p.Shape) }

func numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// ParamShapes lists the state-dict keys and shapes of the model c
// describes, in the order of guided-diffusion's model.state_dict().
// It allocates no tensors. c must be valid.
func (c Config) ParamShapes() ([]ParamShape, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	specs := buildNetwork(c).params()
	out := make([]ParamShape, len(specs))
	for i, s := range specs {
		out[i] = ParamShape{Key: s.Key, Shape: append([]int64(nil), s.Shape...)}
	}
	return out, nil
}

// ParamCount is the number of parameters of the model c describes,
// computed from the config alone.
func (c Config) ParamCount() (int64, error) {
	ps, err := c.ParamShapes()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, p := range ps {
		n += p.Numel()
	}
	return n, nil
}

// UNet is guided-diffusion's UNetModel with its weights. The weights are
// owned by the model (its own root scope) and freed by Close. A UNet may be
// used from several goroutines at once, each with its own scope.
//
// Storage follows UNetModel.convert_to_fp16: with a float16 or bfloat16
// model dtype, the convolutions of input_blocks, middle_block and
// output_blocks are stored in that dtype; GroupNorms, time_embed,
// label_emb, emb_layers and out stay float32 (GroupNorm32 computes in
// float32), and the output is float32.
type UNet struct {
	cfg    Config
	dev    torch.Device
	dt     torch.DType
	net    *network
	specs  paramList
	scope  *torch.Scope
	params map[string]*torch.Tensor
	lora   *lora // nil without adapters

	freqMu sync.Mutex
	freqs  map[torch.Device]*torch.Tensor // timestep-embedding frequencies per device
}

// freqsOn returns the timestep-embedding frequencies on dev, computed once
// (moving them at every forward would synchronise a CUDA stream).
func (m *UNet) freqsOn(dev torch.Device) (*torch.Tensor, error) {
	m.freqMu.Lock()
	defer m.freqMu.Unlock()
	if f, ok := m.freqs[dev]; ok && f.Valid() {
		return f, nil
	}
	if m.freqs == nil {
		m.freqs = map[torch.Device]*torch.Tensor{}
	}
	c := m.scope.Child()
	f := embeddingFreqs(c, m.cfg.ModelChannels, 10000, dev)
	if err := c.Err(); err != nil {
		c.Close()
		return nil, err
	}
	c.Keep(f) // moves to the model's scope
	c.Close()
	m.freqs[dev] = f
	return f, nil
}

// timeEmbedInput is timestep_embedding(t, model_channels) with the cached
// frequencies.
func (m *UNet) timeEmbedInput(c *torch.Scope, t *torch.Tensor) *torch.Tensor {
	f, err := m.freqsOn(t.Device())
	if err != nil {
		c.SetErr(err)
		return nil
	}
	return timestepEmbeddingWith(c, t, m.cfg.ModelChannels, f)
}

// newUNet makes an empty model (no tensors yet) for a valid config.
func newUNet(cfg Config, dev torch.Device, dt torch.DType) (*UNet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch dt {
	case torch.Float32, torch.Float16, torch.BFloat16:
	default:
		return nil, fmt.Errorf("radmodel: model dtype %s is not supported (want float32, float16 or bfloat16)", dt)
	}
	n := buildNetwork(cfg)
	return &UNet{cfg: cfg, dev: dev, dt: dt, net: n, specs: n.params(), scope: torch.NewNoGradScope(),
		params: map[string]*torch.Tensor{}}, nil
}

// paramDType is the dtype a parameter is stored in.
func (m *UNet) paramDType(s paramSpec) torch.DType {
	if s.lowp {
		return m.dt
	}
	return torch.Float32
}

// Config returns the model's config.
func (m *UNet) Config() Config { return m.cfg }

// Device is where the weights live.
func (m *UNet) Device() torch.Device { return m.dev }

// DType is the model dtype (of the block convolutions).
func (m *UNet) DType() torch.DType { return m.dt }

// Keys returns the state-dict keys in state_dict() order.
func (m *UNet) Keys() []string {
	out := make([]string, len(m.specs))
	for i, s := range m.specs {
		out[i] = s.Key
	}
	return out
}

// Param returns the weight named by its state-dict key (nil if unknown).
// The tensor belongs to the model.
func (m *UNet) Param(key string) *torch.Tensor { return m.params[key] }

// NumParams is the number of parameters.
func (m *UNet) NumParams() int64 {
	var n int64
	for _, s := range m.specs {
		n += numel(s.Shape)
	}
	return n
}

// Close frees the weights. The model cannot be used afterwards.
func (m *UNet) Close() {
	if m.scope != nil {
		m.scope.Close()
	}
	if m.lora != nil {
		m.lora.scope.Close()
		m.lora = nil
	}
	m.params = map[string]*torch.Tensor{}
}

// p returns a parameter for a forward op, recording an error in c if the
// model has none under key.
func (m *UNet) p(c *torch.Scope, key string) *torch.Tensor {
	t := m.params[key]
	if !t.Valid() {
		c.SetErr(fmt.Errorf("parameter %q is missing or freed (model closed?)", key))
		return nil
	}
	return t
}

// ForwardOpts are the options of ForwardWith.
type ForwardOpts struct {
	// Train enables dropout (the config's Dropout rate), drawn from
	// Generator. Grad mode is the scope's own.
	Train     bool
	Generator *torch.Generator
	// SampleGenerators, when set, replaces Generator: sample i's dropout
	// masks are drawn from SampleGenerators[i] (one per sample of the
	// batch), so that they do not depend on the sample's batch or place
	// in it (data-parallel training).
	SampleGenerators []*torch.Generator
	// Hook, if set, sees intermediate tensors under the names of the
	// reference fixtures: emb_sin, emb_time, emb_label, emb, h_in_K,
	// h_mid_0, h_mid_1, h_mid, h_out_K and out. The tensors are valid
	// only during the call; the hook must not free or keep them.
	Hook func(name string, h *torch.Tensor)
	// PlainSpatial makes a timestep map use the per-pixel reference path
	// of the spatial embedding even when the exact fast path applies.
	PlainSpatial bool
	// TauLevels, if set, lists every distinct value of the timestep map
	// (as float32): the fast path then skips finding them (a device
	// synchronisation on CUDA). A value of the map missing from the list
	// gives wrong results; samplers that build the map from known levels
	// set it.
	TauLevels []float64
	// ChannelsLast runs the network on activations in the channels-last
	// (NHWC) memory format: oneDNN's CPU convolutions are faster on it.
	// Values equal the default's up to float rounding (~1e-6); the output
	// is contiguous NCHW either way.
	ChannelsLast bool
}

// Forward runs the model: x [B,in,H,W] (any float dtype), t [B] (int64 or
// float timesteps; a single value is used for the whole batch) or, for
// RAD's spatial noise embedding, a timestep map [B,1,H,W], y [B]
// class labels (nil unless class-conditional). It returns the output
// [B,out,H,W] in float32, owned by s; errors are recorded in s (check
// s.Err()). Temporaries are freed before it returns.
func (m *UNet) Forward(s *torch.Scope, x, t, y *torch.Tensor) *torch.Tensor {
	return m.ForwardWith(s, x, t, y, ForwardOpts{})
}

// ForwardWith is Forward with options.
func (m *UNet) ForwardWith(s *torch.Scope, x, t, y *torch.Tensor, o ForwardOpts) *torch.Tensor {
	if s.Err() != nil {
		return nil
	}
	if err := m.checkInputs(x, t, y, o); err != nil {
		s.SetErr(fmt.Errorf("radmodel forward: %w", err))
		return nil
	}
	c := s.Child()
	defer c.Close()
	out := m.forward(c, x, t, y, &o)
	if err := c.Err(); err != nil {
		s.SetErr(fmt.Errorf("radmodel forward: %w", err))
		return nil
	}
	return c.Keep(out)
}

func (m *UNet) checkInputs(x, t, y *torch.Tensor, o ForwardOpts) error {
	if m.scope == nil || len(m.params) == 0 {
		return fmt.Errorf("model has no weights (closed?)")
	}
	if !x.Valid() {
		return fmt.Errorf("x is nil or freed")
	}
	xs := x.Shape()
	if len(xs) != 4 || xs[1] != int64(m.cfg.InChannels) {
		return fmt.Errorf("x has shape %v, want [B,%d,H,W]", xs, m.cfg.InChannels)
	}
	if !x.DType().IsFloat() {
		return fmt.Errorf("x has dtype %s, want a float type", x.DType())
	}
	f := int64(1) << (m.cfg.Levels() - 1)
	if xs[2] <= 0 || xs[3] <= 0 || xs[2]%f != 0 || xs[3]%f != 0 {
		return fmt.Errorf("x has shape %v: H and W must be multiples of %d (%d levels)", xs, f, m.cfg.Levels())
	}
	if !t.Valid() {
		return fmt.Errorf("t is nil or freed")
	}
	if t.Dim() == 4 {
		if err := checkTau(t, xs); err != nil {
			return err
		}
	} else if n := t.Numel(); n != xs[0] && n != 1 {
		return fmt.Errorf("t has shape %v, want [%d] (one timestep per image), a single value or a map [%d,1,%d,%d]", t.Shape(), xs[0], xs[0], xs[2], xs[3])
	}
	if t.DType() == torch.Bool {
		return fmt.Errorf("t has dtype bool")
	}
	if m.cfg.NumClasses > 0 {
		if !y.Valid() {
			return fmt.Errorf("class-conditional model (%d classes) needs labels y [%d]", m.cfg.NumClasses, xs[0])
		}
		if y.Numel() != xs[0] || y.DType().IsFloat() || y.DType() == torch.Bool {
			return fmt.Errorf("y has shape %v and dtype %s, want [%d] integer labels", y.Shape(), y.DType(), xs[0])
		}
	} else if y != nil {
		return fmt.Errorf("labels y given to an unconditional model")
	}
	if o.Train && m.cfg.Dropout > 0 && o.Generator == nil && o.SampleGenerators == nil {
		return fmt.Errorf("training with dropout %g needs a Generator", m.cfg.Dropout)
	}
	if o.SampleGenerators != nil && int64(len(o.SampleGenerators)) != xs[0] {
		return fmt.Errorf("%d sample generators for a batch of %d", len(o.SampleGenerators), xs[0])
	}
	return nil
}

// onDevice moves a to the model's device (a no-op there).
func (m *UNet) onDevice(c *torch.Scope, a *torch.Tensor) *torch.Tensor {
	if a == nil || a.Device() == m.dev {
		return a
	}
	return c.ToDevice(a, m.dev, a.DType())
}

// forward is UNetModel.forward.
func (m *UNet) forward(c *torch.Scope, x, t, y *torch.Tensor, o *ForwardOpts) *torch.Tensor {
	n := m.net
	hook := func(name string, h *torch.Tensor) {
		if o.Hook != nil && h != nil && c.Err() == nil {
			o.Hook(name, h)
		}
	}
	b := x.Size(0)
	x, t, y = m.onDevice(c, x), m.onDevice(c, t), m.onDevice(c, y)
	var emb *timeEmb
	if t.Dim() == 4 {
		// RAD: a timestep per pixel (the spatial noise embedding)
		emb = m.spatialEmb(c, t, y, o.PlainSpatial, o.TauLevels)
	} else {
		if t.Numel() == 1 && b != 1 {
			t = c.Expand(c.Reshape(t, 1), b)
		} else {
			t = c.Reshape(t, b)
		}
		// emb = time_embed(timestep_embedding(t, model_channels)) (+ label_emb(y))
		vec := sub(c, "time_embed", func(bs *torch.Scope) *torch.Tensor {
			sin := m.timeEmbedInput(bs, t)
			hook("emb_sin", sin)
			a := n.timeEmbed0.apply(bs, m, sin)
			e := n.timeEmbed2.apply(bs, m, bs.SiLU(a))
			hook("emb_time", e)
			if n.labelEmb != nil {
				l := n.labelEmb.apply(bs, m, y)
				hook("emb_label", l)
				e = bs.Add(e, l)
			}
			return e
		})
		hook("emb", vec)
		emb = &timeEmb{vec: vec}
	}

	h := c.To(x, m.dt) // x.type(self.dtype)
	if o.ChannelsLast {
		cl := c.ContiguousChannelsLast(h)
		if h != x {
			free(h)
		}
		h = cl
	}
	hs := make([]*torch.Tensor, 0, len(n.inputBlocks))
	for k, blk := range n.inputBlocks {
		h = blk.forward(c, m, h, emb, o, nil)
		hook(fmt.Sprintf("h_in_%d", k), h)
		hs = append(hs, h)
	}
	last := len(n.middleBlock.layers) - 1
	h = n.middleBlock.forward(c, m, h, emb, o, func(i int, h *torch.Tensor) {
		if i < last {
			hook(fmt.Sprintf("h_mid_%d", i), h)
		}
	})
	hook("h_mid", h)
	for k, blk := range n.outputBlocks {
		skip := hs[len(hs)-1]
		hs = hs[:len(hs)-1]
		hin := h
		h = sub(c, blk.key, func(bs *torch.Scope) *torch.Tensor {
			cat := bs.Cat(1, hin, skip) // th.cat([h, hs.pop()], dim=1)
			return blk.forward(bs, m, cat, emb, o, nil)
		})
		free(hin, skip)
		hook(fmt.Sprintf("h_out_%d", k), h)
	}
	free(hs...) // only left over after an error

	// h = h.type(x.dtype); out = self.out(h); the output is float32
	hf := c.To(h, torch.Float32)
	free(h)
	out := sub(c, "out", func(bs *torch.Scope) *torch.Tensor {
		a := n.outNorm.apply(bs, m, hf)
		return n.outConv.apply(bs, m, siluTmp(bs, a))
	})
	free(hf)
	if o.ChannelsLast {
		nchw := c.Contiguous(out)
		free(out)
		out = nchw
	}
	hook("out", out)
	return out
}

// TimestepEmbedding is guided-diffusion's timestep_embedding(t, dim,
// max_period): t [N] (integer or fractional) as float32 times
// exp(-ln(max_period)*i/half) for i < half = dim/2, then [cos, sin], and
// a zero column when dim is odd. It returns [N, dim] float32 on t's
// device, owned by s.
func TimestepEmbedding(s *torch.Scope, t *torch.Tensor, dim int, maxPeriod float64) *torch.Tensor {
	if s.Err() != nil {
		return nil
	}
	if !t.Valid() {
		s.SetErr(fmt.Errorf("timestep_embedding: t is nil or freed"))
		return nil
	}
	return timestepEmbeddingWith(s, t, dim, embeddingFreqs(s, dim, maxPeriod, t.Device()))
}

// embeddingFreqs are exp(-ln(max_period)*i/half), i < dim/2, computed on
// the CPU as guided-diffusion does, then moved to dev.
func embeddingFreqs(s *torch.Scope, dim int, maxPeriod float64, dev torch.Device) *torch.Tensor {
	half := dim / 2
	freqs := s.Exp(s.DivScalar(s.MulScalar(s.Arange(0, float64(half), 1, torch.Float32, torch.CPU),
		-math.Log(maxPeriod)), float64(half)))
	if dev != torch.CPU {
		freqs = s.ToDevice(freqs, dev, torch.Float32)
	}
	return freqs
}

// timestepEmbeddingWith is TimestepEmbedding with the frequencies given.
func timestepEmbeddingWith(s *torch.Scope, t *torch.Tensor, dim int, freqs *torch.Tensor) *torch.Tensor {
	if s.Err() != nil {
		return nil
	}
	tf := s.To(s.Reshape(t, -1), torch.Float32)
	args := s.Mul(s.Unsqueeze(tf, 1), s.Unsqueeze(freqs, 0))
	emb := s.Cat(-1, s.Cos(args), s.Sin(args))
	if dim%2 == 1 && emb != nil {
		emb = s.Cat(-1, emb, s.Zeros(torch.Float32, t.Device(), emb.Size(0), 1))
	}
	return emb
}
