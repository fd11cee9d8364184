package torch

import "testing"

func TestGeneratorDeterminismAndState(t *testing.T) {
	s := NewScope()
	defer s.Close()
	g1, g2 := NewGenerator(42), NewGenerator(42)
	defer g1.Close()
	defer g2.Close()
	a := vals(t, s.Randn(g1, Float32, CPU, 100))
	b := vals(t, s.Randn(g2, Float32, CPU, 100))
	near(t, "same seed", a, b, 0)
	g3 := NewGenerator(43)
	defer g3.Close()
	c := vals(t, s.Randn(g3, Float32, CPU, 100))
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same > 2 {
		t.Fatalf("seeds 42 and 43 share %d of 100 values", same)
	}
	// moments of a larger draw
	x := s.Randn(g1, Float64, CPU, 100000)
	m, _ := s.Mean(x).Item()
	sd, _ := s.Std(x).Item()
	if m > 0.02 || m < -0.02 || sd < 0.98 || sd > 1.02 {
		t.Fatalf("randn mean %v std %v", m, sd)
	}
	u := s.Rand(g1, Float32, CPU, 10000)
	lo, _ := s.Min(u).Item()
	hi, _ := s.Max(u).Item()
	if lo < 0 || hi >= 1 {
		t.Fatalf("rand outside [0,1): %v %v", lo, hi)
	}
	nm := s.Normal(g1, 5, 0.1, Float32, CPU, 10000)
	nmm, _ := s.Mean(nm).Item()
	if nmm < 4.99 || nmm > 5.01 {
		t.Fatalf("normal(5, .1) mean %v", nmm)
	}
	ri := s.RandInt(g1, 3, 6, CPU, 1000)
	if ri.DType() != Int64 {
		t.Fatalf("randint dtype %s", ri.DType())
	}
	rlo, _ := s.Min(ri).Item()
	rhi, _ := s.Max(ri).Item()
	if rlo != 3 || rhi != 5 {
		t.Fatalf("randint range [%v, %v]", rlo, rhi)
	}
	// state save and restore replays the stream
	st, err := g1.State()
	if err != nil {
		t.Fatal(err)
	}
	next := vals(t, s.Randn(g1, Float32, CPU, 10))
	if err := g2.SetState(st); err != nil {
		t.Fatal(err)
	}
	near(t, "restored", vals(t, s.Randn(g2, Float32, CPU, 10)), next, 0)
	if err := g2.SetState([]byte{1, 2, 3}); err == nil {
		t.Fatal("bad generator state accepted")
	}
	// dropout: train zeroes about p and rescales, eval is the identity
	ones := s.Ones(Float32, CPU, 10000)
	d := s.Dropout(ones, 0.25, true, g1)
	dm, _ := s.Mean(d).Item()
	z, _ := s.Mean(s.To(s.EqScalar(d, 0), Float32)).Item()
	if z < 0.23 || z > 0.27 || dm < 0.97 || dm > 1.03 {
		t.Fatalf("dropout zero fraction %v mean %v", z, dm)
	}
	near(t, "dropout eval", vals(t, s.Dropout(f32(s, []float32{1, 2}, 2), 0.5, false, nil)), []float64{1, 2}, 0)
	noErr(t, s)
	var nilGen *Generator
	if s.Randn(nilGen, Float32, CPU, 2) != nil || s.Err() == nil {
		t.Fatal("randn with nil generator did not fail")
	}
}
