package torch

// #include "radtorch.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// NumThreads is libtorch's intra-op thread count.
func NumThreads() int { return int(C.rt_get_num_threads()) }

// SetNumThreads sets libtorch's intra-op thread count (>= 1) and, where
// libtorch's BLAS is OpenBLAS, OpenBLAS's own thread pool to the same
// count unless OPENBLAS_NUM_THREADS or GOTO_NUM_THREADS is set.
func SetNumThreads(n int) error { return goErr(C.rt_set_num_threads(C.int(n))) }

// BLASThreads is OpenBLAS's own thread count, or -1 when libtorch's BLAS
// is not OpenBLAS or is OpenBLAS's serial build.
func BLASThreads() int { return int(C.rt_blas_threads()) }

// ManualSeed seeds libtorch's global generators. The project's own random
// ops take explicit Generators instead; this only matters for libtorch
// internals such as TorchScript modules that draw random numbers.
func ManualSeed(seed uint64) error { return goErr(C.rt_manual_seed(C.uint64_t(seed))) }

// CUDAAvailable reports whether libtorch can use a CUDA device.
func CUDAAvailable() bool { return C.rt_cuda_is_available() != 0 }

// CUDADeviceCount is the number of CUDA devices (0 without CUDA).
func CUDADeviceCount() int { return int(C.rt_cuda_device_count()) }

// CUDASynchronize waits for all work on device i (-1: the current device).
func CUDASynchronize(i int) error { return goErr(C.rt_cuda_synchronize(C.int(i))) }

// CUDADeviceName is the name of CUDA device i.
func CUDADeviceName(i int) (string, error) {
	buf := make([]byte, 256)
	if err := goErr(C.rt_cuda_device_name(C.int(i), (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))); err != nil {
		return "", err
	}
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0]))), nil
}

// MemoryStats are the CUDA caching allocator's counters, in bytes.
type MemoryStats struct {
	Allocated, Reserved, PeakAllocated int64
}

// CUDAMemoryStats reads device i's allocator statistics.
func CUDAMemoryStats(i int) (MemoryStats, error) {
	var a, r, p C.int64_t
	if err := goErr(C.rt_cuda_memory_stats(C.int(i), &a, &r, &p)); err != nil {
		return MemoryStats{}, fmt.Errorf("memory stats of cuda:%d: %w", i, err)
	}
	return MemoryStats{Allocated: int64(a), Reserved: int64(r), PeakAllocated: int64(p)}, nil
}

// CUDAEmptyCache returns cached, unused CUDA memory to the driver.
func CUDAEmptyCache() error { return goErr(C.rt_cuda_empty_cache()) }

// SetAllowTF32 lets CUDA matmuls and convolutions use TF32 (faster on
// Ampere and later, about 1e-3 relative error) or forbids it. It is
// process-wide; libtorch allows TF32 in cuDNN convolutions by default.
func SetAllowTF32(on bool) { C.rt_set_allow_tf32(cbool(on)) }

// AllowTF32 reports whether both cuBLAS and cuDNN may use TF32.
func AllowTF32() bool { return C.rt_get_allow_tf32() != 0 }

// Devices lists the usable devices: cpu, then every CUDA device.
func Devices() []Device {
	ds := []Device{CPU}
	for i := 0; i < CUDADeviceCount(); i++ {
		ds = append(ds, CUDA(i))
	}
	return ds
}
