//go:build !radtorch_cmake && !radtorch_customenv

package torch

// The shim (shim.cpp) is compiled by cgo against Debian 12's libtorch-dev
// (1.13, CPU), which has no pkg-config file: these are its flags. Another
// libtorch (a PyTorch wheel, CUDA): build with -tags radtorch_customenv
// and give the flags in CGO_CXXFLAGS and CGO_LDFLAGS (cgo_customenv.go),
// or build the shim with CMake and use -tags radtorch_cmake (cgo_cmake.go).

/*
#cgo CXXFLAGS: -std=c++17 -g0 -D_GLIBCXX_USE_CXX11_ABI=1 -DUSE_DISTRIBUTED -DUSE_C10D_GLOO -DUSE_RPC -DUSE_TENSORPIPE
#cgo CXXFLAGS: -isystem /usr/include/torch/csrc/api/include
#cgo LDFLAGS: -ltorch -Wl,--no-as-needed -ltorch_cpu -Wl,--as-needed -lc10
*/
import "C"
