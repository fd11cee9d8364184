// shim.h: helpers shared by the shim's parts (*.cc.h, compiled as one
// translation unit through shim.cpp). Narrow ATen includes only: no
// <torch/torch.h>.
#pragma once

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <c10/util/Optional.h>
#include <string>
#include <vector>

#include "radtorch.h"

#include <torch/version.h>
#define RT_TORCH_AT_LEAST(maj, min) \
  (TORCH_VERSION_MAJOR > (maj) || (TORCH_VERSION_MAJOR == (maj) && TORCH_VERSION_MINOR >= (min)))

struct rt_tensor_s {
  at::Tensor t;
};

struct rt_generator_s {
  at::Generator g;
};

namespace rt {

extern std::atomic<int64_t> g_live_tensors;
extern std::atomic<int64_t> g_live_modules;

inline rt_tensor wrap(at::Tensor t) {
  g_live_tensors.fetch_add(1, std::memory_order_relaxed);
  return new rt_tensor_s{std::move(t)};
}

inline char* dup_error(const char* msg) {
  size_t n = std::strlen(msg);
  char* p = static_cast<char*>(std::malloc(n + 1));
  if (p) std::memcpy(p, msg, n + 1);
  return p;
}

// The first line(s) of a c10::Error without the C++ backtrace.
// kOOMTag starts the message of an allocation failure (CUDA's
// OutOfMemoryError, std::bad_alloc, the CPU allocator's "not enough
// memory" / "can't allocate memory"): Go strips it and answers errors.Is(err, ErrOutOfMemory).
constexpr const char* kOOMTag = "\x01oom\x01";

inline char* oom_error(const char* msg) {
  return dup_error((std::string(kOOMTag) + msg).c_str());
}

inline char* c10_error(const c10::Error& e) {
  const char* msg = e.what_without_backtrace();
  if (std::strstr(msg, "not enough memory") != nullptr || std::strstr(msg, "out of memory") != nullptr ||
      std::strstr(msg, "can't allocate memory") != nullptr)
    return oom_error(msg);
  return dup_error(msg);
}

at::ScalarType to_scalar_type(int code);  // throws on an unknown code
int from_scalar_type(at::ScalarType st);  // -1 when unsupported
at::Device to_device(int type, int index);

inline const at::Tensor& T(rt_tensor h) {
  if (h == nullptr) throw std::invalid_argument("null tensor handle");
  return h->t;
}

inline c10::optional<at::Tensor> opt(rt_tensor h) {
  if (h == nullptr) return c10::nullopt;
  return h->t;
}

inline at::IntArrayRef ints(const int64_t* p, int64_t n) {
  return at::IntArrayRef(p, static_cast<size_t>(n));
}

// ModeGuard sets the thread-local grad / inference / autocast state of one
// call and restores the previous state when the call returns.
class ModeGuard {
 public:
  explicit ModeGuard(int mode);
  ~ModeGuard();

 private:
  c10::AutoGradMode grad_;
  c10::optional<c10::InferenceMode> inference_;
  bool autocast_ = false;
  bool prev_gpu_ = false, prev_cpu_ = false;
  at::ScalarType prev_gpu_dtype_ = at::kHalf, prev_cpu_dtype_ = at::kBFloat16;
};

}  // namespace rt

// TRY/CATCH wrap a function body: every exception becomes an error string.
#define RT_TRY try {
#define RT_CATCH                                                   \
  return nullptr;                                                  \
  }                                                                \
  catch (const c10::OutOfMemoryError& e) {                         \
    return rt::oom_error(e.what_without_backtrace());              \
  }                                                                \
  catch (const c10::Error& e) {                                    \
    return rt::c10_error(e);                                       \
  }                                                                \
  catch (const std::bad_alloc& e) {                                \
    return rt::oom_error("std::bad_alloc: host allocation failed"); \
  }                                                                \
  catch (const std::exception& e) {                                \
    return rt::dup_error(e.what());                                \
  }                                                                \
  catch (...) {                                                    \
    return rt::dup_error("unknown C++ exception in libtorch shim"); \
  }
