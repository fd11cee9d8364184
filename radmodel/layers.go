package radmodel

import (
	"errors"
	"fmt"
	"math"

	"github.com/radinpaint/rad/torch"
)

// This file holds the building blocks of unet.py and nn.py: each type
// knows its state-dict keys (params, in registration order, which is
// state_dict()'s order) and how to run.

// paramKind tells how a parameter is used (and initialised by NewRandom).
type paramKind int

const (
	kindWeight    paramKind = iota // conv / linear weight
	kindBias                       // conv / linear bias
	kindNormW                      // GroupNorm32 weight
	kindNormB                      // GroupNorm32 bias
	kindEmbedding                  // nn.Embedding weight
)

// paramSpec is one state-dict entry of a config.
type paramSpec struct {
	Key   string
	Shape []int64
	kind  paramKind
	// zero: the layer is wrapped in zero_module() in unet.py.
	zero bool
	// lowp: the tensor is converted by UNetModel.convert_to_fp16 (convs
	// inside input_blocks, middle_block and output_blocks); it is stored
	// in the model dtype. All others stay float32.
	lowp bool
}

type paramList []paramSpec

func (p *paramList) add(s paramSpec) { *p = append(*p, s) }

// layer is one entry of a TimestepEmbedSequential.
type layer interface {
	params(p *paramList)
	forward(c *torch.Scope, m *UNet, h *torch.Tensor, emb *timeEmb, o *ForwardOpts) *torch.Tensor
	name() string
}

// blockError names the block in which a forward op failed.
type blockError struct {
	block string
	err   error
}

func (e *blockError) Error() string { return e.block + ": " + e.err.Error() }
func (e *blockError) Unwrap() error { return e.err }

// sub runs f in a child scope of c and keeps only its result: temporaries
// die with the child. An error is recorded in c, naming the innermost
// block.
func sub(c *torch.Scope, block string, f func(bs *torch.Scope) *torch.Tensor) *torch.Tensor {
	if c.Err() != nil {
		return nil
	}
	bs := c.Child()
	defer bs.Close()
	out := f(bs)
	if err := bs.Err(); err != nil {
		var be *blockError
		if !errors.As(err, &be) {
			err = &blockError{block, err}
		}
		c.SetErr(err)
		return nil
	}
	return bs.Keep(out)
}

// free releases temporaries (nil-safe). Never pass a tensor the block does
// not own (inputs, parameters).
func free(ts ...*torch.Tensor) {
	for _, t := range ts {
		t.Free()
	}
}

// siluTmp is SiLU of a temporary t that nothing else reads, which it
// releases: in place when autograd is off (no allocation, no page faults
// on a fresh buffer: about half the time of silu on the CPU), otherwise a
// new tensor (autograd needs t).
func siluTmp(c *torch.Scope, t *torch.Tensor) *torch.Tensor {
	var out *torch.Tensor
	if c.Mode()&torch.ModeGrad == 0 {
		out = c.SiLUInPlace(t)
	} else {
		out = c.SiLU(t)
	}
	free(t)
	return out
}

// addTmp is tmp + other for a temporary tmp that nothing else reads, which
// it releases: in place when autograd is off.
func addTmp(c *torch.Scope, tmp, other *torch.Tensor) *torch.Tensor {
	var out *torch.Tensor
	if c.Mode()&torch.ModeGrad == 0 {
		out = c.AddInPlace(tmp, other)
	} else {
		out = c.Add(other, tmp)
	}
	free(tmp)
	return out
}

// ---- nn.py wrappers ----

// conv is conv_nd(dims, in, out, k, stride, padding): "KEY.weight",
// "KEY.bias".
type conv struct {
	key                     string
	in, out, k, stride, pad int64
	dims                    int
	zero, lowp              bool
}

func (l *conv) name() string { return l.key }

func (l *conv) params(p *paramList) {
	w := []int64{l.out, l.in, l.k}
	if l.dims == 2 {
		w = append(w, l.k)
	}
	p.add(paramSpec{Key: l.key + ".weight", Shape: w, kind: kindWeight, zero: l.zero, lowp: l.lowp})
	p.add(paramSpec{Key: l.key + ".bias", Shape: []int64{l.out}, kind: kindBias, zero: l.zero, lowp: l.lowp})
}

