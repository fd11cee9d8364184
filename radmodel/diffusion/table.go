package diffusion

import (
	"github.com/radinpaint/rad/torch"
)

// LevelTable holds, for a binary mask, the levels and posterior of both
// kinds of pixel (known, hole) at every step of phase 1. They are computed
// once per run by the schedule's own per-pixel functions on a two-pixel
// mask, moved to the device in one copy, and placed per step with one
// where per field: a handful of kernels per step instead of the generic
// per-pixel path's hundred (which made RAD launch-bound on a GPU).
// Samplers build one per run (NewLevelTable) and read step k with At.
type LevelTable struct {
	vals *torch.Tensor // [N, fields, L]: [k][field][mask value]
	// Values are the mask values of the table's columns ([0, 1] for a
	// binary mask).
	Values []float32
}

const (
	fLogA = iota
	fLogAPrev
	fBbar
	fBbarPrev
	fAlpha
	fBeta
	fFrozen
	fFirst
	fCoef1
	fCoef2
	fVar
	fVarClipped
	fLogVarClipped
	nFields
)

// NewLevelTable computes the table of sc's steps on dev, owned by s, for
// a binary mask.
func NewLevelTable(s *torch.Scope, sc *Schedule, dev torch.Device) (*LevelTable, error) {
	return NewLevelTableOf(s, sc, dev, []float32{0, 1})
}

// NewLevelTableOf is NewLevelTable for a mask of the given distinct values
// (a soft mask or a guided start with a few levels): read it with AtIndex.
func NewLevelTableOf(s *torch.Scope, sc *Schedule, dev torch.Device, values []float32) (*LevelTable, error) {
	n := sc.N()
	l := int64(len(values))
	c := s.Child()
	defer c.Close()
	steps := make([]int, n)
	cols := make([]float32, 0, n*len(values))
	for k := range steps {
		steps[k] = k
		cols = append(cols, values...)
	}
	m2 := torch.FromSlice(c, cols, int64(n), 1, 1, l)
	lv, err := sc.Levels(c, steps, m2)
	if err != nil {
		return nil, err
	}
	post := sc.PosteriorOf(c, lv, m2)
	shape := []int64{int64(n), l}
	field := func(t *torch.Tensor) *torch.Tensor {
		return c.Reshape(c.Expand(c.To(t, torch.Float64), int64(n), 1, 1, l), shape...)
	}
	fields := make([]*torch.Tensor, nFields)
	fields[fLogA], fields[fLogAPrev] = field(lv.LogA), field(lv.LogAPrev)
	fields[fBbar], fields[fBbarPrev] = field(lv.Bbar), field(lv.BbarPrev)
	fields[fAlpha], fields[fBeta] = field(lv.Alpha), field(lv.Beta)
	fields[fFrozen], fields[fFirst] = field(lv.Frozen), field(lv.First)
	fields[fCoef1], fields[fCoef2] = field(post.Coef1), field(post.Coef2)
	fields[fVar], fields[fVarClipped] = field(post.Variance), field(post.VarianceClipped)
	fields[fLogVarClipped] = field(post.LogVarianceClipped)
	table := c.ToDevice(c.Stack(1, fields...), dev, sc.DType) // [N, F, L]
	if err := c.Err(); err != nil {
		return nil, err
	}
	return &LevelTable{vals: s.Adopt(table), Values: append([]float32(nil), values...)}, nil
}

// At returns the levels and posterior of step k for the pixels of hole
// (bool [B,1,H,W]); every sample of the batch is at step k.
func (t *LevelTable) At(s *torch.Scope, k, b int, hole *torch.Tensor) (*Levels, *Posterior) {
	return t.at(s, k, b, func(v *torch.Tensor) *torch.Tensor {
		return s.Where(hole, s.Select(v, 0, 1), s.Select(v, 0, 0))
	})
}

// Bbar is the noise level of every column at every step, [N, L], on the
// table's device (for the timestep map of each column).
func (t *LevelTable) Bbar(s *torch.Scope) *torch.Tensor {
	return s.Select(t.vals, 1, fBbar)
}

// AtIndex is At for a table of any columns: idx (int64 [B,1,H,W]) is each
// pixel's column.
func (t *LevelTable) AtIndex(s *torch.Scope, k, b int, idx *torch.Tensor) (*Levels, *Posterior) {
	flat := s.Flatten(idx, 0, -1)
	return t.at(s, k, b, func(v *torch.Tensor) *torch.Tensor {
		return s.Reshape(s.IndexSelect(v, 0, flat), idx.Shape()...)
	})
}

// at places step k's row per pixel with place (a field's [L] values to
// the pixels' map).
func (t *LevelTable) at(s *torch.Scope, k, b int, place func(v *torch.Tensor) *torch.Tensor) (*Levels, *Posterior) {
	row := s.Select(t.vals, 0, int64(k)) // [F, L]
	field := func(f int) *torch.Tensor { return place(s.Select(row, 0, int64(f))) }
	steps := Uniform(k, b)
	lv := &Levels{
		Steps: steps, K: steps, Phase: Uniform(1, b),
		LogA: field(fLogA), LogAPrev: field(fLogAPrev),
		Bbar: field(fBbar), BbarPrev: field(fBbarPrev),
		Alpha: field(fAlpha), Beta: field(fBeta),
		Frozen: s.GtScalar(field(fFrozen), 0.5),
		// the same for every pixel: a 0-dim flag that broadcasts
		First: s.GtScalar(s.Select(s.Select(row, 0, fFirst), 0, 0), 0.5),
	}
	post := &Posterior{
		Coef1: field(fCoef1), Coef2: field(fCoef2),
		Variance: field(fVar), VarianceClipped: field(fVarClipped),
		LogVarianceClipped: field(fLogVarClipped),
	}
	return lv, post
}

// Uniform is the step list of a batch of b samples all at step k.
func Uniform(k, b int) []int {
	out := make([]int, b)
	for i := range out {
		out[i] = k
	}
	return out
}
