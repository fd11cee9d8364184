package torch

// #include "radtorch.h"
import "C"

// benchAddLoop runs n adds of a and b in a C++ loop and returns the total
// nanoseconds (the reference for the Go per-call overhead benchmark).
func benchAddLoop(a, b *Tensor, n int64) (int64, error) {
	var ns C.int64_t
	err := goErr(C.rt_bench_add_loop(a.h, b.h, C.int64_t(n), &ns))
	return int64(ns), err
}