func (l *conv) apply(c *torch.Scope, m *UNet, x *torch.Tensor) *torch.Tensor {
	w, b := m.p(c, l.key+".weight"), m.p(c, l.key+".bias")
	o := torch.ConvOpts{Stride: l.stride, Padding: l.pad}
	var out *torch.Tensor
	if l.dims == 1 {
		out = c.Conv1d(x, w, b, o)
	} else {
		out = c.Conv2d(x, w, b, o)
	}
	if d := m.loraDelta(c, l, x); d != nil {
		// LoRA: W x + scale * B (A x)
		return c.Add(out, c.To(d, out.DType()))
	}
	return out
}

func (l *conv) forward(c *torch.Scope, m *UNet, h *torch.Tensor, _ *timeEmb, _ *ForwardOpts) *torch.Tensor {
	return l.apply(c, m, h)
}

// linear is nn.py linear(in, out): "KEY.weight" [out,in], "KEY.bias".
type linear struct {
	key     string
	in, out int64
	zero    bool
}

func (l *linear) params(p *paramList) {
	p.add(paramSpec{Key: l.key + ".weight", Shape: []int64{l.out, l.in}, kind: kindWeight, zero: l.zero})
	p.add(paramSpec{Key: l.key + ".bias", Shape: []int64{l.out}, kind: kindBias, zero: l.zero})
}

func (l *linear) apply(c *torch.Scope, m *UNet, x *torch.Tensor) *torch.Tensor {
	return c.Linear(x, m.p(c, l.key+".weight"), m.p(c, l.key+".bias"))
}

// groupNorm is nn.py normalization(ch) = GroupNorm32(32, ch): computed in
// float32 whatever the input dtype, then cast back.
type groupNorm struct {
	key string
	ch  int64
}

func (l *groupNorm) params(p *paramList) {
	p.add(paramSpec{Key: l.key + ".weight", Shape: []int64{l.ch}, kind: kindNormW})
	p.add(paramSpec{Key: l.key + ".bias", Shape: []int64{l.ch}, kind: kindNormB})
}

func (l *groupNorm) apply(c *torch.Scope, m *UNet, x *torch.Tensor) *torch.Tensor {
	w, b := m.p(c, l.key+".weight"), m.p(c, l.key+".bias")
	if c.Err() != nil {
		return nil
	}
	if x.DType() == torch.Float32 {
		return c.GroupNorm(x, normGroups, w, b, normEps)
	}
	xf := c.To(x, torch.Float32)
	y := c.GroupNorm(xf, normGroups, w, b, normEps)
	free(xf)
	out := c.To(y, x.DType())
	free(y)
	return out
}

// embedding is nn.Embedding(n, dim): "KEY.weight" [n,dim].
type embedding struct {
	key    string
	n, dim int64
}

func (l *embedding) params(p *paramList) {
	p.add(paramSpec{Key: l.key + ".weight", Shape: []int64{l.n, l.dim}, kind: kindEmbedding})
}

func (l *embedding) apply(c *torch.Scope, m *UNet, y *torch.Tensor) *torch.Tensor {
	idx := y
	if y.DType() != torch.Int64 {
		idx = c.To(y, torch.Int64)
	}
	return c.IndexSelect(m.p(c, l.key+".weight"), 0, c.Reshape(idx, -1))
}

// ---- unet.py blocks ----

// upsample is unet.py Upsample(channels, use_conv, dims, out_channels):
// nearest 2x, then "KEY.conv" when use_conv.
type upsample struct {
	key  string
	conv *conv // nil without use_conv
}

func newUpsample(key string, ch, out int64, useConv bool) *upsample {
	u := &upsample{key: key}
	if useConv {
		u.conv = &conv{key: key + ".conv", in: ch, out: out, k: 3, stride: 1, pad: 1, dims: 2, lowp: true}
	}
	return u
}

func (u *upsample) name() string { return u.key + " (Upsample)" }

func (u *upsample) params(p *paramList) {
	if u.conv != nil {
		u.conv.params(p)
	}
}

