// Package tensortest holds the comparison helpers that the tests of the
// packages above torch share.
package tensortest

import (
	"math"
	"slices"
	"testing"

	"github.com/radinpaint/rad/torch"
)

// MaxAbsDiff is the largest |got - want| over two tensors of any float
// dtype and device (compared in float64 on the host): +Inf when the shapes
// differ, NaN when either has a NaN where the other has not the same.
func MaxAbsDiff(t testing.TB, got, want *torch.Tensor) float64 {
	t.Helper()
	if !got.Valid() || !want.Valid() {
		t.Fatalf("nil tensor (got %v, want %v)", got, want)
	}
	if !slices.Equal(got.Shape(), want.Shape()) {
		return math.Inf(1)
	}
	g, err := got.Float64s()
	if err != nil {
		t.Fatal(err)
	}
	w, err := want.Float64s()
	if err != nil {
		t.Fatal(err)
	}
	d := 0.0
	for i := range g {
		e := math.Abs(g[i] - w[i])
		if math.IsNaN(e) {
			return math.NaN()
		}
		d = math.Max(d, e)
	}
	return d
}

// NoErr fails the test with the scope's first error, if any.
func NoErr(t testing.TB, s *torch.Scope) {
	t.Helper()
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
}
