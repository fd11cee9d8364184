// runtime.cc.h: versions, threads, devices, generators, dtype/device codes.
#pragma once
#include "shim.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <dlfcn.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#ifdef RADTORCH_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif


namespace rt {

std::atomic<int64_t> g_live_tensors{0};
std::atomic<int64_t> g_live_modules{0};

at::ScalarType to_scalar_type(int code) {
  switch (code) {
    case RT_F32: return at::kFloat;
    case RT_F64: return at::kDouble;
    case RT_F16: return at::kHalf;
    case RT_BF16: return at::kBFloat16;
    case RT_I64: return at::kLong;
    case RT_I32: return at::kInt;
    case RT_U8: return at::kByte;
    case RT_BOOL: return at::kBool;
    case RT_I8: return at::kChar;
    case RT_I16: return at::kShort;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(code));
}

int from_scalar_type(at::ScalarType st) {
  switch (st) {
    case at::kFloat: return RT_F32;
    case at::kDouble: return RT_F64;
    case at::kHalf: return RT_F16;
    case at::kBFloat16: return RT_BF16;
    case at::kLong: return RT_I64;
    case at::kInt: return RT_I32;
    case at::kByte: return RT_U8;
    case at::kBool: return RT_BOOL;
    case at::kChar: return RT_I8;
    case at::kShort: return RT_I16;
    default: return -1;
  }
}

at::Device to_device(int type, int index) {
  if (type == RT_CPU) return at::Device(at::kCPU);
  if (type == RT_CUDA) {
    int n = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
    if (n == 0) throw std::invalid_argument("CUDA is not available in this libtorch build or on this machine");
    if (index < 0 || index >= n)
      throw std::invalid_argument("CUDA device cuda:" + std::to_string(index) + " does not exist (" +
                                  std::to_string(n) + " device(s))");
    return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw std::invalid_argument("unknown device type code " + std::to_string(type));
}

ModeGuard::ModeGuard(int mode) : grad_((mode & RT_MODE_GRAD) != 0) {
  if (mode & RT_MODE_INFERENCE) inference_.emplace(true);
  if (mode & (RT_MODE_AUTOCAST_F16 | RT_MODE_AUTOCAST_BF16)) {
    autocast_ = true;
    at::ScalarType dt = (mode & RT_MODE_AUTOCAST_BF16) ? at::kBFloat16 : at::kHalf;
#if RT_TORCH_AT_LEAST(2, 4)
    prev_gpu_ = at::autocast::is_autocast_enabled(at::kCUDA);
    prev_cpu_ = at::autocast::is_autocast_enabled(at::kCPU);
    prev_gpu_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    prev_cpu_dtype_ = at::autocast::get_autocast_dtype(at::kCPU);
    at::autocast::set_autocast_dtype(at::kCUDA, dt);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    if (dt == at::kBFloat16) {
      at::autocast::set_autocast_dtype(at::kCPU, dt);
      at::autocast::set_autocast_enabled(at::kCPU, true);
    }
#else
    prev_gpu_ = at::autocast::is_enabled();
    prev_cpu_ = at::autocast::is_cpu_enabled();
    prev_gpu_dtype_ = at::autocast::get_autocast_gpu_dtype();
    prev_cpu_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_gpu_dtype(dt);
    at::autocast::set_enabled(true);
    if (dt == at::kBFloat16) {
      at::autocast::set_autocast_cpu_dtype(dt);
      at::autocast::set_cpu_enabled(true);
    }
#endif
  }
}

ModeGuard::~ModeGuard() {
  if (!autocast_) return;
#if RT_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_enabled(at::kCUDA, prev_gpu_);
  at::autocast::set_autocast_enabled(at::kCPU, prev_cpu_);
  at::autocast::set_autocast_dtype(at::kCUDA, prev_gpu_dtype_);
  at::autocast::set_autocast_dtype(at::kCPU, prev_cpu_dtype_);
#else
  at::autocast::set_enabled(prev_gpu_);
  at::autocast::set_cpu_enabled(prev_cpu_);
  at::autocast::set_autocast_gpu_dtype(prev_gpu_dtype_);
  at::autocast::set_autocast_cpu_dtype(prev_cpu_dtype_);
#endif
  if (!prev_gpu_ && !prev_cpu_) at::autocast::clear_cache();
}

}  // namespace rt

extern "C" {

void rt_free_error(rt_error e) { std::free(e); }
int rt_abi_version(void) { return RT_ABI_VERSION; }
const char* rt_torch_version(void) {
#define RT_STR2(x) #x
#define RT_STR(x) RT_STR2(x)
  return RT_STR(TORCH_VERSION_MAJOR) "." RT_STR(TORCH_VERSION_MINOR) "." RT_STR(TORCH_VERSION_PATCH);
}
int64_t rt_live_tensors(void) { return rt::g_live_tensors.load(); }
int64_t rt_live_modules(void) { return rt::g_live_modules.load(); }

static bool rt_env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != 0;
}

int rt_get_num_threads(void) { return at::get_num_threads(); }

// rt_set_num_threads sets libtorch's intra-op threads and, where libtorch's
// BLAS is OpenBLAS (Debian's libtorch calls the openblas-pthread build for
// its matrix products), OpenBLAS's own pool to the same count, unless
// OPENBLAS_NUM_THREADS or GOTO_NUM_THREADS chose it. at::set_num_threads
// does not reach that pool: with RADTORCH_THREADS=1 each process still ran
// a second OpenBLAS thread that spins on sched_yield after every product:
// two such processes on 2 cores spent 2-2.5 x the system time and ran 8 %
// longer than with it at 1 (docs/PERFORMANCE.md). Other BLAS builds (the CUDA wheels' MKL, which
// at::set_num_threads sets) do not export the symbol.
rt_error rt_set_num_threads(int n) {
  RT_TRY
  if (n < 1) throw std::invalid_argument("thread count must be >= 1, got " + std::to_string(n));
  at::set_num_threads(n);
  if (!rt_env_set("OPENBLAS_NUM_THREADS") && !rt_env_set("GOTO_NUM_THREADS")) {
    auto set = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    if (set != nullptr) set(n);
  }
  RT_CATCH
}

// At load time, before the Go runtime starts its threads (glibc fixes its
// arena limit when a second thread first allocates): one malloc arena,
// unless MALLOC_ARENA_MAX or RADTORCH_MALLOC_ARENAS (a count; 0: glibc's
// default) says otherwise. Goroutines move between OS threads, and glibc's
// per-thread arenas do not reuse each other's freed tensors, so a long
// sampling run's memory grew with its steps.
//
// Then the heap's thresholds, unless RADTORCH_MALLOC_TRIM=0 or the user
// set glibc's own (GLIBC_TUNABLES, MALLOC_MMAP_THRESHOLD_,
// MALLOC_TRIM_THRESHOLD_): blocks up to 32 MiB come from the heap rather
// than from mmap, and up to 512 MiB of freed memory stays at its top. A
// model call frees and re-allocates the same activation sizes every step;
// with glibc's defaults those went back to the kernel and every new page
// faulted again (docs/PERFORMANCE.md: page faults and system time of an
// evaluation halved).
__attribute__((constructor)) static void rt_default_malloc_arenas() {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
  if (!rt_env_set("MALLOC_ARENA_MAX")) {
    int n = 1;
    const char* v = std::getenv("RADTORCH_MALLOC_ARENAS");
    if (v != nullptr && *v != 0) n = std::atoi(v);
    if (n > 0) mallopt(M_ARENA_MAX, n);
  }
  const char* trim = std::getenv("RADTORCH_MALLOC_TRIM");
  bool own = rt_env_set("GLIBC_TUNABLES") || rt_env_set("MALLOC_MMAP_THRESHOLD_") || rt_env_set("MALLOC_TRIM_THRESHOLD_");
  if (!own && !(trim != nullptr && std::string(trim) == "0")) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
  }
#endif
}

