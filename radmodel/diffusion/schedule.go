package diffusion

import (
	"fmt"
	"math"

	"github.com/radinpaint/rad/torch"
)

// Schedule is RAD's per-pixel noise schedule over a base chain of N steps:
// 2N global steps, phase 1 (s < N, k = s) noising the hole and phase 2
// (s >= N, k = s - N) noising the rest.
type Schedule struct {
	Base *Base
	// Nu is the total noise of one chain, 1 - abar_{N-1}.
	Nu float64
	// Gamma[k] = log(1 - beta_k) / log(1 - nu): step k's share of the
	// chain's total log-signal; G[k] = sum_{j<=k} Gamma[j].
	Gamma, G []float64
	// DType is the float type the per-pixel levels are computed in
	// (Float64 by default; Float32 and BFloat16 are safe too).
	DType torch.DType
}

// NewSchedule builds the per-pixel schedule of a base chain (docs/DESIGN.md §2.2).
func NewSchedule(base *Base) *Schedule {
	n := base.N()
	nu := base.Nu()
	l1 := math.Log1p(-nu)
	sc := &Schedule{Base: base, Nu: nu, Gamma: make([]float64, n), G: make([]float64, n), DType: torch.Float64}
	abar := base.AlphasCumprod()
	for k := 0; k < n; k++ {
		sc.Gamma[k] = math.Log1p(-base.Betas[k]) / l1
		sc.G[k] = math.Log(abar[k]) / l1
	}
	sc.G[n-1] = 1 // exact by definition of nu
	return sc
}

// N is the number of steps of one phase.
func (sc *Schedule) N() int { return sc.Base.N() }

// T is the number of global steps, 2N.
func (sc *Schedule) T() int { return 2 * sc.N() }

// PhaseStep splits a global step s (-1..2N-1) into its phase (1 or 2) and
// its step k within the phase (-1 for s = -1, before any noise).
func (sc *Schedule) PhaseStep(s int) (phase, k int) {
	n := sc.N()
	if s < n {
		return 1, s
	}
	return 2, s - n
}

// gAt is G_k of global step s, with G_{-1} = 0.
func (sc *Schedule) gAt(s int) float64 {
	_, k := sc.PhaseStep(s)
	if k < 0 {
		return 0
	}
	return sc.G[k]
}

// Levels are the per-pixel noise levels of a batch at global steps s (one
// per sample), each [B,1,H,W] in the schedule's dtype.
type Levels struct {
	Steps []int // global step s of each sample
	K     []int // step within the phase
	Phase []int
	// LogA is log A(s), LogAPrev log A(s-1); A is the paper's a-bar.
	LogA, LogAPrev *torch.Tensor
	// Bbar = 1 - A(s), BbarPrev = 1 - A(s-1).
	Bbar, BbarPrev *torch.Tensor
	// Alpha = a = A(s)/A(s-1), Beta = b = 1 - a (one-step variance).
	Alpha, Beta *torch.Tensor
	// Frozen is true where the reverse step is the identity: no noise yet
	// (Bbar = 0) or this phase does not move the pixel (b = 0).
	Frozen *torch.Tensor
	// First is true (per sample, broadcast) where k = 0.
	First *torch.Tensor
}

// perSample makes a [B,1,1,1] tensor of per-sample values. When they are
// all equal (sampling) it is a fill on the device, with no host-to-device
// copy (which would synchronise a CUDA stream).
func perSample(s *torch.Scope, v []float64, dt torch.DType, dev torch.Device) *torch.Tensor {
	same := true
	for _, x := range v {
		same = same && x == v[0]
	}
	if same {
		return s.Full(v[0], dt, dev, int64(len(v)), 1, 1, 1)
	}
	t := torch.FromSliceOn(s, dev, v, int64(len(v)), 1, 1, 1)
	return s.To(t, dt)
}

// logOneMinusNuM is log(1 - nu*m) per pixel, computed with log1p and kept
// no smaller than log(1 - nu) (in reduced precision nu*m rounds to 1).
func (sc *Schedule) logOneMinusNuM(s *torch.Scope, m *torch.Tensor) *torch.Tensor {
	l := s.Log1p(s.MulScalar(m, -sc.Nu))
	return s.Clamp(l, math.Log1p(-sc.Nu), 0)
}

