package torch

// #include <stdlib.h>
// #include "radtorch.h"
import "C"

import (
	"fmt"
	"os/signal"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Backend names a c10d backend.
type Backend string

const (
	// Gloo all-reduces CPU tensors over TCP.
	Gloo Backend = "gloo"
	// NCCL all-reduces CUDA tensors (a CUDA libtorch with NCCL only).
	NCCL Backend = "nccl"
)

// DistBackends lists the c10d backends compiled into the shim (none when
// it was built without the Gloo headers).
func DistBackends() []Backend {
	b := int(C.rt_dist_backends())
	var out []Backend
	if b&1 != 0 {
		out = append(out, Gloo)
	}
	if b&2 != 0 {
		out = append(out, NCCL)
	}
	return out
}

// DistConfig says how to join a process group: torchrun's rendezvous
// (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE).
type DistConfig struct {
	// Addr and Port are where rank 0 hosts the TCPStore.
	Addr string
	Port int
	// Rank is this process's rank in 0..World-1.
	Rank, World int
	// Backend is Gloo (CPU tensors) or NCCL (CUDA tensors).
	Backend Backend
	// Timeout bounds the rendezvous and every collective: a peer that
	// died or never came gives an error after at most Timeout.
	Timeout time.Duration
	// Interface is Gloo's network interface (GLOO_SOCKET_IFNAME); ""
	// picks the loopback address for a loopback Addr, else the address
	// of this machine's hostname.
	Interface string
}

// ProcessGroup is a c10d process group: collectives over the ranks of a
// data-parallel run. Calls are collective: every rank makes the same calls
// in the same order. After a failed call the group is broken and every
// later call fails at once. A ProcessGroup is not safe for concurrent use.
type ProcessGroup struct {
	h           C.rt_pg
	rank, world int
	backend     Backend
}

var sigpipeOnce sync.Once

// NewProcessGroup joins the group cfg describes; it returns when all
// World ranks have joined, or with an error after cfg.Timeout.
func NewProcessGroup(cfg DistConfig) (*ProcessGroup, error) {
	if err := CheckABI(); err != nil {
		return nil, err
	}
	code := C.int(C.RT_DIST_GLOO)
	switch cfg.Backend {
	case Gloo, "":
		cfg.Backend = Gloo
	case NCCL:
		code = C.RT_DIST_NCCL
	default:
		return nil, fmt.Errorf("torch: unknown c10d backend %q (want gloo or nccl)", cfg.Backend)
	}
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("torch: process group timeout %v, want > 0", cfg.Timeout)
	}
	// A peer that dies closes its sockets: a write to one raises SIGPIPE
	// on the C++ thread that writes, which would kill this process
	// instead of failing the collective.
	sigpipeOnce.Do(func() { signal.Ignore(syscall.SIGPIPE) })
	host, iface := C.CString(cfg.Addr), C.CString(cfg.Interface)
	defer C.free(unsafe.Pointer(host))
	defer C.free(unsafe.Pointer(iface))
	var h C.rt_pg
	e := C.rt_dist_init(host, C.int(cfg.Port), C.int(cfg.Rank), C.int(cfg.World), code,
		C.int64_t(cfg.Timeout.Milliseconds()), iface, &h)
	if err := goErr(e); err != nil {
		return nil, fmt.Errorf("torch: %s process group (rank %d of %d, store %s:%d): %w",
			cfg.Backend, cfg.Rank, cfg.World, cfg.Addr, cfg.Port, err)
	}
	return &ProcessGroup{h: h, rank: cfg.Rank, world: cfg.World, backend: cfg.Backend}, nil
}

// Rank is this process's rank.
func (pg *ProcessGroup) Rank() int { return pg.rank }

// World is the number of ranks.
func (pg *ProcessGroup) World() int { return pg.world }

// Backend is the group's backend.
func (pg *ProcessGroup) Backend() Backend { return pg.backend }

// Close leaves the group (a broken group's threads are left to the
// process's exit).
func (pg *ProcessGroup) Close() {
	if pg != nil && pg.h != nil {
		C.rt_dist_free(pg.h)
		pg.h = nil
	}
}

func (pg *ProcessGroup) check(op string, ts []*Tensor) error {
	if pg == nil || pg.h == nil {
		return fmt.Errorf("torch: %s on a closed process group", op)
	}
	for i, t := range ts {
		if !t.Valid() {
			return fmt.Errorf("torch: %s: tensor %d is nil or freed", op, i)
		}
	}
	return nil
}

// AllReduce sets every tensor to scale times its sum over the ranks, in
// place. The tensors (one dtype and device) travel as one flat buffer in
// one collective call.
func (pg *ProcessGroup) AllReduce(ts []*Tensor, scale float64) error {
	if err := pg.check("allreduce", ts); err != nil || len(ts) == 0 {
		return err
	}
	hs := handles(ts)
	return goErr(C.rt_dist_allreduce(pg.h, &hs[0], C.int64_t(len(hs)), C.double(scale)))
}

// Broadcast sets every tensor to root's, in place (one flat buffer).
func (pg *ProcessGroup) Broadcast(ts []*Tensor, root int) error {
	if err := pg.check("broadcast", ts); err != nil || len(ts) == 0 {
		return err
	}
	hs := handles(ts)
	return goErr(C.rt_dist_broadcast(pg.h, &hs[0], C.int64_t(len(hs)), C.int(root)))
}

// Barrier returns when every rank has called it.
func (pg *ProcessGroup) Barrier() error {
	if err := pg.check("barrier", nil); err != nil {
		return err
	}
	return goErr(C.rt_dist_barrier(pg.h))
}