func (u *upsample) forward(c *torch.Scope, m *UNet, x *torch.Tensor, _ *timeEmb, _ *ForwardOpts) *torch.Tensor {
	h := c.InterpolateScale(x, 2, 2, torch.Nearest, false)
	if u.conv == nil {
		return h
	}
	out := u.conv.apply(c, m, h)
	free(h)
	return out
}

// downsample is unet.py Downsample(channels, use_conv, dims, out_channels):
// "KEY.op" is a stride-2 3x3 conv with use_conv, else a 2x2 average pool.
type downsample struct {
	key string
	op  *conv // nil without use_conv
}

func newDownsample(key string, ch, out int64, useConv bool) *downsample {
	d := &downsample{key: key}
	if useConv {
		d.op = &conv{key: key + ".op", in: ch, out: out, k: 3, stride: 2, pad: 1, dims: 2, lowp: true}
	}
	return d
}

func (d *downsample) name() string { return d.key + " (Downsample)" }

func (d *downsample) params(p *paramList) {
	if d.op != nil {
		d.op.params(p)
	}
}

func (d *downsample) forward(c *torch.Scope, m *UNet, x *torch.Tensor, _ *timeEmb, _ *ForwardOpts) *torch.Tensor {
	if d.op != nil {
		return d.op.apply(c, m, x)
	}
	return c.AvgPool2d(x, 2, 2)
}

type updown int

const (
	noResample updown = iota
	resampleUp
	resampleDown
)

// resBlock is unet.py ResBlock(channels, emb_channels, dropout,
// out_channels, use_conv=False, use_scale_shift_norm, dims=2, up, down).
type resBlock struct {
	key        string
	in, out    int64
	updown     updown
	scaleShift bool
	dropout    float64

	inNorm   *groupNorm // in_layers.0 (in_layers.1 is SiLU)
	inConv   *conv      // in_layers.2
	embLin   *linear    // emb_layers.1 (emb_layers.0 is SiLU)
	outNorm  *groupNorm // out_layers.0 (1: SiLU, 2: Dropout)
	outConv  *conv      // out_layers.3, zero_module
	skipConv *conv      // skip_connection: nil = Identity
}

func newResBlock(key string, ch, embCh, out int64, c Config, ud updown) *resBlock {
	r := &resBlock{key: key, in: ch, out: out, updown: ud, scaleShift: c.UseScaleShiftNorm, dropout: c.Dropout}
	r.inNorm = &groupNorm{key: key + ".in_layers.0", ch: ch}
	r.inConv = &conv{key: key + ".in_layers.2", in: ch, out: out, k: 3, stride: 1, pad: 1, dims: 2, lowp: true}
	embOut := out
	if c.UseScaleShiftNorm {
		embOut = 2 * out
	}
	r.embLin = &linear{key: key + ".emb_layers.1", in: embCh, out: embOut}
	r.outNorm = &groupNorm{key: key + ".out_layers.0", ch: out}
	r.outConv = &conv{key: key + ".out_layers.3", in: out, out: out, k: 3, stride: 1, pad: 1, dims: 2, zero: true, lowp: true}
	if out != ch {
		// use_conv=False: a 1x1 conv
		r.skipConv = &conv{key: key + ".skip_connection", in: ch, out: out, k: 1, stride: 1, pad: 0, dims: 2, lowp: true}
	}
	return r
}

func (r *resBlock) name() string { return r.key + " (ResBlock)" }

func (r *resBlock) params(p *paramList) {
	r.inNorm.params(p)
	r.inConv.params(p)
	// h_upd / x_upd are Upsample/Downsample without conv: no parameters
	r.embLin.params(p)
	r.outNorm.params(p)
	r.outConv.params(p)
	if r.skipConv != nil {
		r.skipConv.params(p)
	}
}

// resample is h_upd / x_upd: nearest 2x up or 2x2 average pool down.
func (r *resBlock) resample(c *torch.Scope, x *torch.Tensor) *torch.Tensor {
	if r.updown == resampleUp {
		return c.InterpolateScale(x, 2, 2, torch.Nearest, false)
	}
	return c.AvgPool2d(x, 2, 2)
}

