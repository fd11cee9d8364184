package radmodel

import (
	"fmt"

	"github.com/radinpaint/rad/torch"
)

// MaxFastLevels is the largest number of distinct timestep values for which
// the spatial embedding takes its exact fast path (embedding only the
// distinct values and blending them with resized indicator maps); maps with
// more distinct values (soft masks) use the per-pixel path.
const MaxFastLevels = 8

// timeEmb is the timestep embedding the blocks receive: one vector per
// sample (plain ADM), or RAD's spatial noise embedding (the paper's
// section 3.3), either as K distinct level vectors with their indicator
// maps (fast path) or as a full per-pixel map (reference path).
type timeEmb struct {
	vec *torch.Tensor // [B,E]

	levels *torch.Tensor // [B,K,E]: time_embed(tau_k) (+ label_emb(y_b))
	ind    *torch.Tensor // [B,K,H,W] float32 one-hot maps of the K values

	full *torch.Tensor // [B,E,H,W]

	// owner holds the indicator maps resized to each block resolution,
	// shared by every ResBlock of one forward.
	owner   *torch.Scope
	resized map[[2]int64]*torch.Tensor
}

// timeEmbedVectors is time_embed(timestep_embedding(t)) for t [N]: [N,E].
func (m *UNet) timeEmbedVectors(c *torch.Scope, t *torch.Tensor) *torch.Tensor {
	n := m.net
	sin := m.timeEmbedInput(c, t)
	a := n.timeEmbed0.apply(c, m, sin)
	return n.timeEmbed2.apply(c, m, c.SiLU(a))
}

// levelVectors is time_embed of the K distinct values (+ each sample's
// class embedding): [B,K,E].
func (m *UNet) levelVectors(c *torch.Scope, values, label *torch.Tensor, b int64) *torch.Tensor {
	lv := c.Unsqueeze(m.timeEmbedVectors(c, values), 0) // [1,K,E]
	if label != nil {
		return c.Add(lv, c.Unsqueeze(label, 1))
	}
	return c.Expand(lv, b, values.Numel(), -1)
}

// spatialEmb builds the spatial embedding of a timestep map tau [B,1,H,W]
// in c (the forward's scope). time_embed acts on each pixel's sinusoid as
// 1x1 convolutions (the same Linear weights), and the class embedding is
// added everywhere.
func (m *UNet) spatialEmb(c *torch.Scope, tau, y *torch.Tensor, plain bool, levels []float64) *timeEmb {
	n := m.net
	b, h, w := tau.Size(0), tau.Size(2), tau.Size(3)
	te := &timeEmb{owner: c, resized: map[[2]int64]*torch.Tensor{}}
	var label *torch.Tensor // [B,E]
	if n.labelEmb != nil {
		label = n.labelEmb.apply(c, m, y)
	}
	tf := c.To(tau, torch.Float32)
	if !plain && len(levels) > 0 && len(levels) <= MaxFastLevels {
		// the caller listed the map's values: no unique (and no device sync)
		k := int64(len(levels))
		vals := make([]*torch.Tensor, k)
		inds := make([]*torch.Tensor, k)
		for i, v := range levels {
			vals[i] = c.Full(float64(float32(v)), torch.Float32, tau.Device(), 1)
			inds[i] = c.To(c.EqScalar(tf, float64(float32(v))), torch.Float32)
		}
		te.levels = m.levelVectors(c, c.Cat(0, vals...), label, b)
		te.ind = c.Cat(1, inds...)
		return te
	}
	if !plain {
		values, inv := c.Unique(tf)
		if c.Err() == nil && values.Numel() <= MaxFastLevels {
			k := values.Numel()
			te.levels = m.levelVectors(c, values, label, b)
			ar := c.Reshape(c.Arange(0, float64(k), 1, torch.Int64, tau.Device()), 1, k, 1, 1)
			te.ind = c.To(c.Eq(inv, ar), torch.Float32) // [B,K,H,W]
			return te
		}
		if b > 1 && c.Err() == nil && m.perSampleLevels(c, te, tf, label) {
			return te
		}
	}
	// reference path: every pixel's embedding
	flat := c.Reshape(tf, -1)
	e := m.timeEmbedVectors(c, flat) // [B*H*W, E]
	e = c.Reshape(e, b, h, w, -1)
	if label != nil {
		e = c.Add(e, c.Reshape(label, b, 1, 1, -1))
	}
	te.full = c.Permute(e, 0, 3, 1, 2)
	return te
}

