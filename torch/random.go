package torch

// #include "radtorch.h"
import "C"

import (
	"errors"
	"fmt"
	"sync"
)

// Generator is an explicitly seeded random stream (libtorch's CPU
// generator). Numbers are drawn on the CPU and then moved, so a seed gives
// the same numbers on every device. Each user owns its generator: nothing
// is shared between concurrent users. A Generator is safe for concurrent
// use, but then the order of draws is not deterministic.
type Generator struct {
	mu sync.Mutex
	h  C.rt_generator
}

// NewGenerator returns a generator seeded with seed. Close it when done.
func NewGenerator(seed uint64) *Generator {
	var h C.rt_generator
	if err := goErr(C.rt_generator_new(C.uint64_t(seed), &h)); err != nil {
		panic("torch: cannot make a generator: " + err.Error())
	}
	return &Generator{h: h}
}

// Close frees the generator.
func (g *Generator) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.h != nil {
		C.rt_generator_free(g.h)
		g.h = nil
	}
}

// State returns the generator's full state (to save with a checkpoint).
func (g *Generator) State() ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.h == nil {
		return nil, fmt.Errorf("generator is closed")
	}
	var h C.rt_tensor
	if err := goErr(C.rt_generator_get_state(g.h, &h)); err != nil {
		return nil, err
	}
	t := &Tensor{h: h}
	defer t.Free()
	return ToSlice[uint8](t)
}

// SetState restores a state returned by State.
func (g *Generator) SetState(state []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.h == nil {
		return fmt.Errorf("generator is closed")
	}
	s := NewNoGradScope()
	defer s.Close()
	t := FromSlice(s, state)
	if err := s.Err(); err != nil {
		return err
	}
	if err := goErr(C.rt_generator_set_state(g.h, t.h)); err != nil {
		return fmt.Errorf("generator state: %w", err)
	}
	return nil
}

func (s *Scope) random(op string, g *Generator, kind C.int, a, b float64, dt DType, dev Device, shape []int64) *Tensor {
	if !s.ok(op) {
		return nil
	}
	if g == nil {
		s.err = &OpError{Op: op, Err: errors.New("nil generator")}
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.h == nil {
		s.err = &OpError{Op: op, Err: errors.New("generator is closed")}
		return nil
	}
	var h C.rt_tensor
	e := C.rt_random(g.h, kind, int64Ptr(shape), C.int64_t(len(shape)), C.double(a), C.double(b), C.int(dt),
		C.int(dev.Type), C.int(dev.Index), &h)
	return s.result(fmt.Sprintf("%s%v %s %s", op, shape, dt, dev), e, h)
}

// Randn draws standard normal numbers.
func (s *Scope) Randn(g *Generator, dt DType, dev Device, shape ...int64) *Tensor {
	return s.random("randn", g, 0, 0, 1, dt, dev, shape)
}

// Normal draws N(mean, std^2) numbers.
func (s *Scope) Normal(g *Generator, mean, std float64, dt DType, dev Device, shape ...int64) *Tensor {
	return s.random("normal", g, 0, mean, std, dt, dev, shape)
}

// Rand draws uniform numbers in [0, 1).
func (s *Scope) Rand(g *Generator, dt DType, dev Device, shape ...int64) *Tensor {
	return s.random("rand", g, 1, 0, 1, dt, dev, shape)
}

// Uniform draws uniform numbers in [lo, hi).
func (s *Scope) Uniform(g *Generator, lo, hi float64, dt DType, dev Device, shape ...int64) *Tensor {
	return s.random("uniform", g, 1, lo, hi, dt, dev, shape)
}

// RandInt draws integers in [lo, hi) as int64.
func (s *Scope) RandInt(g *Generator, lo, hi int64, dev Device, shape ...int64) *Tensor {
	return s.random("randint", g, 2, float64(lo), float64(hi), Int64, dev, shape)
}
