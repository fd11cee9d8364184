package eval

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// KIDOptions choose the subsets KID averages over.
type KIDOptions struct {
	// Subsets is the number of random subset pairs (0: 100).
	Subsets int
	// SubsetSize is the number of vectors drawn, without replacement, from
	// each set for one subset pair (0: min(1000, Na, Nb)). It must be at
	// least 2 and at most the size of the smaller set.
	SubsetSize int
	// Seed makes the draws reproducible.
	Seed uint64
	// Paired says that row i of the first set was made from row i of the
	// second (a fill and its original): the sets must be of one size, each
	// subset takes the same rows of both, and the matched pairs (i, i)
	// are left out of the cross term (kidPaired), so that a fill's
	// likeness to its own original does not pull the estimate down.
	Paired bool
}

// KIDResult is KID's mean over subsets and its standard deviation.
type KIDResult struct {
	Mean, Std  float64
	Subsets    int
	SubsetSize int
}

// DefaultKIDSubsets is the number of subsets when KIDOptions.Subsets is 0.
const DefaultKIDSubsets = 100

// DefaultKIDSubsetSize bounds the subset size when KIDOptions.SubsetSize is 0.
const DefaultKIDSubsetSize = 1000

// KID is the kernel inception distance between two feature sets of the
// same dimension d: the unbiased estimate of the squared maximum mean
// discrepancy under the polynomial kernel k(x, y) = (x.y/d + 1)^3,
//
//	MMD^2 = sum_{i!=j} k(a_i, a_j) / (m(m-1)) + sum_{i!=j} k(b_i, b_j) / (m(m-1))
//	      - 2 sum_{i,j} k(a_i, b_j) / m^2,
//
// over opts.Subsets pairs of random subsets of m = opts.SubsetSize vectors
// of each set, as torch-fidelity and clean-fid compute it; with
// opts.Paired, over subsets of m row pairs without the matched terms
// (mmd2Paired). It returns the
// mean over subsets and their (population) standard deviation. The draws
// depend only on opts.Seed and the set sizes.
func KID(a, b Features, opts KIDOptions) (KIDResult, error) {
	if a.D <= 0 || len(a.Data) != a.N*a.D || len(b.Data) != b.N*b.D {
		return KIDResult{}, fmt.Errorf("eval: kid: malformed features [%d, %d] (%d values) and [%d, %d] (%d values)",
			a.N, a.D, len(a.Data), b.N, b.D, len(b.Data))
	}
	if a.D != b.D {
		return KIDResult{}, fmt.Errorf("eval: kid: feature dimensions %d and %d differ", a.D, b.D)
	}
	subsets := opts.Subsets
	if subsets == 0 {
		subsets = DefaultKIDSubsets
	}
	m := opts.SubsetSize
	if m == 0 {
		m = min(DefaultKIDSubsetSize, a.N, b.N)
	}
	if subsets < 0 {
		return KIDResult{}, fmt.Errorf("eval: kid: %d subsets", subsets)
	}
	if m < 2 || m > a.N || m > b.N {
		return KIDResult{}, fmt.Errorf("eval: kid: subset size %d for sets of %d and %d vectors (need 2 <= size <= both)", m, a.N, b.N)
	}
	if opts.Paired && a.N != b.N {
		return KIDResult{}, fmt.Errorf("eval: kid: paired sets of %d and %d vectors (a pair per row: need equal sizes)", a.N, b.N)
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x4b4944)) // "KID"
	vals := make([]float64, subsets)
	x := mat.NewDense(m, a.D, nil)
	y := mat.NewDense(m, a.D, nil)
	for k := range vals {
		if opts.Paired {
			idx := rng.Perm(a.N)[:m]
			for r, i := range idx {
				x.SetRow(r, a.Row(i))
				y.SetRow(r, b.Row(i))
			}
			vals[k] = mmd2Paired(x, y)
			continue
		}
		fillSubset(x, a, rng, m)
		fillSubset(y, b, rng, m)
		vals[k] = mmd2Unbiased(x, y)
	}
	var mean float64
	for _, v := range vals {
		mean += v
	}
	mean /= float64(subsets)
	var v2 float64
	for _, v := range vals {
		v2 += (v - mean) * (v - mean)
	}
	return KIDResult{Mean: mean, Std: math.Sqrt(v2 / float64(subsets)), Subsets: subsets, SubsetSize: m}, nil
}

// fillSubset copies m vectors of f, drawn without replacement, into dst's rows.
func fillSubset(dst *mat.Dense, f Features, rng *rand.Rand, m int) {
	idx := rng.Perm(f.N)[:m]
	for r, i := range idx {
		dst.SetRow(r, f.Row(i))
	}
}

// mmd2Paired is the unbiased MMD^2 estimate of m pairs (x_i, y_i), the
// U-statistic over pairs of pairs (Gretton et al. 2012, MMD_u^2):
//
//	MMD^2 = sum_{i!=j} [k(x_i,x_j) + k(y_i,y_j) - k(x_i,y_j) - k(x_j,y_i)] / (m(m-1)).
//
// Its expectation is MMD^2 however x_i and y_i depend on each other, as
// long as the pairs are independent of one another: the matched terms
// k(x_i, y_i) are never used. Drawing the two subsets independently
// instead (mmd2Unbiased on paired sets) puts a matched pair in the cross
// term with probability 1/N each, which biases the estimate down by
// about 2(E k(x_i,y_i) - E k(x_i,y_j))/N.
func mmd2Paired(x, y *mat.Dense) float64 {
	m, d := x.Dims()
	cube := func(v float64) float64 { t := v/float64(d) + 1; return t * t * t }
	var gxx, gyy, gxy mat.Dense
	gxx.Mul(x, x.T())
	gyy.Mul(y, y.T())
	gxy.Mul(x, y.T())
	var sum float64
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			if i != j {
				sum += cube(gxx.At(i, j)) + cube(gyy.At(i, j)) - 2*cube(gxy.At(i, j))
			}
		}
	}
	fm := float64(m)
	return sum / (fm * (fm - 1))
}

// mmd2Unbiased is the unbiased MMD^2 estimate between the rows of x and y
// (m rows each) under the cubic polynomial kernel, for independent sets.
func mmd2Unbiased(x, y *mat.Dense) float64 {
	m, d := x.Dims()
	kernelSum := func(p, q *mat.Dense, offDiagonal bool) float64 {
		var g mat.Dense
		g.Mul(p, q.T())
		var sum float64
		for i := 0; i < m; i++ {
			row := g.RawRowView(i)
			for j, v := range row {
				if offDiagonal && i == j {
					continue
				}
				t := v/float64(d) + 1
				sum += t * t * t
			}
		}
		return sum
	}
	kxx := kernelSum(x, x, true)
	kyy := kernelSum(y, y, true)
	kxy := kernelSum(x, y, false)
	fm := float64(m)
	return (kxx+kyy)/(fm*(fm-1)) - 2*kxy/(fm*fm)
}
