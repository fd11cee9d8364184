package torch

// #include "radtorch.h"
import "C"

import (
	"errors"
	"fmt"
	"strings"
)

// ErrOutOfMemory is matched (errors.Is) by every error of an allocation
// that failed: CUDA out of memory, the CPU allocator's "not enough
// memory", std::bad_alloc. A service tells it from bad input this way.
var ErrOutOfMemory = errors.New("out of memory")

// oomTag starts a shim error message of an allocation failure (kOOMTag in
// shim.h).
const oomTag = "\x01oom\x01"

// shimError is a message from libtorch, through the shim.
type shimError struct {
	msg string
	oom bool
}

func (e *shimError) Error() string { return e.msg }

// Is makes errors.Is(err, ErrOutOfMemory) true for allocation failures.
func (e *shimError) Is(target error) bool { return e.oom && target == ErrOutOfMemory }

// OpError is the error of one tensor op: its name, the shapes of its inputs
// and libtorch's (or the binding's) reason. Scope.Err returns it for the
// first op that failed; errors.As finds it under wrapping.
type OpError struct {
	Op     string    // the op's name, as PyTorch spells it ("conv2d", "add")
	Shapes [][]int64 // the shapes of the op's tensor inputs (nil for a nil input)
	Err    error     // the reason; errors.Is(Err, ErrOutOfMemory) for allocation failures
}

func (e *OpError) Error() string {
	if e.Shapes == nil {
		return fmt.Sprintf("%s: %v", e.Op, e.Err)
	}
	parts := make([]string, len(e.Shapes))
	for i, s := range e.Shapes {
		parts[i] = fmt.Sprint(s)
	}
	return fmt.Sprintf("%s(%s): %v", e.Op, strings.Join(parts, ", "), e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// opError builds the OpError of op on inputs in (nil and freed inputs
// have a nil shape).
func opError(op string, err error, in ...*Tensor) *OpError {
	shapes := make([][]int64, len(in))
	for i, t := range in {
		if t != nil && t.h != nil {
			shapes[i] = t.Shape()
		}
	}
	return &OpError{Op: op, Shapes: shapes, Err: err}
}

// goErr turns a shim error (freeing it) into a Go error; nil for none.
func goErr(e C.rt_error) error {
	if e == nil {
		return nil
	}
	msg := C.GoString(e)
	C.rt_free_error(e)
	if strings.HasPrefix(msg, oomTag) {
		return &shimError{msg: msg[len(oomTag):], oom: true}
	}
	return &shimError{msg: msg}
}