// perSampleLevels is the fast path for a batch whose samples each have few
// distinct values but together too many (training: every sample at its
// own step): level k of sample b is its k-th distinct value (the last one
// repeated to pad, with an empty indicator map). It reports whether it
// applied.
func (m *UNet) perSampleLevels(c *torch.Scope, te *timeEmb, tf, label *torch.Tensor) bool {
	b := tf.Size(0)
	vals := make([]*torch.Tensor, b)
	invs := make([]*torch.Tensor, b)
	var kmax int64
	for i := int64(0); i < b; i++ {
		vals[i], invs[i] = c.Unique(c.Select(tf, 0, i))
		if c.Err() != nil {
			return false
		}
		kmax = max(kmax, vals[i].Numel())
	}
	if kmax > MaxFastLevels {
		return false
	}
	dev := tf.Device()
	for i, v := range vals {
		if pad := kmax - v.Numel(); pad > 0 {
			last := c.Narrow(v, 0, v.Numel()-1, 1)
			vals[i] = c.Cat(0, v, c.Expand(last, pad))
		}
	}
	flat := c.Reshape(c.Stack(0, vals...), -1)                // [B*K]
	lv := c.Reshape(m.timeEmbedVectors(c, flat), b, kmax, -1) // [B,K,E]
	if label != nil {
		lv = c.Add(lv, c.Unsqueeze(label, 1))
	}
	te.levels = lv
	ar := c.Reshape(c.Arange(0, float64(kmax), 1, torch.Int64, dev), kmax, 1, 1)
	inds := make([]*torch.Tensor, b)
	for i, inv := range invs {
		inds[i] = c.To(c.Eq(inv, ar), torch.Float32) // [K,H,W] from [1,H,W]
	}
	te.ind = c.Stack(0, inds...) // [B,K,H,W]
	return c.Err() == nil
}

// indicatorsAt returns the indicator maps resized to h x w (bilinear,
// align_corners=True, as the per-pixel path resizes the embedding).
func (te *timeEmb) indicatorsAt(h, w int64) *torch.Tensor {
	if te.ind.Size(2) == h && te.ind.Size(3) == w {
		return te.ind
	}
	key := [2]int64{h, w}
	if r, ok := te.resized[key]; ok {
		return r
	}
	r := te.owner.Interpolate(te.ind, h, w, torch.Bilinear, true)
	te.resized[key] = r
	return r
}

// levelTerms is a ResBlock's emb_layers on the fast path: the Linear on
// the K level vectors (after SiLU), L_k [B,C], applied per pixel as
// L_0 + sum_{k>0} ind_k (L_k - L_0) with the indicator maps at the block's
// resolution (they sum to one there). Resizing, SiLU on one-hot maps and
// the 1x1 conv commute exactly with this (bilinear weights sum to one), so
// it equals perPixel.
func (te *timeEmb) levelTerms(c *torch.Scope, m *UNet, lin *linear, h, w int64) *embTerms {
	ind := te.indicatorsAt(h, w)
	if err := te.owner.Err(); err != nil {
		c.SetErr(err)
		return nil
	}
	l := lin.apply(c, m, c.SiLU(te.levels)) // [B,K,C]
	if c.Err() != nil {
		return nil
	}
	k := l.Size(1)
	l5 := c.Reshape(l, l.Size(0), k, l.Size(2), 1, 1) // level i: [B,C,1,1] by one select
	t := &embTerms{base: c.Select(l5, 1, 0)}
	for i := int64(1); i < k; i++ {
		t.inds = append(t.inds, c.Narrow(ind, 1, i, 1))
		t.deltas = append(t.deltas, c.Sub(c.Select(l5, 1, i), t.base))
	}
	return t
}

// perPixel is a ResBlock's emb_layers on the reference path: SiLU of the
// full-resolution embedding map, a bilinear resize (align_corners=True) to
// the block's resolution, then the Linear as a 1x1 conv.
func (te *timeEmb) perPixel(c *torch.Scope, m *UNet, lin *linear, h, w int64) *torch.Tensor {
	a := c.SiLU(te.full)
	if a != nil && (a.Size(2) != h || a.Size(3) != w) {
		r := c.Interpolate(a, h, w, torch.Bilinear, true)
		free(a)
		a = r
	}
	cl := c.Permute(a, 0, 2, 3, 1)
	l := lin.apply(c, m, cl)
	free(a, cl)
	out := c.Permute(l, 0, 3, 1, 2)
	return out
}

// checkTau validates a timestep map against x.
func checkTau(tau *torch.Tensor, xs []int64) error {
	ts := tau.Shape()
	if len(ts) != 4 || ts[0] != xs[0] || ts[1] != 1 || ts[2] != xs[2] || ts[3] != xs[3] {
		return fmt.Errorf("timestep map has shape %v, want [%d,1,%d,%d]", ts, xs[0], xs[2], xs[3])
	}
	if !tau.DType().IsFloat() && tau.DType() != torch.Int64 && tau.DType() != torch.Int32 {
		return fmt.Errorf("timestep map has dtype %s", tau.DType())
	}
	return nil
}
