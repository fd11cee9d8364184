// dist.cc.h: c10d process groups for data-parallel training: a TCPStore
// rendezvous and a Gloo (CPU) or NCCL (CUDA) backend, with coalesced
// all-reduce and broadcast. Every c10d / Gloo exception is caught and
// returned as an error string (RT_TRY / RT_CATCH); a failed collective
// marks the group broken so that no later call waits on a dead peer.
//
// libtorch 1.13 and 2.x differ here: 1.13's ProcessGroupGloo derives from
// c10d::ProcessGroup, 2.x's from c10d::Backend (both have the collectives
// used below with the same signatures), and 2.x's Gloo device factories
// take an extra lazyInit argument with a default. Only the base class is
// chosen by version.
#pragma once
#include "shim.h"

#include <chrono>
#include <cstdio>
#include <stdexcept>

// c10d with Gloo is compiled in when its headers are there: CMake says so
// (RADTORCH_WITH_DIST, or RADTORCH_NO_DIST when it found none or was told
// not to); otherwise (the cgo build) the compiler looks. Debian's
// libtorch-dev ships c10d's headers but ProcessGroupGloo.hpp includes
// <gloo/...>, which comes with libgloo-dev only.
#if !defined(RADTORCH_WITH_DIST) && !defined(RADTORCH_NO_DIST) && defined(__has_include)
#if __has_include(<gloo/algorithm.h>) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>)
#define RADTORCH_WITH_DIST 1
#endif
#endif

#ifdef RADTORCH_WITH_DIST
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef RADTORCH_WITH_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace {
#if TORCH_VERSION_MAJOR >= 2
using PGBase = c10d::Backend;
#else
using PGBase = c10d::ProcessGroup;
#endif
}  // namespace
#endif

struct rt_pg_s {
#ifdef RADTORCH_WITH_DIST
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<PGBase> pg;
#endif
  int rank = 0, world = 1;
  std::chrono::milliseconds timeout{0};
  std::string broken;  // the error that broke the group, "" while healthy
};

extern "C" {

int rt_dist_backends(void) {
  int b = 0;
#ifdef RADTORCH_WITH_DIST
  b |= 1;
#ifdef RADTORCH_WITH_NCCL
  b |= 2;
#endif
#endif
  return b;
}

#ifndef RADTORCH_WITH_DIST

rt_error rt_dist_init(const char*, int, int, int, int, int64_t, const char*, rt_pg* out) {
  *out = nullptr;
  return rt::dup_error("this build of the libtorch shim has no c10d (the Gloo headers were not found when it was "
                       "compiled): install libgloo-dev, then rebuild (go clean -cache, or CMake for the "
                       "radtorch_cmake build)");
}
void rt_dist_free(rt_pg pg) { delete pg; }
rt_error rt_dist_allreduce(rt_pg, rt_tensor*, int64_t, double) { return rt::dup_error("no c10d in this build"); }
rt_error rt_dist_broadcast(rt_pg, rt_tensor*, int64_t, int) { return rt::dup_error("no c10d in this build"); }
rt_error rt_dist_barrier(rt_pg) { return rt::dup_error("no c10d in this build"); }

#else

}  // extern "C"

namespace {

std::string secs(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", static_cast<double>(ms) / 1000.0);
  return buf;
}

bool loopback(const std::string& h) {
  return h == "localhost" || h.rfind("127.", 0) == 0 || h == "::1";
}

// first line of a message (Gloo's carry file:line prefixes and backtraces)
std::string first_line(const std::string& s) {
  auto p = s.find('\n');
  return p == std::string::npos ? s : s.substr(0, p);
}

void check_usable(rt_pg pg, const char* op) {
  if (pg == nullptr) throw std::invalid_argument(std::string(op) + ": null process group");
  if (!pg->broken.empty())
    throw std::runtime_error(std::string(op) + ": the process group is broken by an earlier error (" + pg->broken + ")");
}

// finish waits for one collective; any failure (a peer that closed its
// connection, a timeout) breaks the group and is rethrown with context.
void finish(rt_pg pg, const c10::intrusive_ptr<c10d::Work>& work, const char* op) {
  std::string msg;
  try {
    if (work->wait(pg->timeout)) return;
    msg = "timed out";
  } catch (const c10::Error& e) {
    msg = first_line(e.what_without_backtrace());
  } catch (const std::exception& e) {
    msg = first_line(e.what());
  }
  pg->broken = std::string(op) + ": " + msg;
  throw std::runtime_error("c10d " + std::string(op) + " on rank " + std::to_string(pg->rank) + " of " +
                           std::to_string(pg->world) + " failed (a peer died, or did not answer within " +
                           secs(pg->timeout.count()) + "): " + msg);
}

std::vector<at::Tensor> tensors_of(rt_tensor* ts, int64_t n, const char* op) {
  std::vector<at::Tensor> v;
  v.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) {
    const at::Tensor& t = rt::T(ts[i]);
    if (!v.empty() && (t.scalar_type() != v[0].scalar_type() || t.device() != v[0].device()))
      throw std::invalid_argument(std::string(op) + ": tensors of one call must share dtype and device (" +
                                  std::string(c10::toString(v[0].scalar_type())) + " on " + v[0].device().str() +
                                  " and " + std::string(c10::toString(t.scalar_type())) + " on " +
                                  t.device().str() + ")");
    v.push_back(t);
  }
  return v;
}

