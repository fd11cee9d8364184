//go:build !radtorch_cmake && radtorch_customenv

package torch

// With -tags radtorch_customenv cgo compiles the shim (shim.cpp) with the
// flags of the environment only, for a libtorch other than Debian's, e.g.
// a PyTorch wheel's (TORCH=its torch/ folder):
//
//	CGO_CXXFLAGS="-std=c++17 -O2 -g0 -D_GLIBCXX_USE_CXX11_ABI=1 -DRADTORCH_WITH_CUDA=1 \
//	  -isystem $TORCH/include -isystem $TORCH/include/torch/csrc/api/include"
//	CGO_LDFLAGS="-L$TORCH/lib -Wl,-rpath,$TORCH/lib -ltorch -Wl,--no-as-needed \
//	  -ltorch_cpu -ltorch_cuda -Wl,--as-needed -lc10 -lc10_cuda"
//
// (_GLIBCXX_USE_CXX11_ABI as torch._C._GLIBCXX_USE_CXX11_ABI says;
// RADTORCH_WITH_CUDA compiles the device names and allocator statistics;
// RADTORCH_NO_DIST leaves c10d out). cgo checks flags against its
// allow-list; CGO_CXXFLAGS_ALLOW and CGO_LDFLAGS_ALLOW widen it.

/*
#cgo CXXFLAGS: -std=c++17
*/
import "C"
