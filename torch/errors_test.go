package torch

import (
	"errors"
	"strings"
	"testing"
)

// An allocation larger than any machine's memory fails with an error that
// errors.Is(ErrOutOfMemory) recognises, as an *OpError naming the op.
func TestOutOfMemoryError(t *testing.T) {
	s := NewNoGradScope()
	defer s.Close()
	x := s.Empty(Float32, CPU, 1<<40) // 4 TiB
	if x != nil {
		t.Fatalf("a 4 TiB tensor was allocated: %v", x)
	}
	err := s.Err()
	if !errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("errors.Is(%v, ErrOutOfMemory) = false", err)
	}
	var op *OpError
	if !errors.As(err, &op) || !strings.HasPrefix(op.Op, "empty") {
		t.Fatalf("want an *OpError of empty, got %T %v", err, err)
	}
	if strings.Contains(err.Error(), oomTag) {
		t.Fatalf("the shim's tag leaked into the message: %q", err)
	}
}

// A shape mismatch is an *OpError with the op's name and input shapes, and
// not an out-of-memory error.
func TestOpErrorShapes(t *testing.T) {
	s := NewNoGradScope()
	defer s.Close()
	a := s.Zeros(Float32, CPU, 2, 3)
	b := s.Zeros(Float32, CPU, 4, 5)
	if c := s.Matmul(a, b); c != nil {
		t.Fatal("matmul of 2x3 by 4x5 succeeded")
	}
	var op *OpError
	if !errors.As(s.Err(), &op) {
		t.Fatalf("want *OpError, got %T %v", s.Err(), s.Err())
	}
	if op.Op != "matmul" || len(op.Shapes) != 2 || op.Shapes[0][1] != 3 || op.Shapes[1][0] != 4 {
		t.Fatalf("OpError = %+v", op)
	}
	if errors.Is(s.Err(), ErrOutOfMemory) {
		t.Fatal("a shape error reads as out of memory")
	}
	if !strings.Contains(op.Error(), "matmul([2 3], [4 5])") {
		t.Fatalf("message %q does not name the op and shapes", op.Error())
	}
}

// Metadata of a failed op's result (nil) and of a freed tensor is the zero
// value, never a panic.
func TestNilTensorMetadata(t *testing.T) {
	s := NewNoGradScope()
	defer s.Close()
	freed := s.Zeros(Float32, CPU, 2)
	freed.Free()
	for _, x := range []*Tensor{nil, freed} {
		if x.Dim() != 0 || x.Shape() != nil || x.Size(0) != 0 || x.Size(-1) != 0 || x.Numel() != 0 ||
			x.DType() != InvalidDType || x.Device() != (Device{}) || x.IsContiguous() || x.RequiresGrad() ||
			x.DataPtr() != 0 || x.Valid() {
			t.Fatalf("metadata of %v is not the zero value", x)
		}
		if x.String() != "Tensor(freed)" || x.DType().String() != "invalid" {
			t.Fatalf("String = %q, dtype %q", x.String(), x.DType())
		}
	}
}
