//go:build radtorch_cmake

package torch

// With -tags radtorch_cmake the package links the shim that CMake builds
// (CMakeLists.txt: build/libradtorch.so, against any libtorch CMake finds,
// e.g. a CUDA PyTorch wheel's) instead of compiling shim.cpp. The program
// finds it by RUNPATH ($ORIGIN, $ORIGIN/lib, then the build folder) or
// LD_LIBRARY_PATH, and checks its ABI version at start (CheckABI).

/*
#cgo LDFLAGS: -L${SRCDIR}/../build -lradtorch -Wl,-rpath,$ORIGIN -Wl,-rpath,$ORIGIN/lib -Wl,-rpath,${SRCDIR}/../build
*/
import "C"
