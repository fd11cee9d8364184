package eval

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Stats are the mean and covariance of a set of feature vectors, the
// summary FID compares.
type Stats struct {
	// N is the number of vectors the statistics were computed from.
	N int
	// Mu is the mean, of length D.
	Mu []float64
	// Sigma is the D x D covariance, row-major, with the unbiased
	// normalisation 1/(N-1) (numpy.cov's default).
	Sigma []float64
}

// Dim is the feature dimension D.
func (st Stats) Dim() int { return len(st.Mu) }

// ComputeStats returns the mean and covariance of f (at least two vectors).
func ComputeStats(f Features) (Stats, error) {
	if f.N < 2 {
		return Stats{}, fmt.Errorf("eval: stats of %d feature vectors: need at least 2", f.N)
	}
	if len(f.Data) != f.N*f.D || f.D <= 0 {
		return Stats{}, fmt.Errorf("eval: stats: %d values for [%d, %d]", len(f.Data), f.N, f.D)
	}
	n, d := f.N, f.D
	mu := make([]float64, d)
	for i := 0; i < n; i++ {
		for j, v := range f.Row(i) {
			mu[j] += v
		}
	}
	for j := range mu {
		mu[j] /= float64(n)
	}
	// sum of outer products of the centred vectors, a chunk of rows at a time
	const chunk = 512
	cov := mat.NewSymDense(d, nil)
	buf := mat.NewDense(min(chunk, n), d, nil)
	for lo := 0; lo < n; lo += chunk {
		k := min(chunk, n-lo)
		part := buf.Slice(0, k, 0, d).(*mat.Dense)
		for i := 0; i < k; i++ {
			row := f.Row(lo + i)
			for j := range row {
				part.Set(i, j, row[j]-mu[j])
			}
		}
		cov.SymRankK(cov, 1, part.T())
	}
	cov.ScaleSym(1/float64(n-1), cov)
	sigma := make([]float64, d*d)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			sigma[i*d+j] = cov.At(i, j)
		}
	}
	return Stats{N: n, Mu: mu, Sigma: sigma}, nil
}

// FID is the Fréchet distance between the Gaussians N(mu1, sigma1) and
// N(mu2, sigma2) (covariances row-major D x D):
//
//	|mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2))
//
// The trace of the square root is computed in float64 from symmetric
// eigendecompositions: with R = sigma1^(1/2), the eigenvalues of the
// symmetric positive semi-definite R sigma2 R are those of sigma1 sigma2,
// so tr((sigma1 sigma2)^(1/2)) is the sum of their square roots.
// Eigenvalues that rounding makes slightly negative count as 0. The
// covariances are symmetrised ((S + S^T) / 2) first.
func FID(mu1, sigma1, mu2, sigma2 []float64) (float64, error) {
	d := len(mu1)
	if d == 0 {
		return 0, fmt.Errorf("eval: fid: empty mean")
	}
	if len(mu2) != d {
		return 0, fmt.Errorf("eval: fid: means of dimension %d and %d", d, len(mu2))
	}
	if len(sigma1) != d*d || len(sigma2) != d*d {
		return 0, fmt.Errorf("eval: fid: covariances of %d and %d values for dimension %d (want %d)", len(sigma1), len(sigma2), d, d*d)
	}
	for name, v := range map[string][]float64{"mu1": mu1, "mu2": mu2, "sigma1": sigma1, "sigma2": sigma2} {
		for i, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return 0, fmt.Errorf("eval: fid: %s[%d] is %v", name, i, x)
			}
		}
	}
	s1, s2 := symmetric(sigma1, d), symmetric(sigma2, d)

	var diff float64
	for i := range mu1 {
		e := mu1[i] - mu2[i]
		diff += e * e
	}
	var tr1, tr2 float64
	for i := 0; i < d; i++ {
		tr1 += s1.At(i, i)
		tr2 += s2.At(i, i)
	}

	r, err := sqrtPSD(s1)
	if err != nil {
		return 0, fmt.Errorf("eval: fid: square root of sigma1: %w", err)
	}
	var rs mat.Dense
	rs.Mul(r, s2)
	var m mat.Dense
	m.Mul(&rs, r)
	inner := mat.NewSymDense(d, nil)
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			inner.SetSym(i, j, (m.At(i, j)+m.At(j, i))/2)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(inner, false) {
		return 0, fmt.Errorf("eval: fid: eigendecomposition of sigma1^(1/2) sigma2 sigma1^(1/2) did not converge")
	}
	var trSqrt float64
	for _, l := range eig.Values(nil) {
		if l > 0 {
			trSqrt += math.Sqrt(l)
		}
	}
	return diff + tr1 + tr2 - 2*trSqrt, nil
}

// FIDStats is FID between two sets of statistics.
func FIDStats(a, b Stats) (float64, error) { return FID(a.Mu, a.Sigma, b.Mu, b.Sigma) }

// symmetric returns (S + S^T) / 2 of the row-major d x d matrix s.
func symmetric(s []float64, d int) *mat.SymDense {
	out := mat.NewSymDense(d, nil)
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			out.SetSym(i, j, (s[i*d+j]+s[j*d+i])/2)
		}
	}
	return out
}

// sqrtPSD is the symmetric square root V diag(sqrt(max(l, 0))) V^T of a
// symmetric matrix.
func sqrtPSD(s *mat.SymDense) (*mat.Dense, error) {
	var eig mat.EigenSym
	if !eig.Factorize(s, true) {
		return nil, fmt.Errorf("eigendecomposition did not converge")
	}
	vals := eig.Values(nil)
	var v mat.Dense
	eig.VectorsTo(&v)
	d := len(vals)
	scaled := mat.NewDense(d, d, nil)
	for j, l := range vals {
		r := 0.0
		if l > 0 {
			r = math.Sqrt(l)
		}
		for i := 0; i < d; i++ {
			scaled.Set(i, j, v.At(i, j)*r)
		}
	}
	var out mat.Dense
	out.Mul(scaled, v.T())
	return &out, nil
}