// LogCumSignal is log A(s) per pixel, the closed form of the paper's a-bar
// after the supplementary normalisation of beta and beta' (docs/DESIGN.md §2.2):
//
//	phase 1: A = (1 - nu m)^G_k
//	phase 2: A = (1 - nu m) ((1 - nu)/(1 - nu m))^G_k
//
// with G_{-1} = 0, so A(-1) = 1 and A(2N-1) = 1 - nu for every m.
func (sc *Schedule) LogCumSignal(s *torch.Scope, steps []int, m *torch.Tensor) *torch.Tensor {
	l := sc.logOneMinusNuM(s, m)
	l1 := math.Log1p(-sc.Nu)
	g := make([]float64, len(steps))
	p2 := make([]float64, len(steps))
	for i, st := range steps {
		g[i] = sc.gAt(st)
		if ph, _ := sc.PhaseStep(st); ph == 2 {
			p2[i] = 1
		}
	}
	gt := perSample(s, g, sc.DType, m.Device())
	pt := perSample(s, p2, sc.DType, m.Device())
	phase1 := s.Mul(gt, l)
	// phase 2: l + G (l1 - l)
	phase2 := s.Add(l, s.Mul(gt, s.RSubScalar(l1, l)))
	return s.Add(phase1, s.Mul(pt, s.Sub(phase2, phase1)))
}

// LogOneStepSignal is log a(s) = log A(s) - log A(s-1) per pixel (the
// paper's a_t of Eq. 2): gamma_k log(1 - nu m) in phase 1 and
// gamma_k log((1 - nu)/(1 - nu m)) in phase 2. It is computed from the
// per-step share gamma_k, not as a difference of cumulative values, so
// that b = 1 - a keeps full precision for small betas.
func (sc *Schedule) LogOneStepSignal(s *torch.Scope, steps []int, m *torch.Tensor) *torch.Tensor {
	l := sc.logOneMinusNuM(s, m)
	l1 := math.Log1p(-sc.Nu)
	g := make([]float64, len(steps))
	p2 := make([]float64, len(steps))
	for i, st := range steps {
		ph, k := sc.PhaseStep(st)
		if k >= 0 {
			g[i] = sc.Gamma[k]
		}
		if ph == 2 {
			p2[i] = 1
		}
	}
	gt := perSample(s, g, sc.DType, m.Device())
	pt := perSample(s, p2, sc.DType, m.Device())
	// per phase the log-signal rate: l (phase 1) or l1 - l (phase 2)
	rate := s.Add(l, s.Mul(pt, s.Sub(s.RSubScalar(l1, l), l)))
	return s.Mul(gt, rate)
}

// Levels computes every per-pixel level of the batch at global steps
// `steps` (one per sample, each in 0..2N-1) for the mask m [B,1,H,W]
// (1 = hole, soft values allowed). Tensors belong to s.
func (sc *Schedule) Levels(s *torch.Scope, steps []int, m *torch.Tensor) (*Levels, error) {
	if m == nil || m.Dim() != 4 || m.Size(1) != 1 {
		return nil, fmt.Errorf("mask must be [B,1,H,W], got %v", shapeOf(m))
	}
	if int64(len(steps)) != m.Size(0) {
		return nil, fmt.Errorf("%d steps for a batch of %d", len(steps), m.Size(0))
	}
	for _, st := range steps {
		if st < 0 || st >= sc.T() {
			return nil, fmt.Errorf("global step %d outside 0..%d", st, sc.T()-1)
		}
	}
	mm := s.To(m, sc.DType)
	lv := &Levels{Steps: steps}
	prev := make([]int, len(steps))
	first := make([]float64, len(steps))
	for i, st := range steps {
		ph, k := sc.PhaseStep(st)
		lv.Phase = append(lv.Phase, ph)
		lv.K = append(lv.K, k)
		prev[i] = st - 1
		if k == 0 {
			first[i] = 1
		}
	}
	lv.LogA = sc.LogCumSignal(s, steps, mm)
	lv.LogAPrev = sc.LogCumSignal(s, prev, mm)
	logAlpha := sc.LogOneStepSignal(s, steps, mm)
	lv.Bbar = noiseFromLog(s, lv.LogA)
	lv.BbarPrev = noiseFromLog(s, lv.LogAPrev)
	lv.Alpha = s.Exp(logAlpha)
	lv.Beta = noiseFromLog(s, logAlpha)
	lv.Frozen = s.LogicalOr(s.LeScalar(lv.Bbar, 0), s.LeScalar(lv.Beta, 0))
	lv.First = s.GtScalar(perSample(s, first, sc.DType, m.Device()), 0.5)
	return lv, s.Err()
}

// noiseFromLog is 1 - exp(logA) = -expm1(logA), clamped to [0, 1].
func noiseFromLog(s *torch.Scope, logA *torch.Tensor) *torch.Tensor {
	return s.Clamp(s.Neg(s.Expm1(logA)), 0, 1)
}

func shapeOf(t *torch.Tensor) any {
	if !t.Valid() {
		return "nil"
	}
	return t.Shape()
}
