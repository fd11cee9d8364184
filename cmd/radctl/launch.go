package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/radinpaint/rad/train"
)

// rawArgs are the command-line arguments after the program name: what
// radctl train --nproc passes to each worker.
var rawArgs []string

// spawnWorkers runs n copies of this program with rawArgs as ranks
// 0..n-1 of a data-parallel run on this machine (torchrun's variables set,
// MASTER_PORT a free port unless given), forwards their output line by
// line with a "[rank r]" prefix, and, when one fails, stops the others
// and returns its error.
func spawnWorkers(ctx context.Context, n int, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--nproc: %w", err)
	}
	addr := os.Getenv(train.EnvMasterAddr)
	if addr == "" {
		addr = "127.0.0.1"
	}
	port := 0
	if v := os.Getenv(train.EnvMasterPort); v != "" {
		if port, err = strconv.Atoi(v); err != nil || port < 1 || port > 65535 {
			return fmt.Errorf("--nproc: %s=%q is not a port", train.EnvMasterPort, v)
		}
	} else if port, err = freePort(); err != nil {
		return fmt.Errorf("--nproc: no free port for the rendezvous: %w", err)
	}
	// each worker gets its share of the CPUs unless the user chose
	threads := ""
	if os.Getenv("RADTORCH_THREADS") == "" && os.Getenv("OMP_NUM_THREADS") == "" {
		threads = "RADTORCH_THREADS=" + strconv.Itoa(max(1, runtime.NumCPU()/n))
	}
	var mu sync.Mutex // one line at a time
	cmds := make([]*exec.Cmd, n)
	var pipes sync.WaitGroup
	for r := 0; r < n; r++ {
		l := train.Launch{Rank: r, World: n, LocalRank: r, Addr: addr, Port: port}
		cmd := exec.Command(exe, rawArgs...)
		cmd.Env = append(os.Environ(), l.Env()...)
		if threads != "" {
			cmd.Env = append(cmd.Env, threads)
		}
		so, err := cmd.StdoutPipe()
		if err == nil {
			var se io.ReadCloser
			if se, err = cmd.StderrPipe(); err == nil {
				prefix := fmt.Sprintf("[rank %d] ", r)
				pipes.Add(2)
				go forward(&pipes, &mu, so, stdout, prefix)
				go forward(&pipes, &mu, se, stderr, prefix)
			}
		}
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			for _, c := range cmds[:r] {
				c.Process.Kill()
			}
			return fmt.Errorf("--nproc: starting rank %d: %w", r, err)
		}
		cmds[r] = cmd
	}
	type exit struct {
		rank int
		err  error
	}
	exits := make(chan exit, n)
	for r, cmd := range cmds {
		go func(r int, cmd *exec.Cmd) { exits <- exit{r, cmd.Wait()} }(r, cmd)
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	var first error
	exited := make([]bool, n)
	stopAll := func(s os.Signal) {
		for r, c := range cmds {
			if !exited[r] {
				c.Process.Signal(s)
			}
		}
	}
	var kill <-chan time.Time
	for left := n; left > 0; {
		select {
		case e := <-exits:
			left--
			exited[e.rank] = true
			if e.err != nil && first == nil {
				first = fmt.Errorf("rank %d of %d failed (%v): the other ranks were stopped", e.rank, n, e.err)
				stopAll(syscall.SIGTERM)
				kill = time.After(10 * time.Second)
			}
		case s := <-sig:
			stopAll(s) // the workers checkpoint and stop
		case <-ctx.Done():
			stopAll(syscall.SIGTERM)
		case <-kill:
			stopAll(syscall.SIGKILL)
		}
	}
	pipes.Wait()
	return first
}

// forward copies r to w line by line, each line prefixed.
func forward(wg *sync.WaitGroup, mu *sync.Mutex, r io.Reader, w io.Writer, prefix string) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		mu.Lock()
		fmt.Fprintf(w, "%s%s\n", prefix, sc.Text())
		mu.Unlock()
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
