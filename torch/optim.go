package torch

// #include "radtorch.h"
import "C"

import (
	"fmt"
	"slices"
	"strconv"
)

// AdamWConfig holds AdamW's hyper-parameters (torch.optim.AdamW's meaning).
type AdamWConfig struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
}

// DefaultAdamW is RAD's training default: lr 1e-4, betas (0.9, 0.999),
// eps 1e-8, weight decay 1e-2.
var DefaultAdamW = AdamWConfig{LR: 1e-4, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-2}

// AdamW is Adam with decoupled weight decay and bias correction, updating
// its parameters in place. Its moment tensors live in its own scope.
type AdamW struct {
	AdamWConfig
	Params []*Tensor
	Steps  int64 // number of updates made
	m, v   []*Tensor
	scope  *Scope
}

// NewAdamW makes an optimizer over params (each float, requiring grad).
// The first and second moments are float32 (float64 for float64 params) on
// each parameter's device.
func NewAdamW(params []*Tensor, cfg AdamWConfig) (*AdamW, error) {
	if cfg.LR <= 0 || cfg.Beta1 < 0 || cfg.Beta1 >= 1 || cfg.Beta2 < 0 || cfg.Beta2 >= 1 || cfg.Eps <= 0 || cfg.WeightDecay < 0 {
		return nil, fmt.Errorf("adamw: invalid hyper-parameters %+v", cfg)
	}
	o := &AdamW{AdamWConfig: cfg, Params: params, scope: NewNoGradScope()}
	for i, p := range params {
		if !p.Valid() {
			o.Close()
			return nil, fmt.Errorf("adamw: parameter %d is nil or freed", i)
		}
		dt := Float32
		if p.DType() == Float64 {
			dt = Float64
		}
		o.m = append(o.m, o.scope.Zeros(dt, p.Device(), p.Shape()...))
		o.v = append(o.v, o.scope.Zeros(dt, p.Device(), p.Shape()...))
	}
	if err := o.scope.Err(); err != nil {
		o.Close()
		return nil, fmt.Errorf("adamw: %w", err)
	}
	return o, nil
}

// Step applies one update from the parameters' current gradients.
// Parameters with no gradient are left alone.
func (o *AdamW) Step() error {
	if len(o.Params) == 0 {
		o.Steps++
		return nil
	}
	ps, ms, vs := handles(o.Params), handles(o.m), handles(o.v)
	e := C.rt_adamw_step(&ps[0], &ms[0], &vs[0], C.int64_t(len(ps)), C.double(o.LR), C.double(o.Beta1),
		C.double(o.Beta2), C.double(o.Eps), C.double(o.WeightDecay), C.int64_t(o.Steps+1))
	if err := goErr(e); err != nil {
		return fmt.Errorf("adamw step %d: %w", o.Steps+1, err)
	}
	o.Steps++
	return nil
}

// ZeroGrad drops every parameter's gradient.
func (o *AdamW) ZeroGrad() error {
	for _, p := range o.Params {
		if err := p.ZeroGrad(); err != nil {
			return err
		}
	}
	return nil
}

// State returns the optimizer state as named tensors (owned by the
// optimizer: copy or save them, do not free them): "exp_avg.<i>",
// "exp_avg_sq.<i>" per parameter index; Steps is the step count.
func (o *AdamW) State() (names []string, ts []*Tensor) {
	for i := range o.m {
		names = append(names, "exp_avg."+strconv.Itoa(i), "exp_avg_sq."+strconv.Itoa(i))
		ts = append(ts, o.m[i], o.v[i])
	}
	return names, ts
}

// LoadState copies a state saved from State (and its step count) into o.
func (o *AdamW) LoadState(state map[string]*Tensor, steps int64) error {
	for i := range o.m {
		for _, kv := range []struct {
			k string
			t *Tensor
		}{{"exp_avg." + strconv.Itoa(i), o.m[i]}, {"exp_avg_sq." + strconv.Itoa(i), o.v[i]}} {
			src, ok := state[kv.k]
			if !ok {
				return fmt.Errorf("adamw state: missing %s", kv.k)
			}
			if !slices.Equal(src.Shape(), kv.t.Shape()) {
				return fmt.Errorf("adamw state: %s has shape %v, parameter %d has %v", kv.k, src.Shape(), i, kv.t.Shape())
			}
			if err := kv.t.CopyFrom(src); err != nil {
				return fmt.Errorf("adamw state %s: %w", kv.k, err)
			}
		}
	}
	if len(state) != 2*len(o.m) {
		return fmt.Errorf("adamw state: %d entries for %d parameters", len(state), len(o.m))
	}
	o.Steps = steps
	return nil
}

// Close frees the optimizer's state.
func (o *AdamW) Close() { o.scope.Close() }

// ClipGradNorm scales the gradients of params so that their global L2 norm
// is at most maxNorm (as torch.nn.utils.clip_grad_norm_) and returns the
// norm before clipping. maxNorm <= 0 only measures. A non-finite norm is
// returned as is and nothing is scaled.
func ClipGradNorm(params []*Tensor, maxNorm float64) (float64, error) {
	if len(params) == 0 {
		return 0, nil
	}
	for i, p := range params {
		if !p.Valid() {
			return 0, fmt.Errorf("clip_grad_norm: parameter %d is nil or freed", i)
		}
	}
	hs := handles(params)
	var n C.double
	if err := goErr(C.rt_clip_grad_norm(&hs[0], C.int64_t(len(hs)), C.double(maxNorm), &n)); err != nil {
		return 0, fmt.Errorf("clip_grad_norm: %w", err)
	}
	return float64(n), nil
}
