package torch

// #include "radtorch.h"
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// Mode is the libtorch thread-local state that a scope's ops run under.
// It is passed into every shim call, so it holds whatever OS thread the
// calling goroutine is on.
type Mode int

const (
	// ModeGrad records operations for autograd (PyTorch's default).
	ModeGrad Mode = C.RT_MODE_GRAD
	// ModeInference runs under c10::InferenceMode (no autograd at all).
	ModeInference Mode = C.RT_MODE_INFERENCE
	// ModeAutocastF16 and ModeAutocastBF16 run eligible CUDA ops (and, for
	// bfloat16, CPU ops) in reduced precision, as torch.autocast does.
	ModeAutocastF16  Mode = C.RT_MODE_AUTOCAST_F16
	ModeAutocastBF16 Mode = C.RT_MODE_AUTOCAST_BF16
)

// Scope owns the tensors made through it and frees all of them, at once
// and deterministically, on Close. Go's garbage collector never frees
// libtorch memory.
//
// Ops are methods of the scope. A scope records the first error of any op
// (a shape mismatch, a wrong dtype, a missing device) and then every later
// op returns nil without calling libtorch, so a sequence of ops is written
// without error checks and checked once with Err, like bufio.Scanner.
//
// A Scope is not safe for concurrent use: each goroutine uses its own
// (children of a shared parent are fine).
type Scope struct {
	parent *Scope
	ts     []*Tensor
	mode   Mode
	err    error
	closed bool
}

// NewScope returns a root scope whose ops record autograd (ModeGrad).
func NewScope() *Scope { return &Scope{mode: ModeGrad} }

// NewNoGradScope returns a root scope whose ops do not record autograd.
func NewNoGradScope() *Scope { return &Scope{mode: 0} }

// Child returns a scope with the same mode whose Keep moves tensors into s.
func (s *Scope) Child() *Scope { return &Scope{parent: s, mode: s.mode} }

// Mode returns the scope's mode bits.
func (s *Scope) Mode() Mode { return s.mode }

// SetMode replaces the scope's mode bits and returns s.
func (s *Scope) SetMode(m Mode) *Scope { s.mode = m; return s }

// SetGrad turns autograd recording on or off for later ops of s.
func (s *Scope) SetGrad(on bool) *Scope {
	if on {
		s.mode |= ModeGrad
	} else {
		s.mode &^= ModeGrad
	}
	return s
}

// SetInference turns c10::InferenceMode on or off for later ops of s.
func (s *Scope) SetInference(on bool) *Scope {
	if on {
		s.mode |= ModeInference
		s.mode &^= ModeGrad
	} else {
		s.mode &^= ModeInference
	}
	return s
}

// SetAutocast enables autocast to dt (Float16 or BFloat16), or disables it
// for any other dtype.
func (s *Scope) SetAutocast(dt DType) *Scope {
	s.mode &^= ModeAutocastF16 | ModeAutocastBF16
	switch dt {
	case Float16:
		s.mode |= ModeAutocastF16
	case BFloat16:
		s.mode |= ModeAutocastBF16
	}
	return s
}

// Err returns the first error of any op of s.
func (s *Scope) Err() error { return s.err }

// SetErr records err (if s has none yet) and returns the recorded error.
func (s *Scope) SetErr(err error) error {
	if s.err == nil && err != nil {
		s.err = err
	}
	return s.err
}

// ClearErr forgets the recorded error so that s can be used again.
func (s *Scope) ClearErr() { s.err = nil }

// Len is the number of tensors s owns now.
func (s *Scope) Len() int {
	n := 0
	for _, t := range s.ts {
		if t != nil {
			n++
		}
	}
	return n
}

