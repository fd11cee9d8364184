package torch

import (
	"os"
	"syscall"
	"testing"
)

// The shim's malloc thresholds keep freed activations on the heap: rounds
// of allocating and freeing 100 MB of tensors fault well under the 25,600
// pages they span (measured 9-11 k; glibc's defaults trim the freed 100 MB
// back to the kernel, and each round faults all 25,600 pages again).
func TestMallocKeepsFreedActivations(t *testing.T) {
	for _, v := range []string{"GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"} {
		if os.Getenv(v) != "" {
			t.Skipf("%s is set: the user's malloc settings win", v)
		}
	}
	if os.Getenv("RADTORCH_MALLOC_TRIM") == "0" {
		t.Skip("RADTORCH_MALLOC_TRIM=0")
	}
	round := func() {
		s := NewNoGradScope()
		for i := 0; i < 5; i++ {
			s.Ones(Float32, CPU, 5<<20) // 20 MB, written
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	faults := func() int64 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return ru.Minflt
	}
	round() // the first round grows the heap
	before := faults()
	for i := 0; i < 8; i++ {
		round()
	}
	perRound := float64(faults()-before) / 8
	t.Logf("%.0f page faults per round of 100 MB (25,600 pages)", perRound)
	if perRound > 16000 {
		t.Fatalf("%.0f page faults per round: freed tensors went back to the kernel", perRound)
	}
}
