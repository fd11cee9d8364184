package torch

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssBytes reads the process's resident set size from /proc.
func rssBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm")
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// TestScopesKeepMemoryFlat runs 40,000 ops on 256 KiB tensors inside
// scopes. Were they not freed, RSS would grow by ~10 GB; it must stay flat,
// and the live-handle count must come back to where it started.
func TestScopesKeepMemoryFlat(t *testing.T) {
	g := NewGenerator(1)
	defer g.Close()
	root := NewNoGradScope()
	defer root.Close()
	x := root.Randn(g, Float32, CPU, 256, 256) // 256 KiB
	start := LiveTensors()
	loop := func(iters int) {
		for i := 0; i < iters; i++ {
			s := root.Child()
			y := x
			for j := 0; j < 100; j++ {
				y = s.AddScalar(s.MulScalar(y, 0.5), 1)
			}
			kept := s.Keep(s.Sum(y))
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			s.Close()
			kept.Free()
		}
	}
	// warm up: libtorch's intra-op threads each grow a malloc arena the
	// first times they run, more of them on machines with more cores
	loop(100)
	before := rssBytes(t)
	loop(200) // 200 scopes x 201 ops
	after := rssBytes(t)
	if LiveTensors() != start {
		t.Fatalf("live tensors %d, started at %d", LiveTensors(), start)
	}
	if grow := after - before; grow > 48<<20 {
		t.Fatalf("RSS grew by %d MiB over 40,200 ops", grow>>20)
	}
	t.Logf("RSS %d MiB -> %d MiB", before>>20, after>>20)
}

func TestScopeKeepAdoptFree(t *testing.T) {
	start := LiveTensors()
	parent := NewScope()
	child := parent.Child()
	a := child.Ones(Float32, CPU, 2)
	b := child.Ones(Float32, CPU, 2)
	child.Keep(a) // a moves to parent
	child.Close()
	if !a.Valid() || b.Valid() {
		t.Fatal("Keep did not move a, or Close did not free b")
	}
	if parent.Len() != 1 {
		t.Fatalf("parent owns %d tensors", parent.Len())
	}
	other := NewScope()
	other.Adopt(a)
	parent.Close()
	if !a.Valid() {
		t.Fatal("adopted tensor freed with its old scope")
	}
	root := NewScope()
	c := root.Keep(root.Zeros(Float32, CPU, 3)) // no parent: c is on its own
	root.Close()
	if !c.Valid() {
		t.Fatal("kept tensor freed")
	}
	c.Free()
	c.Free() // twice is fine
	other.Close()
	other.Close()
	if LiveTensors() != start {
		t.Fatalf("%d tensors leaked", LiveTensors()-start)
	}
}

func TestLeakDetector(t *testing.T) {
	if testing.Short() {
		t.Skip("relies on the GC")
	}
	SetLeakCheck(true)
	defer SetLeakCheck(false)
	before := Leaked()
	func() {
		s := NewScope()
		for i := 0; i < 10; i++ {
			s.Ones(Float32, CPU, 1)
		}
		// s dropped without Close: a leak
	}()
	for i := 0; i < 50 && Leaked()-before < 10; i++ {
		runtimeGC()
	}
	if Leaked()-before != 10 {
		t.Fatalf("leak detector counted %d of 10", Leaked()-before)
	}
}
