//go:build !radtorch_cmake

// shim.cpp: the libtorch shim (radtorch.h's extern "C" functions) as one
// translation unit. cgo compiles it with package torch (flags in
// cgo_debian.go, or the environment's with the radtorch_customenv tag);
// CMakeLists.txt compiles the same file into build/libradtorch.so, which
// the package links instead under the radtorch_cmake tag (cgo_cmake.go).
//
// The parts are headers (*.cc.h) so that cgo compiles them once, through
// this file, while Go's build cache still hashes them (it hashes a
// package's .go, .c, .cpp and .h files, not other suffixes): one unit at
// -g0 compiles in about a quarter of the time of five at cgo's -O2 -g.
#include "shim.h"

#include "ops.cc.h"
#include "runtime.cc.h"
#include "jit.cc.h"
#include "profile.cc.h"
#include "dist.cc.h"
