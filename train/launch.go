package train

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/radinpaint/rad/torch"
)

// Launch is a process's place in a data-parallel run, as a launcher
// (torchrun, Slurm or Kubernetes scripts, radctl train --nproc) gives it
// in torchrun's environment variables.
type Launch struct {
	// Rank is RANK (0..World-1), World WORLD_SIZE, LocalRank LOCAL_RANK
	// (the rank on this machine: the CUDA device it uses).
	Rank, World, LocalRank int
	// Addr and Port are MASTER_ADDR and MASTER_PORT: where rank 0 hosts
	// the rendezvous store.
	Addr string
	Port int
}

// Launch environment variables (torchrun's names).
const (
	EnvRank       = "RANK"
	EnvWorldSize  = "WORLD_SIZE"
	EnvLocalRank  = "LOCAL_RANK"
	EnvMasterAddr = "MASTER_ADDR"
	EnvMasterPort = "MASTER_PORT"
)

// LaunchFromEnv reads the launch variables; it returns nil (one process)
// when WORLD_SIZE is unset, and an error naming the variable when one is
// missing or malformed. MASTER_ADDR defaults to 127.0.0.1, LOCAL_RANK to
// RANK.
func LaunchFromEnv() (*Launch, error) {
	ws := strings.TrimSpace(os.Getenv(EnvWorldSize))
	if ws == "" {
		return nil, nil
	}
	num := func(name string, lo, hi int) (int, error) {
		v := strings.TrimSpace(os.Getenv(name))
		if v == "" {
			return 0, fmt.Errorf("train: %s=%s is set but %s is not: a launcher sets both", EnvWorldSize, ws, name)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("train: %s=%q, want a whole number in %d..%d", name, v, lo, hi)
		}
		return n, nil
	}
	l := &Launch{}
	var err error
	if l.World, err = num(EnvWorldSize, 1, 1<<16); err != nil {
		return nil, err
	}
	if l.Rank, err = num(EnvRank, 0, l.World-1); err != nil {
		return nil, err
	}
	l.LocalRank = l.Rank
	if os.Getenv(EnvLocalRank) != "" {
		if l.LocalRank, err = num(EnvLocalRank, 0, l.World-1); err != nil {
			return nil, err
		}
	}
	if l.Port, err = num(EnvMasterPort, 1, 65535); err != nil {
		return nil, err
	}
	l.Addr = strings.TrimSpace(os.Getenv(EnvMasterAddr))
	if l.Addr == "" {
		l.Addr = "127.0.0.1"
	}
	return l, nil
}

// Env is the launch as environment variables (for spawning a worker).
func (l *Launch) Env() []string {
	return []string{
		EnvRank + "=" + strconv.Itoa(l.Rank), EnvWorldSize + "=" + strconv.Itoa(l.World),
		EnvLocalRank + "=" + strconv.Itoa(l.LocalRank), EnvMasterAddr + "=" + l.Addr,
		EnvMasterPort + "=" + strconv.Itoa(l.Port),
	}
}

// Join joins the launch's process group: Gloo for CPU training, NCCL for
// CUDA. Every rank must join within timeout, and every later collective
// waits at most timeout for its peers. GLOO_SOCKET_IFNAME picks Gloo's
// network interface, as in PyTorch.
func (l *Launch) Join(backend torch.Backend, timeout time.Duration) (*torch.ProcessGroup, error) {
	return torch.NewProcessGroup(torch.DistConfig{Addr: l.Addr, Port: l.Port, Rank: l.Rank, World: l.World,
		Backend: backend, Timeout: timeout, Interface: os.Getenv("GLOO_SOCKET_IFNAME")})
}
