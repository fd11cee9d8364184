// Package torch is RAD's Go binding to libtorch.
//
// The binding goes through one small C shim (radtorch.h; its C++ is
// shim.cpp and the *.cc.h parts it includes): extern "C" functions on
// opaque handles, every C++ exception caught and returned as an error
// string, its own dtype and device codes, and an ABI version checked at
// start (CheckABI). By default cgo compiles the shim with the package
// against Debian 12's libtorch-dev (cgo_debian.go), so `go build` needs no
// other step; -tags radtorch_customenv takes the flags for another
// libtorch from CGO_CXXFLAGS/CGO_LDFLAGS (cgo_customenv.go), and -tags
// radtorch_cmake links the library that the top-level CMakeLists.txt
// builds (build/libradtorch.so, cgo_cmake.go), so that a binary built on
// one machine runs on another whose shim was rebuilt against its own
// libtorch (a PyTorch wheel's 2.x CUDA build).
//
// # Memory
//
// Tensors belong to a Scope and are freed, all at once, by its Close:
//
//	s := torch.NewScope()
//	defer s.Close()
//	y := s.Add(s.Matmul(a, b), c)
//	if err := s.Err(); err != nil { ... }
//	return s.Keep(y) // y survives s (moves to s's parent, or to no scope)
//
// Go's garbage collector never frees libtorch memory. Finalizers only count
// leaks when enabled (SetLeakCheck, RADTORCH_LEAKCHECK=1); LiveTensors
// counts the handles alive in the process.
//
// # Errors
//
// Ops never panic on bad input. The first failing op of a scope records its
// error (naming the op and its input shapes); every later op of that scope
// returns nil without running; Err reports the error. Functions that do
// I/O or change state return errors directly. Panics are kept for
// programmer errors such as reading the shape of a freed tensor.
//
// # Thread-local modes
//
// libtorch keeps grad mode, inference mode and autocast per OS thread, and
// goroutines move between threads between two cgo calls. Every op
// therefore passes its scope's Mode into the shim, which sets the guards
// inside that one C++ call. A scope's mode is set with SetGrad,
// SetInference and SetAutocast.
//
// Grad mode is not the only per-thread state: libtorch numbers autograd
// nodes with a per-OS-thread counter and orders the backward pass by it, so
// a graph built from a goroutine that hopped between threads may sum
// gradients in a different order from run to run (differences of one
// ulp). For bit-reproducible gradients, build and back-propagate a graph
// from one goroutine locked to its OS thread (runtime.LockOSThread), as
// train.Run does.
//
// # Random numbers
//
// Random ops take an explicit Generator (seeded, with saveable state).
// Numbers are drawn on the CPU and moved, so a seed gives the same values
// on every device.
//
// # Threads
//
// At start the package gives libtorch one intra-op thread per CPU unless
// OMP_NUM_THREADS or RADTORCH_THREADS says otherwise; SetNumThreads changes
// it later. It also gives glibc's allocator a single arena unless
// MALLOC_ARENA_MAX or RADTORCH_MALLOC_ARENAS (a count; 0: glibc's default)
// says otherwise: goroutines move between OS threads, and per-thread
// arenas do not reuse each other's freed tensors, so memory would grow over
// a long run (SetMallocArenas). And it keeps blocks up to 32 MiB on the
// heap and up to 512 MiB of freed memory at its top (glibc's
// M_MMAP_THRESHOLD and M_TRIM_THRESHOLD) unless RADTORCH_MALLOC_TRIM=0 or
// glibc's own settings (GLIBC_TUNABLES, MALLOC_MMAP_THRESHOLD_,
// MALLOC_TRIM_THRESHOLD_) are given: every model call re-allocates the
// activations the previous one freed, and returning them to the kernel
// made each new page fault again. Where libtorch's BLAS is OpenBLAS
// (Debian's libtorch), the intra-op count also sets OpenBLAS's own thread
// pool (BLASThreads), unless OPENBLAS_NUM_THREADS or GOTO_NUM_THREADS
// says otherwise: libtorch's at::set_num_threads does not reach that pool,
// whose idle threads spin beside the intra-op threads. For throughput on
// many CPU batches, several single-thread processes (RADTORCH_THREADS=1)
// beat one process with as many threads (docs/PERFORMANCE.md).
//
// # Process groups
//
// NewProcessGroup joins a c10d process group (TCPStore rendezvous, Gloo
// for CPU tensors, NCCL for CUDA tensors in a CUDA build) for
// data-parallel training; AllReduce and Broadcast move a list of tensors
// as one flat buffer. A dead or missing peer, or an unreachable store, is
// an error after at most the group's timeout, never a hang or an abort.
//
// # Files
//
// LoadPT reads torch.save files (zip and legacy; OrderedDict state dicts
// and plain dicts) through github.com/nlpodyssey/gopickle; SavePT writes
// files that Python's torch.load reads; LoadSafetensors and
// SaveSafetensors handle safetensors; LoadModule loads TorchScript (whose
// Forward returns one tensor and ForwardAll the tensors of a tuple or list
// output). Every writer writes a temporary file and renames it.
package torch
