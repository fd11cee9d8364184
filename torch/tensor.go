package torch

// #include "radtorch.h"
import "C"

import (
	"fmt"
	"strings"
	"unsafe"
)

// Tensor is a handle to a libtorch tensor. It belongs to the scope that
// made it (or to none after Keep) and is freed with that scope.
// Metadata methods on a freed tensor panic: that is a programmer error.
type Tensor struct {
	h     C.rt_tensor
	owner *Scope
	slot  int
	leak  *leakMark // only with the leak detector on
}

// Free releases t now. Freeing twice, or a nil tensor, does nothing.
func (t *Tensor) Free() {
	if t == nil || t.h == nil {
		return
	}
	if t.owner != nil {
		t.owner.ts[t.slot] = nil
		t.owner = nil
	}
	C.rt_free(t.h)
	t.h = nil
	if t.leak != nil {
		t.leak.freed = true
	}
}

// Valid reports whether t is non-nil and not freed.
func (t *Tensor) Valid() bool { return t != nil && t.h != nil }

// Metadata of a nil or freed tensor (the result of a failed op) is the
// zero value: Dim 0, Shape nil, Size 0, Numel 0, DType InvalidDType, the
// CPU device, false, 0. It never panics: the scope's Err says what failed.

// Dim is the number of dimensions.
func (t *Tensor) Dim() int {
	if !t.Valid() {
		return 0
	}
	return int(C.rt_dim(t.h))
}

// Shape returns the sizes of t.
func (t *Tensor) Shape() []int64 {
	if !t.Valid() {
		return nil
	}
	var buf [16]int64
	n := int64(C.rt_shape(t.h, (*C.int64_t)(unsafe.Pointer(&buf[0])), 16))
	if n <= 16 {
		return append([]int64(nil), buf[:n]...)
	}
	out := make([]int64, n)
	C.rt_shape(t.h, (*C.int64_t)(unsafe.Pointer(&out[0])), C.int64_t(n))
	return out
}

// Size returns the size of dimension d (negative d counts from the end).
// A dimension out of range is a programming error and panics, except on a
// nil or freed tensor, whose sizes are all 0.
func (t *Tensor) Size(d int) int64 {
	if !t.Valid() {
		return 0
	}
	s := t.Shape()
	if d < 0 {
		d += len(s)
	}
	if d < 0 || d >= len(s) {
		panic(fmt.Sprintf("torch: dim %d out of range for shape %v", d, s))
	}
	return s[d]
}

// Numel is the number of elements.
func (t *Tensor) Numel() int64 {
	if !t.Valid() {
		return 0
	}
	return int64(C.rt_numel(t.h))
}

// DType is the element type (InvalidDType for a nil or freed tensor).
func (t *Tensor) DType() DType {
	if !t.Valid() {
		return InvalidDType
	}
	return DType(C.rt_dtype(t.h))
}

// Device is where the data lives.
func (t *Tensor) Device() Device {
	if !t.Valid() {
		return Device{}
	}
	var ty, idx C.int
	C.rt_device(t.h, &ty, &idx)
	return Device{Type: DeviceType(ty), Index: int(idx)}
}

// IsContiguous reports whether t is contiguous in C order.
func (t *Tensor) IsContiguous() bool { return t.Valid() && C.rt_is_contiguous(t.h) != 0 }

// RequiresGrad reports whether autograd tracks t.
func (t *Tensor) RequiresGrad() bool { return t.Valid() && C.rt_requires_grad(t.h) != 0 }

// DataPtr is the address of t's data (for identity checks only; 0 for a
// nil or freed tensor).
func (t *Tensor) DataPtr() uintptr {
	if !t.Valid() {
		return 0
	}
	return uintptr(C.rt_data_ptr(t.h))
}

func (t *Tensor) String() string {
	if t == nil || t.h == nil {
		return "Tensor(freed)"
	}
	dims := make([]string, 0, 4)
	for _, d := range t.Shape() {
		dims = append(dims, fmt.Sprint(d))
	}
	return fmt.Sprintf("Tensor[%s](%s, %s)", strings.Join(dims, ","), t.DType(), t.Device())
}

// Element is the set of Go types that map onto a dtype.
type Element interface {
	~float32 | ~float64 | ~int64 | ~int32 | ~uint8 | ~bool | ~int8 | ~int16
}

// DTypeOf returns the dtype of Go element type E.
func DTypeOf[E Element]() DType {
	var z E
	switch any(z).(type) {
	case float32:
		return Float32
	case float64:
		return Float64
	case int64:
		return Int64
	case int32:
		return Int32
	case uint8:
		return Uint8
	case bool:
		return Bool
	case int8:
		return Int8
	case int16:
		return Int16
	}
	panic("torch: unsupported element type")
}

