// jit.cc.h: TorchScript modules and torch.load-compatible pickles.
#pragma once
#include "shim.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/serialization/pickle.h>

struct rt_module_s {
  torch::jit::Module m;
};

extern "C" {

rt_error rt_module_load(const char* path, int dev_type, int dev_index, rt_module* out) {
  RT_TRY
  at::Device dev = rt::to_device(dev_type, dev_index);
  torch::jit::Module m = torch::jit::load(std::string(path), dev);
  m.eval();
  *out = new rt_module_s{std::move(m)};
  rt::g_live_modules.fetch_add(1);
  RT_CATCH
}

void rt_module_free(rt_module m) {
  if (!m) return;
  rt::g_live_modules.fetch_sub(1);
  delete m;
}

rt_error rt_module_named(rt_module m, int with_buffers, char*** names, rt_tensor** ts, int64_t* n) {
  RT_TRY
  if (!m) throw std::invalid_argument("null module");
  std::vector<std::pair<std::string, at::Tensor>> v;
  for (const auto& p : m->m.named_parameters(true)) v.emplace_back(p.name, p.value);
  if (with_buffers)
    for (const auto& b : m->m.named_buffers(true)) v.emplace_back(b.name, b.value);
  char** nm = static_cast<char**>(std::calloc(v.size() + 1, sizeof(char*)));
  rt_tensor* th = static_cast<rt_tensor*>(std::calloc(v.size() + 1, sizeof(rt_tensor)));
  if (!nm || !th) {
    std::free(nm);
    std::free(th);
    throw std::bad_alloc();
  }
  for (size_t i = 0; i < v.size(); i++) {
    nm[i] = rt::dup_error(v[i].first.c_str());
    th[i] = rt::wrap(v[i].second);
  }
  *names = nm;
  *ts = th;
  *n = static_cast<int64_t>(v.size());
  RT_CATCH
}

void rt_free_names(char** names, int64_t n) {
  if (!names) return;
  for (int64_t i = 0; i < n; i++) std::free(names[i]);
  std::free(names);
}

void rt_free_ptr(void* p) { std::free(p); }

// run_forward calls the module's forward on the tensors.
static c10::IValue run_forward(rt_module m, rt_tensor* inputs, int64_t n) {
  if (!m) throw std::invalid_argument("null module");
  std::vector<c10::IValue> in;
  in.reserve(n);
  for (int64_t i = 0; i < n; i++) in.emplace_back(rt::T(inputs[i]));
  return m->m.forward(in);
}

rt_error rt_module_forward(int mode, rt_module m, rt_tensor* inputs, int64_t n, rt_tensor* out) {
  RT_TRY
  rt::ModeGuard guard(mode);
  c10::IValue r = run_forward(m, inputs, n);
  if (!r.isTensor()) throw std::runtime_error("module forward returned " + r.tagKind() + ", not a tensor");
  *out = rt::wrap(r.toTensor());
  RT_CATCH
}

// flatten_outputs collects the tensors of a forward's result: a tensor, or
// tuples and lists of them (nested), in order.
static void flatten_outputs(const c10::IValue& v, std::vector<at::Tensor>& out) {
  if (v.isTensor()) {
    out.push_back(v.toTensor());
  } else if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) flatten_outputs(e, out);
  } else if (v.isList()) {
    for (const c10::IValue& e : v.toListRef()) flatten_outputs(e, out);
  } else {
    throw std::runtime_error("module forward returned " + v.tagKind() +
                             " inside its output, not a tensor, tuple or list");
  }
}

rt_error rt_module_forward_multi(int mode, rt_module m, rt_tensor* inputs, int64_t n, rt_tensor** outs,
                                 int64_t* nout) {
  RT_TRY
  rt::ModeGuard guard(mode);
  c10::IValue r = run_forward(m, inputs, n);
  std::vector<at::Tensor> v;
  flatten_outputs(r, v);
  rt_tensor* th = static_cast<rt_tensor*>(std::calloc(v.size() + 1, sizeof(rt_tensor)));
  if (!th) throw std::bad_alloc();
  for (size_t i = 0; i < v.size(); i++) th[i] = rt::wrap(v[i]);
  *outs = th;
  *nout = static_cast<int64_t>(v.size());
  RT_CATCH
}

rt_error rt_pickle_save(const char** names, rt_tensor* ts, int64_t n, char** buf, size_t* len) {
  RT_TRY
  c10::impl::GenericDict d(c10::StringType::get(), c10::TensorType::get());
  for (int64_t i = 0; i < n; i++) {
    std::string k(names[i]);
    if (d.contains(k)) throw std::invalid_argument("duplicate key " + k);
    // Saved tensors are CPU and contiguous so that any torch.load reads them.
    d.insert(k, rt::T(ts[i]).detach().to(at::kCPU).contiguous());
  }
  std::vector<char> bytes = torch::jit::pickle_save(c10::IValue(d));
  char* p = static_cast<char*>(std::malloc(bytes.size() ? bytes.size() : 1));
  if (!p) throw std::bad_alloc();
  std::memcpy(p, bytes.data(), bytes.size());
  *buf = p;
  *len = bytes.size();
  RT_CATCH
}

}  // extern "C"