func (r *resBlock) forward(c *torch.Scope, m *UNet, x *torch.Tensor, emb *timeEmb, o *ForwardOpts) *torch.Tensor {
	var h, xs *torch.Tensor
	xs = x
	if r.updown != noResample {
		// in_rest, then h_upd / x_upd, then in_conv
		a := r.inNorm.apply(c, m, x)
		b := siluTmp(c, a)
		hu := r.resample(c, b)
		free(b)
		xs = r.resample(c, x)
		h = r.inConv.apply(c, m, hu)
		free(hu)
	} else {
		a := r.inNorm.apply(c, m, x)
		b := siluTmp(c, a)
		h = r.inConv.apply(c, m, b)
		free(b)
	}
	e := r.embOut(c, m, emb, h)
	h2 := r.outLayers(c, m, h, e, o)
	free(h)
	skip := xs
	if r.skipConv != nil {
		skip = r.skipConv.apply(c, m, xs)
	}
	out := addTmp(c, h2, skip)
	if skip != x {
		free(skip)
	}
	if xs != x {
		free(xs)
	}
	return out
}

// embTerms is a ResBlock's emb_layers output, ready to apply at h's
// resolution: base [B,C,1,1] plus, for a spatial map on the fast path,
// sum_k ind_k * delta_k with one-channel maps ind_k [B,1,h,w] and vectors
// delta_k [B,C,1,1]; or, on the per-pixel path, full [B,C,h,w]. C = out, or
// 2*out with scale-shift. Applying terms this way costs one extra
// elementwise pass per level over the scalar path.
type embTerms struct {
	base   *torch.Tensor
	inds   []*torch.Tensor
	deltas []*torch.Tensor
	full   *torch.Tensor
}

// embOut is emb_layers(emb) for this block, in h's dtype. This is the one
// place that reads the embedding.
func (r *resBlock) embOut(c *torch.Scope, m *UNet, emb *timeEmb, h *torch.Tensor) *embTerms {
	if c.Err() != nil || h == nil {
		return nil
	}
	toH := func(e *torch.Tensor) *torch.Tensor {
		if e != nil && e.DType() != h.DType() {
			return c.To(e, h.DType())
		}
		return e
	}
	switch {
	case emb.vec != nil:
		lin := r.embLin.apply(c, m, c.SiLU(emb.vec))
		return &embTerms{base: toH(c.Unsqueeze(c.Unsqueeze(lin, 2), 3))}
	case emb.levels != nil:
		t := emb.levelTerms(c, m, r.embLin, h.Size(2), h.Size(3))
		if t == nil {
			return nil
		}
		t.base = toH(t.base)
		for i := range t.deltas {
			t.deltas[i] = toH(t.deltas[i])
			t.inds[i] = toH(t.inds[i])
		}
		return t
	default:
		return &embTerms{full: toH(emb.perPixel(c, m, r.embLin, h.Size(2), h.Size(3)))}
	}
}

// add is x + e.
func (t *embTerms) add(c *torch.Scope, x *torch.Tensor) *torch.Tensor {
	if t.full != nil {
		return c.Add(x, t.full)
	}
	if len(t.inds) == 1 {
		// two levels: x + base + ind * delta in one pass
		return c.Modulate2(x, t.inds[0], c.OnesLike(t.base), c.ZerosLike(t.base), t.base, t.deltas[0])
	}
	out := c.Add(x, t.base)
	for i, ind := range t.inds {
		out = c.Addcmul(out, ind, t.deltas[i], 1)
	}
	return out
}

// scaleShift is n * (1 + scale) + shift with [scale, shift] = e.
func (t *embTerms) scaleShift(c *torch.Scope, n *torch.Tensor) *torch.Tensor {
	if t.full != nil {
		parts := c.Chunk(t.full, 2, 1)
		if c.Err() != nil {
			return nil
		}
		return c.Addcmul(parts[1], n, c.AddScalar(parts[0], 1), 1)
	}
	bp := c.Chunk(t.base, 2, 1)
	if c.Err() != nil {
		return nil
	}
	if len(t.inds) == 1 {
		// two levels: n * (1 + scale_0 + ind dscale) + shift_0 + ind dshift
		dp := c.Chunk(t.deltas[0], 2, 1)
		if c.Err() != nil {
			return nil
		}
		return c.Modulate2(n, t.inds[0], c.AddScalar(bp[0], 1), dp[0], bp[1], dp[1])
	}
	out := c.Addcmul(bp[1], n, c.AddScalar(bp[0], 1), 1)
	for i, ind := range t.inds {
		dp := c.Chunk(t.deltas[i], 2, 1)
		if c.Err() != nil {
			return nil
		}
		// + ind_k * (n * dscale_k + dshift_k)
		out = c.Addcmul(out, ind, c.Addcmul(dp[1], n, dp[0], 1), 1)
	}
	return out
}

