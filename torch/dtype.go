package torch

// #include "radtorch.h"
import "C"

import (
	"fmt"
	"strconv"
	"strings"
)

// DType is an element type. Its values are the shim's own codes.
type DType int

const (
	Float32  DType = C.RT_F32
	Float64  DType = C.RT_F64
	Float16  DType = C.RT_F16
	BFloat16 DType = C.RT_BF16
	Int64    DType = C.RT_I64
	Int32    DType = C.RT_I32
	Uint8    DType = C.RT_U8
	Bool     DType = C.RT_BOOL
	Int8     DType = C.RT_I8
	Int16    DType = C.RT_I16

	// InvalidDType is the dtype of a nil or freed tensor.
	InvalidDType DType = -1
)

var dtypeNames = map[DType]string{
	Float32: "float32", Float64: "float64", Float16: "float16", BFloat16: "bfloat16",
	Int64: "int64", Int32: "int32", Uint8: "uint8", Bool: "bool", Int8: "int8", Int16: "int16", InvalidDType: "invalid",
}

var dtypeSizes = map[DType]int{
	Float32: 4, Float64: 8, Float16: 2, BFloat16: 2, Int64: 8, Int32: 4, Uint8: 1, Bool: 1, Int8: 1, Int16: 2,
}

func (d DType) String() string {
	if n, ok := dtypeNames[d]; ok {
		return n
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// Size is the size of one element in bytes (0 for an unknown dtype).
func (d DType) Size() int { return dtypeSizes[d] }

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	return d == Float32 || d == Float64 || d == Float16 || d == BFloat16
}

// ParseDType reads "float32", "fp16", "bf16", "int64", ...
func ParseDType(s string) (DType, error) {
	switch strings.ToLower(s) {
	case "float32", "f32", "fp32", "float":
		return Float32, nil
	case "float64", "f64", "fp64", "double":
		return Float64, nil
	case "float16", "f16", "fp16", "half":
		return Float16, nil
	case "bfloat16", "bf16":
		return BFloat16, nil
	case "int64", "long":
		return Int64, nil
	case "int32", "int":
		return Int32, nil
	case "uint8", "byte":
		return Uint8, nil
	case "bool":
		return Bool, nil
	case "int8":
		return Int8, nil
	case "int16":
		return Int16, nil
	}
	return 0, fmt.Errorf("unknown dtype %q", s)
}

// DeviceType is CPU or CUDA.
type DeviceType int

const (
	CPUType  DeviceType = C.RT_CPU
	CUDAType DeviceType = C.RT_CUDA
)

// Device names a device: CPU, or CUDA with an index.
type Device struct {
	Type  DeviceType
	Index int
}

// CPU is the host device.
var CPU = Device{Type: CPUType}

// CUDA returns the CUDA device with index i.
func CUDA(i int) Device { return Device{Type: CUDAType, Index: i} }

func (d Device) String() string {
	if d.Type == CUDAType {
		return "cuda:" + strconv.Itoa(d.Index)
	}
	return "cpu"
}

// IsCUDA reports whether d is a CUDA device.
func (d Device) IsCUDA() bool { return d.Type == CUDAType }

// ParseDevice reads "cpu", "cuda" (= cuda:0) or "cuda:N". It checks the
// syntax only; Validate checks that the device exists.
func ParseDevice(s string) (Device, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "" || s == "cpu":
		return CPU, nil
	case s == "cuda" || s == "gpu":
		return CUDA(0), nil
	case strings.HasPrefix(s, "cuda:"):
		i, err := strconv.Atoi(s[5:])
		if err != nil || i < 0 {
			return Device{}, fmt.Errorf("bad device %q: want cpu, cuda or cuda:N", s)
		}
		return CUDA(i), nil
	}
	return Device{}, fmt.Errorf("unknown device %q: want cpu, cuda or cuda:N", s)
}

// Validate returns an error when the device does not exist on this machine.
func (d Device) Validate() error {
	switch d.Type {
	case CPUType:
		return nil
	case CUDAType:
		n := CUDADeviceCount()
		if n == 0 {
			return fmt.Errorf("device %s: CUDA is not available (libtorch %s, no CUDA device)", d, Version())
		}
		if d.Index < 0 || d.Index >= n {
			return fmt.Errorf("device %s does not exist: %d CUDA device(s)", d, n)
		}
		return nil
	}
	return fmt.Errorf("unknown device type %d", int(d.Type))
}