// FromSlice copies data into a new CPU tensor of the given shape, owned by s.
// With no shape the tensor is 1-D.
func FromSlice[E Element](s *Scope, data []E, shape ...int64) *Tensor {
	return FromSliceOn(s, CPU, data, shape...)
}

// FromSliceOn is FromSlice onto device dev.
func FromSliceOn[E Element](s *Scope, dev Device, data []E, shape ...int64) *Tensor {
	if !s.ok("from_slice") {
		return nil
	}
	if len(shape) == 0 {
		shape = []int64{int64(len(data))}
	}
	dt := DTypeOf[E]()
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	var h C.rt_tensor
	e := C.rt_from_host(p, C.size_t(len(data)*dt.Size()), C.int(dt), int64Ptr(shape), C.int64_t(len(shape)),
		C.int(dev.Type), C.int(dev.Index), &h)
	return s.result(fmt.Sprintf("from_slice %v", shape), e, h)
}

// FromBytes makes a tensor of dtype dt and shape from raw little-endian bytes.
func FromBytes(s *Scope, data []byte, dt DType, shape ...int64) *Tensor {
	if !s.ok("from_bytes") {
		return nil
	}
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	var h C.rt_tensor
	e := C.rt_from_host(p, C.size_t(len(data)), C.int(dt), int64Ptr(shape), C.int64_t(len(shape)), C.int(CPUType), 0, &h)
	return s.result(fmt.Sprintf("from_bytes %v %s", shape, dt), e, h)
}

// Scalar makes a 0-dim tensor holding v as dtype dt on CPU.
func (s *Scope) Scalar(v float64, dt DType) *Tensor {
	return s.Full(v, dt, CPU)
}

// ToSlice copies t (any device) into a new Go slice. E must match t's dtype.
func ToSlice[E Element](t *Tensor) ([]E, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("to_slice: nil or freed tensor")
	}
	dt := DTypeOf[E]()
	if t.DType() != dt {
		return nil, fmt.Errorf("to_slice: tensor is %s, asked for %s", t.DType(), dt)
	}
	out := make([]E, t.Numel())
	var p unsafe.Pointer
	if len(out) > 0 {
		p = unsafe.Pointer(&out[0])
	}
	if err := goErr(C.rt_to_host(t.h, p, C.size_t(len(out)*dt.Size()))); err != nil {
		return nil, fmt.Errorf("to_slice: %w", err)
	}
	return out, nil
}

// Bytes copies t's elements (C order, its own dtype) into a byte slice.
func (t *Tensor) Bytes() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("bytes: nil or freed tensor")
	}
	out := make([]byte, int(t.Numel())*t.DType().Size())
	var p unsafe.Pointer
	if len(out) > 0 {
		p = unsafe.Pointer(&out[0])
	}
	if err := goErr(C.rt_to_host(t.h, p, C.size_t(len(out)))); err != nil {
		return nil, fmt.Errorf("bytes: %w", err)
	}
	return out, nil
}

// converted copies t as dtype dt into a temporary scope's tensor.
func convertedSlice[E Element](t *Tensor) ([]E, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("nil or freed tensor")
	}
	dt := DTypeOf[E]()
	if t.DType() == dt {
		return ToSlice[E](t)
	}
	s := NewNoGradScope()
	defer s.Close()
	c := s.To(t, dt)
	if err := s.Err(); err != nil {
		return nil, err
	}
	return ToSlice[E](c)
}

// Float32s returns t's elements converted to float32.
func (t *Tensor) Float32s() ([]float32, error) { return convertedSlice[float32](t) }

// Float64s returns t's elements converted to float64.
func (t *Tensor) Float64s() ([]float64, error) { return convertedSlice[float64](t) }

// Int64s returns t's elements converted to int64.
func (t *Tensor) Int64s() ([]int64, error) { return convertedSlice[int64](t) }

// Bools returns t's elements converted to bool.
func (t *Tensor) Bools() ([]bool, error) { return convertedSlice[bool](t) }

// Item returns the value of a one-element tensor as float64.
func (t *Tensor) Item() (float64, error) {
	if !t.Valid() {
		return 0, fmt.Errorf("item: nil or freed tensor")
	}
	var v C.double
	if err := goErr(C.rt_item(t.h, &v)); err != nil {
		return 0, err
	}
	return float64(v), nil
}
