package torch

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// SetNumThreads also sets OpenBLAS's own pool (Debian's libtorch calls
// OpenBLAS), and leaves it alone when the user chose
// (OPENBLAS_NUM_THREADS): the latter checked in a child test process.
func TestOpenBLASFollowsThreads(t *testing.T) {
	if want := os.Getenv("RADTORCH_TEST_BLAS_WANT"); want != "" {
		if err := SetNumThreads(1); err != nil {
			t.Fatal(err)
		}
		if got := strconv.Itoa(BLASThreads()); got != want {
			t.Fatalf("BLASThreads() = %s after SetNumThreads(1), want %s (OPENBLAS_NUM_THREADS=%q)", got, want, os.Getenv("OPENBLAS_NUM_THREADS"))
		}
		return
	}
	if BLASThreads() < 0 {
		t.Skip("libtorch's BLAS is not OpenBLAS")
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
		if err != nil || v[0] != 64 {
			t.Fatalf("matmul with %d threads: %v %v", n, v[:1], err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestOpenBLASFollowsThreads$", "-test.count=1")
	cmd.Env = append(os.Environ(), "OPENBLAS_NUM_THREADS=2", "RADTORCH_TEST_BLAS_WANT=2")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("child with OPENBLAS_NUM_THREADS=2: %v\n%s", err, out)
	}
}
