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
	vals *torch.Tensor // [N, fields, 2]: [k][field][known, hole]
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

// NewLevelTable computes the table of sc's steps on dev, owned by s.
func NewLevelTable(s *torch.Scope, sc *Schedule, dev torch.Device) (*LevelTable, error) {
	n := sc.N()
	c := s.Child()
	defer c.Close()
	steps := make([]int, n)
	two := make([]float32, 2*n)
	for k := range steps {
		steps[k] = k
		two[2*k+1] = 1 // [known, hole]
	}
	m2 := torch.FromSlice(c, two, int64(n), 1, 1, 2)
	lv, err := sc.Levels(c, steps, m2)
	if err != nil {
		return nil, err
	}
	post := sc.PosteriorOf(c, lv, m2)
	shape := []int64{int64(n), 2}
	field := func(t *torch.Tensor) *torch.Tensor {
		return c.Reshape(c.Expand(c.To(t, torch.Float64), int64(n), 1, 1, 2), shape...)
	}
	fields := make([]*torch.Tensor, nFields)
	fields[fLogA], fields[fLogAPrev] = field(lv.LogA), field(lv.LogAPrev)
	fields[fBbar], fields[fBbarPrev] = field(lv.Bbar), field(lv.BbarPrev)
	fields[fAlpha], fields[fBeta] = field(lv.Alpha), field(lv.Beta)
	fields[fFrozen], fields[fFirst] = field(lv.Frozen), field(lv.First)
	fields[fCoef1], fields[fCoef2] = field(post.Coef1), field(post.Coef2)
	fields[fVar], fields[fVarClipped] = field(post.Variance), field(post.VarianceClipped)
	fields[fLogVarClipped] = field(post.LogVarianceClipped)
	table := c.ToDevice(c.Stack(1, fields...), dev, sc.DType) // [N, F, 2]
	if err := c.Err(); err != nil {
		return nil, err
	}
	return &LevelTable{vals: s.Adopt(table)}, nil
}

// At returns the levels and posterior of step k for the pixels of hole
// (bool [B,1,H,W]); every sample of the batch is at step k.
func (t *LevelTable) At(s *torch.Scope, k, b int, hole *torch.Tensor) (*Levels, *Posterior) {
	row := s.Select(t.vals, 0, int64(k)) // [F, 2]
	field := func(f int) *torch.Tensor {
		v := s.Select(row, 0, int64(f))
		return s.Where(hole, s.Select(v, 0, 1), s.Select(v, 0, 0))
	}
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