// flatten packs the tensors into one contiguous buffer (the tensor itself
// when there is one contiguous tensor).
at::Tensor flatten(const std::vector<at::Tensor>& v, bool* packed) {
  if (v.size() == 1 && v[0].is_contiguous()) {
    *packed = false;
    return v[0];
  }
  *packed = true;
  std::vector<at::Tensor> flat;
  flat.reserve(v.size());
  for (const auto& t : v) flat.push_back(t.reshape({-1}));
  return at::cat(flat);
}

void unflatten(const at::Tensor& flat, std::vector<at::Tensor>& v) {
  int64_t off = 0;
  for (auto& t : v) {
    int64_t n = t.numel();
    t.copy_(flat.narrow(0, off, n).view(t.sizes()));
    off += n;
  }
}

}  // namespace

extern "C" {

rt_error rt_dist_init(const char* host, int port, int rank, int world, int backend, int64_t timeout_ms,
                      const char* iface, rt_pg* out) {
  RT_TRY
  *out = nullptr;
  if (world < 1) throw std::invalid_argument("world size " + std::to_string(world) + " < 1");
  if (rank < 0 || rank >= world)
    throw std::invalid_argument("rank " + std::to_string(rank) + " is not in 0.." + std::to_string(world - 1));
  if (port <= 0 || port > 65535) throw std::invalid_argument("port " + std::to_string(port) + " is not in 1..65535");
  if (timeout_ms <= 0) throw std::invalid_argument("timeout must be > 0");
  std::string h = host ? host : "";
  if (h.empty()) throw std::invalid_argument("no store address (MASTER_ADDR)");
  auto p = std::make_unique<rt_pg_s>();
  p->rank = rank;
  p->world = world;
  p->timeout = std::chrono::milliseconds(timeout_ms);
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(port);
  so.isServer = rank == 0;
  so.numWorkers = static_cast<std::size_t>(world);
  so.waitWorkers = true;
  so.timeout = p->timeout;
  try {
    p->store = c10::make_intrusive<c10d::TCPStore>(h, so);
  } catch (const std::exception& e) {
    std::string what = rank == 0 ? "rank 0 could not host the store on port " + std::to_string(port) +
                                       " or not all " + std::to_string(world) + " ranks joined it"
                                 : "rank " + std::to_string(rank) + " could not reach the store at " + h + ":" +
                                       std::to_string(port);
    throw std::runtime_error("c10d rendezvous: " + what + " within " + secs(timeout_ms) +
                             " (MASTER_ADDR/MASTER_PORT): " + first_line(e.what()));
  }
  if (backend == RT_DIST_GLOO) {
    auto o = c10d::ProcessGroupGloo::Options::create(p->timeout);
    std::string ifc = iface ? iface : "";
    if (!ifc.empty()) {
      o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifc));
    } else if (loopback(h)) {
      o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    o->threads = 2;
    p->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(p->store, rank, world, o);
  } else if (backend == RT_DIST_NCCL) {
#ifdef RADTORCH_WITH_NCCL
    auto o = c10d::ProcessGroupNCCL::Options::create();
    o->timeout = p->timeout;
    p->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(p->store, rank, world, o);
#else
    throw std::invalid_argument("the nccl backend needs a CUDA libtorch with NCCL (this shim has none): use gloo");
#endif
  } else {
    throw std::invalid_argument("unknown c10d backend code " + std::to_string(backend));
  }
  *out = p.release();
  RT_CATCH
}

void rt_dist_free(rt_pg pg) {
  if (pg == nullptr) return;
  if (!pg->broken.empty()) {
    // A broken group's worker threads may still wait on a dead peer; its
    // destructor would join them. The process is about to report the
    // error and exit: leave the group to it.
    pg->pg.release();
    pg->store.release();
    return;
  }
  try {
    pg->pg.reset();
    pg->store.reset();
  } catch (...) {
  }
  delete pg;
}

rt_error rt_dist_allreduce(rt_pg pg, rt_tensor* ts, int64_t n, double scale) {
  RT_TRY
  check_usable(pg, "allreduce");
  if (n <= 0) return nullptr;
  c10::NoGradGuard ng;
  auto v = tensors_of(ts, n, "allreduce");
  bool packed = false;
  std::vector<at::Tensor> buf{flatten(v, &packed)};
  c10d::AllreduceOptions opts;
  opts.reduceOp = c10d::ReduceOp::SUM;
  opts.timeout = pg->timeout;
  finish(pg, pg->pg->allreduce(buf, opts), "allreduce");
  if (scale != 1.0) buf[0].mul_(scale);
  if (packed) unflatten(buf[0], v);
  RT_CATCH
}

rt_error rt_dist_broadcast(rt_pg pg, rt_tensor* ts, int64_t n, int root) {
  RT_TRY
  check_usable(pg, "broadcast");
  if (root < 0 || root >= pg->world) throw std::invalid_argument("broadcast: root " + std::to_string(root) + " is not a rank");
  if (n <= 0) return nullptr;
  c10::NoGradGuard ng;
  auto v = tensors_of(ts, n, "broadcast");
  bool packed = false;
  std::vector<at::Tensor> buf{flatten(v, &packed)};
  c10d::BroadcastOptions opts;
  opts.rootRank = root;
  opts.rootTensor = 0;
  opts.timeout = pg->timeout;
  finish(pg, pg->pg->broadcast(buf, opts), "broadcast");
  if (packed) unflatten(buf[0], v);
  RT_CATCH
}

rt_error rt_dist_barrier(rt_pg pg) {
  RT_TRY
  check_usable(pg, "barrier");
  c10d::BarrierOptions opts;
  opts.timeout = pg->timeout;
  finish(pg, pg->pg->barrier(opts), "barrier");
  RT_CATCH
}

#endif  // RADTORCH_WITH_DIST

}  // extern "C"