// outLayers applies the embedding (added, or scale-shift after out_norm)
// and then out_layers' rest: SiLU, Dropout, out_layers.3.
func (r *resBlock) outLayers(c *torch.Scope, m *UNet, h *torch.Tensor, e *embTerms, o *ForwardOpts) *torch.Tensor {
	if e == nil || c.Err() != nil {
		return nil
	}
	var a *torch.Tensor
	if r.scaleShift {
		n := r.outNorm.apply(c, m, h)
		a = e.scaleShift(c, n)
		free(n)
	} else {
		he := e.add(c, h)
		a = r.outNorm.apply(c, m, he)
		free(he)
	}
	b := siluTmp(c, a)
	if o.Train && r.dropout > 0 {
		var d *torch.Tensor
		if o.SampleGenerators != nil {
			d = sampleDropout(c, b, r.dropout, o.SampleGenerators)
		} else {
			d = c.Dropout(b, r.dropout, true, o.Generator)
		}
		free(b)
		b = d
	}
	out := r.outConv.apply(c, m, b)
	free(b)
	return out
}

// attentionBlock is unet.py AttentionBlock(channels, num_heads,
// num_head_channels, use_new_attention_order).
type attentionBlock struct {
	key      string
	ch       int64
	heads    int64
	newOrder bool
	norm     *groupNorm // norm
	qkv      *conv      // qkv: conv1d ch -> 3ch, k=1
	projOut  *conv      // proj_out: conv1d, zero_module
}

func newAttentionBlock(key string, ch int64, numHeads, numHeadChannels int, newOrder bool) *attentionBlock {
	return &attentionBlock{
		key: key, ch: ch, heads: int64(headsFor(int(ch), numHeads, numHeadChannels)), newOrder: newOrder,
		norm:    &groupNorm{key: key + ".norm", ch: ch},
		qkv:     &conv{key: key + ".qkv", in: ch, out: 3 * ch, k: 1, stride: 1, dims: 1, lowp: true},
		projOut: &conv{key: key + ".proj_out", in: ch, out: ch, k: 1, stride: 1, dims: 1, zero: true, lowp: true},
	}
}

func (a *attentionBlock) name() string { return a.key + " (AttentionBlock)" }

func (a *attentionBlock) params(p *paramList) {
	a.norm.params(p)
	a.qkv.params(p)
	// attention (QKVAttention / QKVAttentionLegacy) has no parameters
	a.projOut.params(p)
}

func (a *attentionBlock) forward(c *torch.Scope, m *UNet, x *torch.Tensor, _ *timeEmb, _ *ForwardOpts) *torch.Tensor {
	if c.Err() != nil {
		return nil
	}
	shape := x.Shape()
	xf := c.Reshape(x, shape[0], shape[1], -1)
	n := a.norm.apply(c, m, xf)
	qkv := a.qkv.apply(c, m, n)
	free(n)
	var h *torch.Tensor
	if a.newOrder {
		h = qkvAttention(c, qkv, a.heads)
	} else {
		h = qkvAttentionLegacy(c, qkv, a.heads)
	}
	free(qkv)
	p := a.projOut.apply(c, m, h)
	free(h)
	sum := addTmp(c, p, xf)
	free(xf)
	out := c.Reshape(sum, shape...)
	free(sum)
	return out
}

// attend is softmax(q k^T) v with the heads folded into the batch:
// q, k, v are [B*H, C, T] already scaled; the softmax runs in float32.
func attend(c *torch.Scope, q, k, v *torch.Tensor) *torch.Tensor {
	w := c.Einsum("bct,bcs->bts", q, k)
	if c.Err() != nil {
		return nil
	}
	dt := w.DType()
	wf := c.To(w, torch.Float32)
	sm := c.Softmax(wf, -1)
	ws := c.To(sm, dt)
	free(w, wf, sm)
	out := c.Einsum("bts,bcs->bct", ws, v)
	free(ws)
	return out
}

