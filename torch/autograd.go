package torch

// #include "radtorch.h"
import "C"

import "fmt"

// SetRequiresGrad makes autograd track t (a leaf) or stop tracking it.
func (t *Tensor) SetRequiresGrad(on bool) error {
	if !t.Valid() {
		return fmt.Errorf("set_requires_grad: nil or freed tensor")
	}
	return goErr(C.rt_set_requires_grad(t.h, cbool(on)))
}

// Backward accumulates d(t)/d(leaf) into the .grad of every leaf that
// requires grad. t must be a scalar (one element).
func (t *Tensor) Backward() error { return t.BackwardWith(nil, false) }

// BackwardWith back-propagates with an explicit output gradient (nil for a
// scalar t), keeping the graph when retain is true.
func (t *Tensor) BackwardWith(grad *Tensor, retain bool) error {
	if !t.Valid() {
		return fmt.Errorf("backward: nil or freed tensor")
	}
	var gh C.rt_tensor
	if grad != nil {
		gh = grad.h
	}
	if err := goErr(C.rt_backward(t.h, gh, cbool(retain))); err != nil {
		return fmt.Errorf("backward of %v: %w", t.Shape(), err)
	}
	return nil
}

// Grad returns t's accumulated gradient as a new handle owned by s (sharing
// the gradient's storage), or nil when t has none.
func (s *Scope) Grad(t *Tensor) *Tensor {
	if !s.ok("grad", t) {
		return nil
	}
	var h C.rt_tensor
	if e := C.rt_grad(t.h, &h); e != nil {
		s.err = &OpError{Op: "grad", Err: goErr(e)}
		return nil
	}
	if h == nil {
		return nil
	}
	return s.track(h)
}

// ZeroGrad drops t's gradient (as optimizer.zero_grad(set_to_none=True)).
func (t *Tensor) ZeroGrad() error {
	if !t.Valid() {
		return fmt.Errorf("zero_grad: nil or freed tensor")
	}
	return goErr(C.rt_zero_grad(t.h, 1))
}

// In-place updates. They never record autograd, so they serve optimizers,
// EMA and buffers; each returns an error naming the shapes on mismatch.

func (t *Tensor) inplace(op string, code C.int, u *Tensor) error {
	if !t.Valid() || !u.Valid() {
		return fmt.Errorf("%s: nil or freed tensor", op)
	}
	if err := goErr(C.rt_inplace(code, t.h, u.h)); err != nil {
		return fmt.Errorf("%s(%v, %v): %w", op, t.Shape(), u.Shape(), err)
	}
	return nil
}

func (t *Tensor) inplaceScalar(op string, code C.int, v float64) error {
	if !t.Valid() {
		return fmt.Errorf("%s: nil or freed tensor", op)
	}
	return goErr(C.rt_inplace_scalar(code, t.h, C.double(v)))
}

// CopyFrom copies u into t (broadcasting, converting dtype and device).
func (t *Tensor) CopyFrom(u *Tensor) error { return t.inplace("copy_", C.RT_ICOPY, u) }

// AddInPlace is t += u.
func (t *Tensor) AddInPlace(u *Tensor) error { return t.inplace("add_", C.RT_IADD, u) }

// SubInPlace is t -= u.
func (t *Tensor) SubInPlace(u *Tensor) error { return t.inplace("sub_", C.RT_ISUB, u) }

// MulInPlace is t *= u.
func (t *Tensor) MulInPlace(u *Tensor) error { return t.inplace("mul_", C.RT_IMUL, u) }

// ScaleInPlace is t *= v.
func (t *Tensor) ScaleInPlace(v float64) error { return t.inplaceScalar("mul_", C.RT_IMUL, v) }

// AddScalarInPlace is t += v.
func (t *Tensor) AddScalarInPlace(v float64) error { return t.inplaceScalar("add_", C.RT_IADD, v) }

// Fill sets every element to v.
func (t *Tensor) Fill(v float64) error { return t.inplaceScalar("fill_", C.RT_IFILL, v) }

// Zero sets every element to 0.
func (t *Tensor) Zero() error { return t.inplaceScalar("zero_", C.RT_IZERO, 0) }

// LerpInPlace is t += w*(u - t): an EMA update with w = 1 - decay.
func (t *Tensor) LerpInPlace(u *Tensor, w float64) error {
	if !t.Valid() || !u.Valid() {
		return fmt.Errorf("lerp_: nil or freed tensor")
	}
	if err := goErr(C.rt_inplace_lerp(t.h, u.h, C.double(w))); err != nil {
		return fmt.Errorf("lerp_(%v, %v): %w", t.Shape(), u.Shape(), err)
	}
	return nil
}
