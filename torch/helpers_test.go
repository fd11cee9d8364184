package torch

import (
	"math"
	"slices"
	"testing"
)

// f32 builds a float32 tensor in s.
func f32(s *Scope, data []float32, shape ...int64) *Tensor { return FromSlice(s, data, shape...) }

// vals reads t as float64s, failing the test on error.
func vals(t *testing.T, x *Tensor) []float64 {
	t.Helper()
	if x == nil {
		t.Fatalf("nil tensor")
	}
	v, err := x.Float64s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func near(t *testing.T, name string, got []float64, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d (%v vs %v)", name, len(got), len(want), got, want)
	}
	for i := range got {
		if math.IsNaN(want[i]) {
			if !math.IsNaN(got[i]) {
				t.Fatalf("%s[%d] = %v, want NaN", name, i, got[i])
			}
			continue
		}
		if math.Abs(got[i]-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %.9g, want %.9g (all: %v)", name, i, got[i], want[i], got)
		}
	}
}

func shapeIs(t *testing.T, name string, x *Tensor, want ...int64) {
	t.Helper()
	if x == nil {
		t.Fatalf("%s: nil tensor", name)
	}
	if !slices.Equal(x.Shape(), want) {
		t.Fatalf("%s: shape %v, want %v", name, x.Shape(), want)
	}
}

func noErr(t *testing.T, s *Scope) {
	t.Helper()
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
}
