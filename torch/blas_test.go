package torch

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// SetNumThreads also sets OpenBLAS's own pool (Debian's libtorch calls
// OpenBLAS's pthread build), and leaves it alone when the user chose
// (OPENBLAS_NUM_THREADS): the latter checked in a child test process.
func TestOpenBLASFollowsThreads(t *testing.T) {
	if want := os.Getenv("RADTORCH_TEST_BLAS_WANT"); want != "" {
		if err := SetNumThreads(3); err != nil {
			t.Fatal(err)
		}
		if got := strconv.Itoa(BLASThreads()); got != want {
			t.Fatalf("BLASThreads() = %s after SetNumThreads(3), want %s (OPENBLAS_NUM_THREADS=%q)", got, want, os.Getenv("OPENBLAS_NUM_THREADS"))
		}
		return
	}
	if BLASThreads() < 0 {
		t.Skip("libtorch's BLAS is not OpenBLAS's pthread build")
	}
	if os.Getenv("OPENBLAS_NUM_THREADS") != "" || os.Getenv("GOTO_NUM_THREADS") != "" {
		t.Skip("the environment sets OpenBLAS's threads")
	}
	prev := NumThreads()
	defer SetNumThreads(prev)
	for _, n := range []int{1, 3, prev} {
		if err := SetNumThreads(n); err != nil {
			t.Fatal(err)
		}
		if got := BLASThreads(); got != n {
			t.Fatalf("BLASThreads() = %d after SetNumThreads(%d)", got, n)
		}
		// a matrix product still works with it
		s := NewNoGradScope()
		a := s.Ones(Float32, CPU, 64, 64)
		v, err := s.Matmul(a, a).Float32s()
		s.Close()
		if err != nil {
			t.Fatalf("matmul with %d threads: %v", n, err)
		}
		if v[0] != 64 {
			t.Fatalf("matmul with %d threads: %v, want 64", n, v[0])
		}
	}
	// the user's choice stands (1: OpenBLAS caps what it reads from the
	// environment at the CPUs it sees, so 1 holds on any machine)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestOpenBLASFollowsThreads$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS=1", "RADTORCH_TEST_BLAS_WANT=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestOpenBLASFollowsThreads") {
		t.Fatalf("child with OPENBLAS_NUM_THREADS=1: %v\n%s", err, out)
	}
}
