// profile.cc.h: libtorch's (legacy, CPU) operator profiler, for comparing the Go forward
// with PyTorch's: which aten ops run, how often, and for how long.
#pragma once
#include "shim.h"

#if __has_include(<torch/csrc/autograd/profiler_legacy.h>)
#include <torch/csrc/autograd/profiler_legacy.h>
#define RT_HAVE_LEGACY_PROFILER 1
#endif

#include <map>
#include <sstream>

extern "C" {

rt_error rt_profile_start(int record_shapes) {
  RT_TRY
#ifdef RT_HAVE_LEGACY_PROFILER
  namespace prof = torch::profiler::impl;
  torch::autograd::profiler::enableProfilerLegacy(
      prof::ProfilerConfig(prof::ProfilerState::CPU, record_shapes != 0));
#else
  throw std::runtime_error("this libtorch has no legacy operator profiler");
#endif
  RT_CATCH
}

rt_error rt_profile_stop(char** out) {
  RT_TRY
#ifdef RT_HAVE_LEGACY_PROFILER
  using torch::autograd::profiler::EventKind;
  using torch::autograd::profiler::LegacyEvent;
  auto lists = torch::autograd::profiler::disableProfilerLegacy();
  struct Agg {
    int64_t calls = 0;
    double total = 0, self = 0;
  };
  std::map<std::string, Agg> agg;
  for (const auto& events : lists) {
    struct Open {
      const LegacyEvent* start;
      double children;
    };
    std::vector<Open> stack;
    for (const auto& e : events) {
      if (e.kind() == EventKind::PushRange) {
        stack.push_back({&e, 0});
      } else if (e.kind() == EventKind::PopRange && !stack.empty()) {
        Open o = stack.back();
        stack.pop_back();
        double us = o.start->cpuElapsedUs(e);
        Agg& a = agg[o.start->name()];
        a.calls++;
        a.total += us;
        a.self += us - o.children;
        if (!stack.empty()) stack.back().children += us;
      }
    }
  }
  std::ostringstream os;
  for (const auto& kv : agg)
    os << kv.first << '\t' << kv.second.calls << '\t' << kv.second.total << '\t' << kv.second.self << '\n';
  *out = rt::dup_error(os.str().c_str());
#else
  throw std::runtime_error("this libtorch has no legacy operator profiler");
#endif
  RT_CATCH
}

}  // extern "C"
