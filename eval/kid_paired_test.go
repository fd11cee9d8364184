package eval

import (
	"math"
	"math/rand/v2"
	"testing"
)

// pairedToy is n pairs (x_i, y_i) of one distribution, y = rho x +
// sqrt(1-rho^2) z with x, z standard normal in d dimensions: the two sets
// have identical marginals (MMD = 0) but each y_i is close to its x_i, as
// a fill is to its original.
func pairedToy(n, d int, rho float64, seed uint64) (Features, Features) {
	rng := rand.New(rand.NewPCG(seed, 17))
	x, y := make([]float64, n*d), make([]float64, n*d)
	c := math.Sqrt(1 - rho*rho)
	for i := range x {
		x[i] = rng.NormFloat64()
		y[i] = rho*x[i] + c*rng.NormFloat64()
	}
	return Features{N: n, D: d, Data: x}, Features{N: n, D: d, Data: y}
}

// TestKIDPairedUnbiased: on paired samples of one distribution, the paired
// estimator's mean over 200 seeds is 0 within 3 standard errors; the
// estimator that draws the two subsets independently (what the evaluation
// used before) is biased below 0 by more than 3 standard errors, as
// predicted (about -2 delta/N).
func TestKIDPairedUnbiased(t *testing.T) {
	const seeds, n, d, rho = 200, 100, 8, 0.9
	stat := func(paired bool) (mean, se float64) {
		vals := make([]float64, seeds)
		for s := range vals {
			a, b := pairedToy(n, d, rho, uint64(s))
			r, err := KID(a, b, KIDOptions{Subsets: 20, SubsetSize: 50, Seed: uint64(s), Paired: paired})
			if err != nil {
				t.Fatal(err)
			}
			vals[s] = r.Mean
		}
		for _, v := range vals {
			mean += v
		}
		mean /= seeds
		for _, v := range vals {
			se += (v - mean) * (v - mean)
		}
		return mean, math.Sqrt(se / (seeds - 1) / seeds)
	}
	pm, pse := stat(true)
	um, use := stat(false)
	t.Logf("paired: %.5f +- %.5f; independent subsets: %.5f +- %.5f", pm, pse, um, use)
	if math.Abs(pm) > 3*pse {
		t.Fatalf("paired KID %.5f, more than 3 standard errors (%.5f) from 0", pm, pse)
	}
	if um > -3*use {
		t.Fatalf("independent subsets gave %.5f +- %.5f: the bias this test must see is gone", um, use)
	}
	a, b := pairedToy(10, d, rho, 1)
	if _, err := KID(a, Features{N: 9, D: d, Data: b.Data[:9*d]}, KIDOptions{SubsetSize: 5, Paired: true}); err == nil {
		t.Fatal("paired sets of different sizes accepted")
	}
}

// TestKIDPairedSeesShift: the paired estimator still tells two different
// distributions apart.
func TestKIDPairedSeesShift(t *testing.T) {
	a, b := pairedToy(200, 8, 0.9, 3)
	for i := range b.Data {
		b.Data[i] += 0.5
	}
	r, err := KID(a, b, KIDOptions{Subsets: 20, SubsetSize: 100, Paired: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Mean < 5*r.Std/math.Sqrt(20) || r.Mean <= 0 {
		t.Fatalf("shifted sets: KID %.5f +- %.5f", r.Mean, r.Std)
	}
}
