package diffusion

import (
	"sync"

	"github.com/radinpaint/rad/torch"
)

// TimestepMapper maps per-pixel noise levels Bbar to the pretrained
// model's timesteps (the paper's section 3.4): tau is the piecewise-linear
// inverse of the original chain's Bbar_k = 1 - abar_k, k = -1..N-1 with
// Bbar_{-1} = 0, so tau is in [-1, N-1] (hole pixels at step k see k, clean
// pixels see -1). The model sees tau + Offset. It is kept apart from the
// samplers: they hand it Bbar maps and pass its result to the model.
type TimestepMapper struct {
	// Offset is added to tau (0 by default; the authors' code uses +1). It
	// is model metadata: a LoRA adapter records the offset it was trained with.
	Offset float64
	table  []float64 // Bbar_{-1..N-1}

	mu    sync.Mutex
	scope *torch.Scope                   // owns the device copies
	onDev map[torch.Device]*torch.Tensor // the table per device (TableOn)
}

// NewTimestepMapper inverts the noise levels of base's original chain.
func NewTimestepMapper(base *Base, offset float64) *TimestepMapper {
	orig := base.Original
	abar := orig.AlphasCumprod()
	tab := make([]float64, len(abar)+1)
	for i, a := range abar {
		tab[i+1] = 1 - a
	}
	return &TimestepMapper{Offset: offset, table: tab}
}

// TauOf returns tau + Offset for one noise level (Go side, for scalars).
func (tm *TimestepMapper) TauOf(bbar float64) float64 {
	tab := tm.table
	if bbar <= 0 {
		return -1 + tm.Offset
	}
	n := len(tab)
	if bbar >= tab[n-1] {
		return float64(n-2) + tm.Offset
	}
	lo, hi := 0, n-1 // tab[lo] < bbar <= tab[hi]
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if tab[mid] < bbar {
			lo = mid
		} else {
			hi = mid
		}
	}
	frac := (bbar - tab[lo]) / (tab[hi] - tab[lo])
	return float64(lo-1) + frac + tm.Offset
}

// Table is the mapper's Bbar table on dev, owned by s, for MapWith.
func (tm *TimestepMapper) Table(s *torch.Scope, dev torch.Device) *torch.Tensor {
	return torch.FromSliceOn(s, dev, tm.table)
}

// TableOn is the mapper's Bbar table on dev, copied there once and kept
// by the mapper until Close (as the UNet keeps its timestep frequencies):
// samplers and trainers share it instead of copying it per run or step.
// It is safe for concurrent use.
func (tm *TimestepMapper) TableOn(dev torch.Device) (*torch.Tensor, error) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if t, ok := tm.onDev[dev]; ok && t.Valid() {
		return t, nil
	}
	if tm.scope == nil {
		tm.scope = torch.NewNoGradScope()
		tm.onDev = map[torch.Device]*torch.Tensor{}
	}
	t := tm.Table(tm.scope, dev)
	if err := tm.scope.Err(); err != nil {
		tm.scope.ClearErr()
		return nil, err
	}
	tm.onDev[dev] = t
	return t, nil
}

// Close frees the device copies of TableOn; the mapper stays usable.
func (tm *TimestepMapper) Close() {
	if tm == nil {
		return
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.scope != nil {
		tm.scope.Close()
		tm.scope, tm.onDev = nil, nil
	}
}

// Map returns tau + Offset (float32, same shape) for a Bbar map of any
// shape, interpolated in float64 (with the table of TableOn).
func (tm *TimestepMapper) Map(s *torch.Scope, bbar *torch.Tensor) *torch.Tensor {
	tab, err := tm.TableOn(bbar.Device())
	if err != nil {
		s.SetErr(err)
		return nil
	}
	return tm.MapWith(s, tab, bbar)
}

// MapWith is Map with the table from Table.
func (tm *TimestepMapper) MapWith(s *torch.Scope, tab, bbar *torch.Tensor) *torch.Tensor {
	v := s.Clamp(s.To(bbar, torch.Float64), 0, tm.table[len(tm.table)-1])
	n := int64(len(tm.table))
	// hi: first index with tab[hi] >= v, kept in 1..n-1
	hi := s.Clamp(s.SearchSorted(tab, s.Contiguous(v), false), 1, float64(n-1))
	lo := s.SubScalar(hi, 1)
	flat := func(idx *torch.Tensor) *torch.Tensor {
		return s.Reshape(s.IndexSelect(tab, 0, s.Flatten(idx, 0, -1)), idx.Shape()...)
	}
	tlo, thi := flat(lo), flat(hi)
	frac := s.Div(s.Sub(v, tlo), s.Sub(thi, tlo))
	tau := s.Add(s.SubScalar(s.To(lo, torch.Float64), 1), frac)
	return s.To(s.AddScalar(tau, tm.Offset), torch.Float32)
}
