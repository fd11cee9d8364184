package torch

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SiLUInPlace and AddInPlace write into their first input and return a
// handle on the same storage; ContiguousChannelsLast keeps shape and values.
func TestInPlaceOpsAndChannelsLast(t *testing.T) {
	s := NewNoGradScope().SetInference(true)
	defer s.Close()
	a := f32(s, []float32{-2, -1, 0, 1, 2, 3}, 1, 6, 1, 1)
	want := vals(t, s.SiLU(a))
	b := s.SiLUInPlace(a)
	require.NoError(t, s.Err())
	assert.Equal(t, a.DataPtr(), b.DataPtr(), "silu_ made a new buffer")
	near(t, "silu_", vals(t, b), want, 0)
	c := s.AddInPlace(b, s.Ones(Float32, CPU, 1))
	require.NoError(t, s.Err())
	assert.Equal(t, a.DataPtr(), c.DataPtr(), "add_ made a new buffer")
	for i := range want {
		want[i]++
	}
	near(t, "add_", vals(t, a), want, 1e-7)

	x := s.Arange(0, 24, 1, Float32, CPU)
	x4 := s.Reshape(x, 1, 2, 3, 4)
	cl := s.ContiguousChannelsLast(x4)
	require.NoError(t, s.Err())
	assert.Equal(t, []int64{1, 2, 3, 4}, cl.Shape())
	assert.False(t, cl.IsContiguous(), "channels-last is not NCHW-contiguous")
	near(t, "channels-last", vals(t, cl), vals(t, x4), 0)
	assert.True(t, s.Contiguous(cl).IsContiguous())

	// under autograd, an in-place op on a leaf that requires grad is an
	// error, not a crash
	g := NewScope()
	defer g.Close()
	l := g.Ones(Float32, CPU, 3)
	require.NoError(t, l.SetRequiresGrad(true))
	assert.Nil(t, g.SiLUInPlace(l))
	var op *OpError
	assert.ErrorAs(t, g.Err(), &op)
}

// glibc takes the arena count (the shim sets 1 at load; this sets it again).
func TestSetMallocArenas(t *testing.T) {
	assert.True(t, SetMallocArenas(1), "glibc refused M_ARENA_MAX")
}