int rt_blas_threads(void) {
  auto get = reinterpret_cast<int (*)(void)>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  auto parallel = reinterpret_cast<int (*)(void)>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
  if (get == nullptr || (parallel != nullptr && parallel() == 0)) return -1;  // not OpenBLAS, or its serial build
  return get();
}

int rt_set_malloc_arenas(int n) {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
  return mallopt(M_ARENA_MAX, n);
#else
  return 0;
#endif
}

rt_error rt_manual_seed(uint64_t seed) {
  RT_TRY
  at::manual_seed(seed);
  RT_CATCH
}

int rt_cuda_is_available(void) {
  try {
    return torch::cuda::is_available() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

int rt_cuda_device_count(void) {
  try {
    return static_cast<int>(torch::cuda::device_count());
  } catch (...) {
    return 0;
  }
}

rt_error rt_cuda_synchronize(int device) {
  RT_TRY
  rt::to_device(RT_CUDA, device < 0 ? 0 : device);
  torch::cuda::synchronize(device);
  RT_CATCH
}

rt_error rt_cuda_device_name(int device, char* buf, size_t len) {
  RT_TRY
  rt::to_device(RT_CUDA, device);
#ifdef RADTORCH_WITH_CUDA
  std::string name = at::cuda::getDeviceProperties(device)->name;
#else
  std::string name = "cuda";
#endif
  if (len > 0) {
    size_t n = std::min(len - 1, name.size());
    std::memcpy(buf, name.data(), n);
    buf[n] = 0;
  }
  RT_CATCH
}

rt_error rt_cuda_memory_stats(int device, int64_t* allocated, int64_t* reserved,
                              int64_t* peak_allocated) {
  RT_TRY
  rt::to_device(RT_CUDA, device);
#ifdef RADTORCH_WITH_CUDA
  auto st = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
  // index 0 is StatType::AGGREGATE in every libtorch version
  *allocated = st.allocated_bytes[0].current;
  *reserved = st.reserved_bytes[0].current;
  *peak_allocated = st.allocated_bytes[0].peak;
#else
  (void)allocated;
  (void)reserved;
  (void)peak_allocated;
  throw std::runtime_error("memory statistics need a CUDA build of the shim");
#endif
  RT_CATCH
}

rt_error rt_cuda_empty_cache(void) {
  RT_TRY
#ifdef RADTORCH_WITH_CUDA
  c10::cuda::CUDACachingAllocator::emptyCache();
#endif
  RT_CATCH
}

void rt_set_allow_tf32(int on) {
  at::globalContext().setAllowTF32CuBLAS(on != 0);
  at::globalContext().setAllowTF32CuDNN(on != 0);
}

int rt_get_allow_tf32(void) {
  return at::globalContext().allowTF32CuBLAS() && at::globalContext().allowTF32CuDNN() ? 1 : 0;
}

rt_error rt_generator_new(uint64_t seed, rt_generator* out) {
  RT_TRY
  *out = new rt_generator_s{at::make_generator<at::CPUGeneratorImpl>(seed)};
  RT_CATCH
}

void rt_generator_free(rt_generator g) { delete g; }

rt_error rt_generator_get_state(rt_generator g, rt_tensor* out) {
  RT_TRY
  if (!g) throw std::invalid_argument("null generator");
  std::lock_guard<std::mutex> lock(g->g.mutex());
  *out = rt::wrap(g->g.get_state());
  RT_CATCH
}

rt_error rt_generator_set_state(rt_generator g, rt_tensor state) {
  RT_TRY
  if (!g) throw std::invalid_argument("null generator");
  std::lock_guard<std::mutex> lock(g->g.mutex());
  g->g.set_state(rt::T(state));
  RT_CATCH
}

rt_error rt_random(rt_generator g, int kind, const int64_t* shape, int64_t n, double a,
                   double b, int dtype, int dev_type, int dev_index, rt_tensor* out) {
  RT_TRY
  if (!g) throw std::invalid_argument("null generator");
  c10::NoGradGuard ng;
  at::ScalarType st = rt::to_scalar_type(dtype);
  at::Device dev = rt::to_device(dev_type, dev_index);
  // Draw in float32 (randint: int64) on the CPU stream so that a seed gives
  // the same numbers on every device, then convert.
  // ATen's random kernels lock the generator themselves (the Go side
  // serialises users of one Generator).
  at::Tensor t;
  {
    auto sz = rt::ints(shape, n);
    switch (kind) {
      case 0:
        t = at::normal(a, b, sz, g->g, at::TensorOptions().dtype(at::kFloat));
        break;
      case 1:
        t = at::empty(sz, at::kFloat).uniform_(a, b, g->g);
        break;
      case 2:
        if (!(b > a)) throw std::invalid_argument("randint needs high > low");
        t = at::randint(static_cast<int64_t>(a), static_cast<int64_t>(b), sz, g->g,
                        at::TensorOptions().dtype(at::kLong));
        break;
      default:
        throw std::invalid_argument("unknown random kind");
    }
  }
  *out = rt::wrap(t.to(dev, st));
  RT_CATCH
}

}  // extern "C"
