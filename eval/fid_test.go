package eval

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func relClose(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Max(math.Abs(want), 1e-300)
}

// TestFIDScipyReference compares with gen_fid_ref.py's scipy.linalg.sqrtm
// computation on the same features.
func TestFIDScipyReference(t *testing.T) {
	var c fidCase
	readJSON(t, filepath.Join("testdata", "fid_features.json"), &c)
	var ref fidRef
	readJSON(t, filepath.Join("testdata", "fid_ref.json"), &ref)
	a, b := unrows(t, c.Feats1), unrows(t, c.Feats2)
	// the stored features are the formula's (the file is not stale)
	if g := fidFeatures(1, 64, 8, 0); g.N != a.N || g.Data[17] != a.Data[17] || g.Data[len(g.Data)-1] != a.Data[len(a.Data)-1] {
		t.Fatalf("testdata/fid_features.json differs from fidFeatures: rerun TestWriteTestdata and gen_fid_ref.py")
	}
	sa, err := ComputeStats(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := ComputeStats(b)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range ref.Mu1 {
		if math.Abs(sa.Mu[i]-v) > 1e-12 {
			t.Fatalf("mu1[%d] = %.17g, numpy %.17g", i, sa.Mu[i], v)
		}
	}
	for i, v := range ref.Sigma1 {
		if math.Abs(sa.Sigma[i]-v) > 1e-12 {
			t.Fatalf("sigma1[%d] = %.17g, numpy.cov %.17g", i, sa.Sigma[i], v)
		}
	}
	got, err := FIDStats(sa, sb)
	if err != nil {
		t.Fatal(err)
	}
	if !relClose(got, ref.FID, 1e-6) {
		t.Fatalf("FID %.12g, scipy %.12g", got, ref.FID)
	}
	t.Logf("FID %.15g, scipy %.15g (rel diff %.2g)", got, ref.FID, math.Abs(got-ref.FID)/ref.FID)
	// symmetric in its arguments
	back, err := FIDStats(sb, sa)
	if err != nil {
		t.Fatal(err)
	}
	if !relClose(back, got, 1e-9) {
		t.Fatalf("FID(b, a) = %.12g, FID(a, b) = %.12g", back, got)
	}
}

func TestFIDKnownValues(t *testing.T) {
	// 1-D: (m1 - m2)^2 + (sqrt(s1) - sqrt(s2))^2
	got, err := FID([]float64{1}, []float64{4}, []float64{3}, []float64{9})
	if err != nil {
		t.Fatal(err)
	}
	if want := 4.0 + 1; !relClose(got, want, 1e-12) {
		t.Fatalf("1-D FID %v, want %v", got, want)
	}
	// diagonal: the sum over dimensions of the 1-D values
	got, err = FID([]float64{0, 1}, []float64{1, 0, 0, 4}, []float64{0, 0}, []float64{4, 0, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := 1.0 + 1 + 1; !relClose(got, want, 1e-12) {
		t.Fatalf("diagonal FID %v, want %v", got, want)
	}
	// the same Gaussian: 0, also for a singular covariance (rank 1 of 3)
	a := fidFeatures(3, 50, 6, 0.2)
	st, err := ComputeStats(a)
	if err != nil {
		t.Fatal(err)
	}
	self, err := FIDStats(st, st)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(self) > 1e-9 {
		t.Fatalf("FID of a set with itself %g", self)
	}
	v := []float64{1, 2, -1}
	sing := make([]float64, 9)
	for i := range v {
		for j := range v {
			sing[i*3+j] = v[i] * v[j]
		}
	}
	self, err = FID([]float64{0, 0, 0}, sing, []float64{0, 0, 0}, sing)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(self) > 1e-6 {
		t.Fatalf("FID of a singular Gaussian with itself %g", self)
	}
	// a shift of the mean by delta adds |delta|^2
	b := make([]float64, len(st.Mu))
	for i := range b {
		b[i] = st.Mu[i] + 0.5
	}
	shifted, err := FID(st.Mu, st.Sigma, b, st.Sigma)
	if err != nil {
		t.Fatal(err)
	}
	if want := 0.25 * float64(len(b)); math.Abs(shifted-want) > 1e-8 {
		t.Fatalf("FID after a mean shift %v, want %v", shifted, want)
	}
}

func TestFIDErrors(t *testing.T) {
	for _, c := range []struct {
		name                   string
		mu1, sigma1, mu2, sig2 []float64
		want                   string
	}{
		{"empty", nil, nil, nil, nil, "empty mean"},
		{"dims", []float64{0, 0}, []float64{1, 0, 0, 1}, []float64{0}, []float64{1}, "dimension 2 and 1"},
		{"sigma", []float64{0, 0}, []float64{1, 0, 0}, []float64{0, 0}, []float64{1, 0, 0, 1}, "3 and 4 values"},
		{"nan", []float64{0, math.NaN()}, []float64{1, 0, 0, 1}, []float64{0, 0}, []float64{1, 0, 0, 1}, "mu1[1] is NaN"},
	} {
		_, err := FID(c.mu1, c.sigma1, c.mu2, c.sig2)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := ComputeStats(Features{N: 1, D: 2, Data: []float64{1, 2}}); err == nil {
		t.Errorf("stats of one vector: no error")
	}
	if _, err := NewFeatures([]float64{1, 2, 3}, 2, 2); err == nil || !strings.Contains(err.Error(), "3 values for [2, 2]") {
		t.Errorf("NewFeatures: %v", err)
	}
	if _, err := NewFeatures([]float64{1, math.Inf(1)}, 1, 2); err == nil {
		t.Errorf("NewFeatures with Inf: no error")
	}
}

// directMMD2 is the unbiased MMD^2 written out as sums over pairs.
func directMMD2(a, b Features) float64 {
	k := func(x, y []float64) float64 {
		var dot float64
		for i := range x {
			dot += x[i] * y[i]
		}
		return math.Pow(dot/float64(len(x))+1, 3)
	}
	m := float64(a.N)
	var xx, yy, xy float64
	for i := 0; i < a.N; i++ {
		for j := 0; j < a.N; j++ {
			if i != j {
				xx += k(a.Row(i), a.Row(j))
				yy += k(b.Row(i), b.Row(j))
			}
			xy += k(a.Row(i), b.Row(j))
		}
	}
	return xx/(m*(m-1)) + yy/(m*(m-1)) - 2*xy/(m*m)
}

func TestKIDMatchesDirectFormula(t *testing.T) {
	a := fidFeatures(11, 7, 3, 0)
	b := fidFeatures(12, 7, 3, 0.4)
	want := directMMD2(a, b)
	// subsets of all vectors are permutations: every subset gives the same value
	r, err := KID(a, b, KIDOptions{Subsets: 5, SubsetSize: 7, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !relClose(r.Mean, want, 1e-12) || r.Std > 1e-12*math.Abs(want) {
		t.Fatalf("KID %v +- %v, direct %v", r.Mean, r.Std, want)
	}
	// a hand-made case: d = 1, a = {0, 1}, b = {1, 2}: k = (xy + 1)^3
	// xx: 2 k(0,1) = 2; yy: 2 k(1,2) = 54; xy: k(0,1)+k(0,2)+k(1,1)+k(1,2) = 1+1+8+27
	// MMD^2 = (2 + 54)/2 - 2*37/4 = 28 - 18.5 = 9.5
	ha, _ := NewFeatures([]float64{0, 1}, 2, 1)
	hb, _ := NewFeatures([]float64{1, 2}, 2, 1)
	r, err = KID(ha, hb, KIDOptions{Subsets: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Mean != 9.5 || r.SubsetSize != 2 || r.Subsets != 1 {
		t.Fatalf("hand case: %+v, want mean 9.5", r)
	}
}

func TestKIDSameAndShifted(t *testing.T) {
	a := fidFeatures(21, 400, 8, 0)
	b := fidFeatures(22, 400, 8, 0) // another sample of the same distribution
	c := fidFeatures(23, 400, 8, 0.5)
	opts := KIDOptions{Subsets: 20, SubsetSize: 100, Seed: 1}
	same, err := KID(a, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	shifted, err := KID(a, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("same %.5f +- %.5f, shifted %.5f +- %.5f", same.Mean, same.Std, shifted.Mean, shifted.Std)
	if math.Abs(same.Mean) > 3*same.Std/math.Sqrt(float64(opts.Subsets))+1e-3 {
		t.Fatalf("KID of two samples of one distribution %v +- %v, want ~0", same.Mean, same.Std)
	}
	if shifted.Mean < 10*math.Abs(same.Mean) || shifted.Mean < 3*shifted.Std {
		t.Fatalf("KID of shifted sets %v +- %v, same %v", shifted.Mean, shifted.Std, same.Mean)
	}
	// deterministic for a seed, different for another
	again, _ := KID(a, c, opts)
	if again != shifted {
		t.Fatalf("KID not deterministic: %+v vs %+v", again, shifted)
	}
	opts.Seed = 2
	other, _ := KID(a, c, opts)
	if other.Mean == shifted.Mean {
		t.Fatalf("seed does not change the subsets")
	}
	// defaults: 100 subsets of min(1000, n)
	small := fidFeatures(24, 30, 8, 0)
	d, err := KID(small, a, KIDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Subsets != DefaultKIDSubsets || d.SubsetSize != 30 {
		t.Fatalf("defaults: %+v", d)
	}
}

func TestKIDErrors(t *testing.T) {
	a := fidFeatures(1, 10, 4, 0)
	b := fidFeatures(1, 10, 3, 0)
	if _, err := KID(a, b, KIDOptions{}); err == nil || !strings.Contains(err.Error(), "dimensions 4 and 3") {
		t.Errorf("dims: %v", err)
	}
	if _, err := KID(a, a, KIDOptions{SubsetSize: 11}); err == nil || !strings.Contains(err.Error(), "subset size 11") {
		t.Errorf("subset size: %v", err)
	}
	one := fidFeatures(1, 1, 4, 0)
	if _, err := KID(one, a, KIDOptions{}); err == nil {
		t.Errorf("one vector: no error")
	}
}

// TestComputeStatsChunks checks the chunked covariance against a direct sum
// over more vectors than one chunk.
func TestComputeStatsChunks(t *testing.T) {
	f := fidFeatures(31, 1100, 5, 0.1)
	st, err := ComputeStats(f)
	if err != nil {
		t.Fatal(err)
	}
	for a := 0; a < f.D; a++ {
		for b := 0; b < f.D; b++ {
			var sum float64
			for i := 0; i < f.N; i++ {
				sum += (f.Row(i)[a] - st.Mu[a]) * (f.Row(i)[b] - st.Mu[b])
			}
			if want := sum / float64(f.N-1); math.Abs(st.Sigma[a*f.D+b]-want) > 1e-12 {
				t.Fatalf("sigma[%d][%d] = %v, direct %v", a, b, st.Sigma[a*f.D+b], want)
			}
		}
	}
	if st.N != 1100 || st.Dim() != 5 {
		t.Fatalf("stats of %d vectors, dimension %d", st.N, st.Dim())
	}
}
