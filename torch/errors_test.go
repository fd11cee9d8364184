package torch

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An allocation larger than any machine's memory fails with an error that
// errors.Is(ErrOutOfMemory) recognises, as an *OpError naming the op.
func TestOutOfMemoryError(t *testing.T) {
	s := NewNoGradScope()
	defer s.Close()
	require.Nil(t, s.Empty(Float32, CPU, 1<<40), "a 4 TiB tensor was allocated") // 4 TiB
	err := s.Err()
	require.ErrorIs(t, err, ErrOutOfMemory)
	var op *OpError
	require.ErrorAs(t, err, &op)
	assert.Contains(t, op.Op, "empty")
	assert.NotContains(t, err.Error(), oomTag, "the shim's tag leaked into the message")
}

// A shape mismatch is an *OpError with the op's name and input shapes, and
// not an out-of-memory error.
func TestOpErrorShapes(t *testing.T) {
	s := NewNoGradScope()
	defer s.Close()
	require.Nil(t, s.Matmul(s.Zeros(Float32, CPU, 2, 3), s.Zeros(Float32, CPU, 4, 5)))
	var op *OpError
	require.ErrorAs(t, s.Err(), &op)
	assert.Equal(t, "matmul", op.Op)
	assert.Equal(t, [][]int64{{2, 3}, {4, 5}}, op.Shapes)
	assert.NotErrorIs(t, s.Err(), ErrOutOfMemory)
	assert.Contains(t, op.Error(), "matmul([2 3], [4 5])")
}

// Metadata of a failed op's result (nil) and of a freed tensor is the zero
// value, never a panic.
func TestNilTensorMetadata(t *testing.T) {
	s := NewNoGradScope()
	defer s.Close()
	freed := s.Zeros(Float32, CPU, 2)
	freed.Free()
	for name, x := range map[string]*Tensor{"nil": nil, "freed": freed} {
		assert.False(t, x.Valid(), name)
		assert.Zero(t, x.Dim(), name)
		assert.Nil(t, x.Shape(), name)
		assert.Zero(t, x.Size(0), name)
		assert.Zero(t, x.Size(-1), name)
		assert.Zero(t, x.Numel(), name)
		assert.Equal(t, InvalidDType, x.DType(), name)
		assert.Equal(t, "invalid", x.DType().String(), name)
		assert.Equal(t, Device{}, x.Device(), name)
		assert.False(t, x.IsContiguous(), name)
		assert.False(t, x.RequiresGrad(), name)
		assert.Zero(t, x.DataPtr(), name)
		assert.Equal(t, "Tensor(freed)", x.String(), name)
	}
}
