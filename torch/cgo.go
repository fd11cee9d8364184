package torch

/*
#cgo CPPFLAGS: -I${SRCDIR}
#include <stdlib.h>
#include "radtorch.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"unsafe"
)

// ABIVersion is the shim interface version this package was written for.
const ABIVersion = C.RT_ABI_VERSION

// errABI is set at start when the loaded shim does not match this package.
var errABI error

func init() {
	if v := int(C.rt_abi_version()); v != ABIVersion {
		errABI = fmt.Errorf("torch: libtorch shim ABI version %d, this program needs %d: rebuild the shim (cmake --build build, for the radtorch_cmake build)", v, ABIVersion)
		return
	}
	defaultThreads()
}

// SetMallocArenas sets glibc's M_ARENA_MAX (how many malloc arenas the
// process's threads share) and reports whether the C library took it; it
// has no effect once a second thread has allocated. The shim sets 1 when
// it is loaded, before any thread starts (see RADTORCH_MALLOC_ARENAS in
// doc.go): a tensor freed in one thread's arena is not reused by another
// thread's, so with per-thread arenas a sampling run's peak memory grew
// with its steps (radctl infer at 256x256: 715 MB at 10 steps, 836-857 MB
// at 100; one arena: flat).
func SetMallocArenas(n int) bool { return C.rt_set_malloc_arenas(C.int(n)) == 1 }

// defaultThreads gives libtorch one intra-op thread per CPU unless the user
// chose (OMP_NUM_THREADS or RADTORCH_THREADS). Some libtorch builds (Debian's
// among them) otherwise start with a single thread.
func defaultThreads() {
	if v := os.Getenv("RADTORCH_THREADS"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			C.rt_set_num_threads(C.int(n))
		}
		return
	}
	if os.Getenv("OMP_NUM_THREADS") != "" {
		return
	}
	if n := runtime.NumCPU(); n > 1 && int(C.rt_get_num_threads()) < n {
		if e := C.rt_set_num_threads(C.int(n)); e != nil {
			C.rt_free_error(e)
		}
	}
}

// CheckABI reports whether the loaded shim library matches this package.
// Every entry point that loads models calls it; radctl calls it at start.
func CheckABI() error { return errABI }

// int64Ptr gives C a pointer to a shape or dims slice (nil when empty).
func int64Ptr(s []int64) *C.int64_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.int64_t)(unsafe.Pointer(&s[0]))
}

// LiveTensors is the number of tensor handles made and not yet freed, over
// the whole process. Tests use it to prove that scopes free what they make.
func LiveTensors() int64 { return int64(C.rt_live_tensors()) }

// LiveModules is the number of TorchScript modules loaded and not closed.
func LiveModules() int64 { return int64(C.rt_live_modules()) }

// Version is the version of the libtorch the shim was built against.
func Version() string { return C.GoString(C.rt_torch_version()) }
