package torch

import (
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// freePort returns a TCP port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func needGloo(t *testing.T) {
	t.Helper()
	for _, b := range DistBackends() {
		if b == Gloo {
			return
		}
	}
	t.Skip("shim built without c10d/Gloo")
}

// ranks runs fn for every rank of a world on its own locked OS thread and
// returns each rank's error.
func ranks(world int, fn func(rank int) error) []error {
	errs := make([]error, world)
	var wg sync.WaitGroup
	for r := 0; r < world; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			errs[r] = fn(r)
		}(r)
	}
	wg.Wait()
	return errs
}

// TestDistCollectives: two Gloo ranks in one process (127.0.0.1). The
// all-reduce of two tensors of different shapes in one call gives the
// scaled sum on both ranks; broadcast gives rank 0's values; barrier
// returns.
func TestDistCollectives(t *testing.T) {
	needGloo(t)
	port := freePort(t)
	out := make([][]float64, 2)
	bc := make([][]float64, 2)
	errs := ranks(2, func(r int) error {
		pg, err := NewProcessGroup(DistConfig{Addr: "127.0.0.1", Port: port, Rank: r, World: 2, Timeout: 20 * time.Second})
		if err != nil {
			return err
		}
		defer pg.Close()
		s := NewNoGradScope()
		defer s.Close()
		f := float32(r + 1)
		a := FromSlice(s, []float32{f, 2 * f, 3 * f, 4 * f}, 2, 2)
		b := FromSlice(s, []float32{10 * f}, 1)
		c := FromSlice(s, []float32{f, f}, 2)
		if err := s.Err(); err != nil {
			return err
		}
		if err := pg.AllReduce([]*Tensor{a, b}, 0.5); err != nil {
			return err
		}
		if err := pg.Broadcast([]*Tensor{c}, 0); err != nil {
			return err
		}
		if err := pg.Barrier(); err != nil {
			return err
		}
		av, _ := a.Float64s()
		bv, _ := b.Float64s()
		out[r] = append(av, bv...)
		bc[r], _ = c.Float64s()
		return nil
	})
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	for r := 0; r < 2; r++ {
		near(t, "allreduce", out[r], []float64{1.5, 3, 4.5, 6, 15}, 0)
		near(t, "broadcast", bc[r], []float64{1, 1}, 0)
	}
}

// TestDistUnreachableStore: a rank whose store address has no listener
// fails with an error naming the store within the timeout (2 s, bound 10 s).
func TestDistUnreachableStore(t *testing.T) {
	needGloo(t)
	port := freePort(t)
	start := time.Now()
	_, err := NewProcessGroup(DistConfig{Addr: "127.0.0.1", Port: port, Rank: 1, World: 2, Timeout: 2 * time.Second})
	el := time.Since(start)
	if err == nil {
		t.Fatal("joined a group with no store")
	}
	if !strings.Contains(err.Error(), "could not reach the store") || !strings.Contains(err.Error(), "MASTER_PORT") {
		t.Fatalf("unclear error: %v", err)
	}
	if el > 10*time.Second {
		t.Fatalf("took %v", el)
	}
	t.Logf("after %v: %v", el.Round(time.Millisecond), err)
}

// TestDistMissingPeer: rank 1 joins and then never all-reduces (and
// later leaves): rank 0's all-reduce fails within its timeout (2 s, bound
// 15 s) with an error, and the group refuses later calls at once.
func TestDistMissingPeer(t *testing.T) {
	needGloo(t)
	port := freePort(t)
	done := make(chan struct{})
	var el time.Duration
	var first, second error
	errs := ranks(2, func(r int) error {
		pg, err := NewProcessGroup(DistConfig{Addr: "127.0.0.1", Port: port, Rank: r, World: 2, Timeout: 2 * time.Second})
		if err != nil {
			return err
		}
		defer pg.Close()
		if r == 1 {
			<-done
			return nil
		}
		defer close(done)
		s := NewNoGradScope()
		defer s.Close()
		a := FromSlice(s, []float32{1, 2}, 2)
		start := time.Now()
		first = pg.AllReduce([]*Tensor{a}, 1)
		el = time.Since(start)
		second = pg.AllReduce([]*Tensor{a}, 1)
		return nil
	})
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	if first == nil || !strings.Contains(first.Error(), "allreduce on rank 0 of 2 failed") {
		t.Fatalf("all-reduce without a peer: %v", first)
	}
	if el > 15*time.Second {
		t.Fatalf("took %v", el)
	}
	if second == nil || !strings.Contains(second.Error(), "broken") {
		t.Fatalf("second call: %v", second)
	}
	t.Logf("after %v: %v", el.Round(time.Millisecond), first)
}