// Close frees every tensor s still owns. It is safe to call twice.
func (s *Scope) Close() {
	if s.closed {
		return
	}
	s.closed = true
	hs := make([]C.rt_tensor, 0, len(s.ts))
	for _, t := range s.ts {
		if t != nil && t.h != nil {
			hs = append(hs, t.h)
			t.h = nil
			t.owner = nil
			if t.leak != nil {
				t.leak.freed = true
			}
		}
	}
	if len(hs) > 0 {
		C.rt_free_many(&hs[0], C.int64_t(len(hs)))
	}
	s.ts = nil
}

// Keep takes t out of s: it moves to s's parent when s has one, and
// otherwise belongs to no scope and must be freed with Free (or adopted
// with Adopt). It returns t.
func (s *Scope) Keep(t *Tensor) *Tensor {
	if t == nil || t.owner != s {
		return t
	}
	s.ts[t.slot] = nil
	t.owner = nil
	if s.parent != nil {
		s.parent.adopt(t)
	}
	return t
}

// Adopt makes s the owner of t (taking it from any other scope).
func (s *Scope) Adopt(t *Tensor) *Tensor {
	if t == nil || t.owner == s {
		return t
	}
	if t.owner != nil {
		t.owner.ts[t.slot] = nil
		t.owner = nil
	}
	s.adopt(t)
	return t
}

func (s *Scope) adopt(t *Tensor) {
	if s.closed {
		// adopting into a closed scope frees at once
		t.Free()
		return
	}
	t.owner = s
	t.slot = len(s.ts)
	s.ts = append(s.ts, t)
}

// leak detection: finalizers only count tensors that became unreachable
// while still holding libtorch memory; they never free it.
var (
	leakCheck = os.Getenv("RADTORCH_LEAKCHECK") != ""
	leaked    atomic.Int64
)

// SetLeakCheck turns the finalizer-based leak detector on or off for
// tensors made afterwards (also on with RADTORCH_LEAKCHECK=1).
func SetLeakCheck(on bool) { leakCheck = on }

// Leaked is the number of tensors the leak detector saw become unreachable
// without being freed.
func Leaked() int64 { return leaked.Load() }

// leakMark carries the finalizer. It hangs off the tensor and points to
// nothing, so it is never part of the tensor<->scope cycle (a finalizer on
// an object in a cycle would never run).
type leakMark struct{ freed bool }

func leakFinalizer(m *leakMark) {
	if !m.freed {
		leaked.Add(1)
	}
}

// track wraps a new handle into a tensor owned by s.
func (s *Scope) track(h C.rt_tensor) *Tensor {
	t := &Tensor{h: h}
	if leakCheck {
		t.leak = &leakMark{}
		runtime.SetFinalizer(t.leak, leakFinalizer)
	}
	s.adopt(t)
	return t
}

// errClosed is returned when a closed scope is used.
var errClosed = errors.New("torch: scope is closed")

// ok reports whether an op may run: s is usable and every input is live.
func (s *Scope) ok(op string, ts ...*Tensor) bool {
	if s.err != nil {
		return false
	}
	if s.closed {
		s.err = &OpError{Op: op, Err: errClosed}
		return false
	}
	for i, t := range ts {
		if t == nil {
			s.err = &OpError{Op: op, Err: fmt.Errorf("input %d is nil", i)}
			return false
		}
		if t.h == nil {
			s.err = &OpError{Op: op, Err: fmt.Errorf("input %d was freed", i)}
			return false
		}
	}
	return true
}

// result records the outcome of a shim call that made one tensor.
func (s *Scope) result(op string, e C.rt_error, h C.rt_tensor) *Tensor {
	if e != nil {
		s.err = &OpError{Op: op, Err: goErr(e)}
		return nil
	}
	return s.track(h)
}

// handles collects the handles of ts for a shim call.
func handles(ts []*Tensor) []C.rt_tensor {
	hs := make([]C.rt_tensor, len(ts))
	for i, t := range ts {
		hs[i] = t.h
	}
	return hs
}

func handlePtr(hs []C.rt_tensor) *C.rt_tensor {
	if len(hs) == 0 {
		return nil
	}
	return (*C.rt_tensor)(unsafe.Pointer(&hs[0]))
}