// qkvAttentionLegacy is unet.py QKVAttentionLegacy: reshape qkv
// [B, 3*H*C, T] to [B*H, 3*C, T], then split into q, k, v.
func qkvAttentionLegacy(c *torch.Scope, qkv *torch.Tensor, heads int64) *torch.Tensor {
	if c.Err() != nil {
		return nil
	}
	s := qkv.Shape()
	bs, width, length := s[0], s[1], s[2]
	if width%(3*heads) != 0 {
		c.SetErr(fmt.Errorf("qkv width %d is not a multiple of 3*%d heads", width, heads))
		return nil
	}
	ch := width / (3 * heads)
	r := c.Reshape(qkv, bs*heads, ch*3, length)
	parts := c.Split(r, ch, 1)
	if c.Err() != nil {
		return nil
	}
	scale := 1 / math.Sqrt(math.Sqrt(float64(ch)))
	q := c.MulScalar(parts[0], scale)
	k := c.MulScalar(parts[1], scale)
	a := attend(c, q, k, parts[2])
	free(q, k, r)
	free(parts...)
	out := c.Reshape(a, bs, -1, length)
	free(a)
	return out
}

// qkvAttention is unet.py QKVAttention (use_new_attention_order): chunk
// qkv into q, k, v first, then fold the heads into the batch.
func qkvAttention(c *torch.Scope, qkv *torch.Tensor, heads int64) *torch.Tensor {
	if c.Err() != nil {
		return nil
	}
	s := qkv.Shape()
	bs, width, length := s[0], s[1], s[2]
	if width%(3*heads) != 0 {
		c.SetErr(fmt.Errorf("qkv width %d is not a multiple of 3*%d heads", width, heads))
		return nil
	}
	ch := width / (3 * heads)
	parts := c.Chunk(qkv, 3, 1)
	if c.Err() != nil {
		return nil
	}
	scale := 1 / math.Sqrt(math.Sqrt(float64(ch)))
	qs := c.MulScalar(parts[0], scale)
	ks := c.MulScalar(parts[1], scale)
	q := c.Reshape(qs, bs*heads, ch, length)
	k := c.Reshape(ks, bs*heads, ch, length)
	v := c.Reshape(parts[2], bs*heads, ch, length)
	a := attend(c, q, k, v)
	free(qs, ks, q, k, v)
	free(parts...)
	out := c.Reshape(a, bs, -1, length)
	free(a)
	return out
}

// sequential is unet.py TimestepEmbedSequential: "KEY.0", "KEY.1", ...
type sequential struct {
	key    string
	layers []layer
}

func (q *sequential) params(p *paramList) {
	for _, l := range q.layers {
		l.params(p)
	}
}

// forward runs the layers in order (each in its own child scope); each,
// if not nil, sees every layer's output.
func (q *sequential) forward(c *torch.Scope, m *UNet, h *torch.Tensor, emb *timeEmb, o *ForwardOpts,
	each func(i int, h *torch.Tensor)) *torch.Tensor {
	return sub(c, q.key, func(bs *torch.Scope) *torch.Tensor {
		in := h
		for i, l := range q.layers {
			l := l
			next := sub(bs, l.name(), func(ls *torch.Scope) *torch.Tensor { return l.forward(ls, m, h, emb, o) })
			if h != in {
				free(h)
			}
			h = next
			if each != nil && h != nil {
				each(i, h)
			}
		}
		return h
	})
}

// sampleDropout is dropout with sample i's mask drawn from gens[i].
func sampleDropout(c *torch.Scope, b *torch.Tensor, p float64, gens []*torch.Generator) *torch.Tensor {
	parts := make([]*torch.Tensor, len(gens))
	for i, g := range gens {
		xi := c.Narrow(b, 0, int64(i), 1)
		parts[i] = c.Dropout(xi, p, true, g)
		free(xi)
	}
	out := c.Cat(0, parts...)
	free(parts...)
	return out
}
