package torch

import (
	"math"
	"strings"
	"testing"
)

func TestElementwiseKnownValues(t *testing.T) {
	s := NewScope()
	defer s.Close()
	x := f32(s, []float32{0.5, -1, 2, 4}, 4)
	cases := []struct {
		name string
		got  *Tensor
		want []float64
	}{
		{"neg", s.Neg(x), []float64{-0.5, 1, -2, -4}},
		{"abs", s.Abs(x), []float64{0.5, 1, 2, 4}},
		{"sqrt", s.Sqrt(s.Abs(x)), []float64{math.Sqrt(0.5), 1, math.Sqrt2, 2}},
		{"rsqrt", s.Rsqrt(s.Abs(x)), []float64{1 / math.Sqrt(0.5), 1, 1 / math.Sqrt2, 0.5}},
		{"exp", s.Exp(x), []float64{math.Exp(0.5), math.Exp(-1), math.Exp(2), math.Exp(4)}},
		{"log", s.Log(s.Abs(x)), []float64{math.Log(0.5), 0, math.Log(2), math.Log(4)}},
		{"log1p", s.Log1p(s.Abs(x)), []float64{math.Log1p(0.5), math.Log1p(1), math.Log1p(2), math.Log1p(4)}},
		{"expm1", s.Expm1(x), []float64{math.Expm1(0.5), math.Expm1(-1), math.Expm1(2), math.Expm1(4)}},
		{"sin", s.Sin(x), []float64{math.Sin(0.5), math.Sin(-1), math.Sin(2), math.Sin(4)}},
		{"cos", s.Cos(x), []float64{math.Cos(0.5), math.Cos(-1), math.Cos(2), math.Cos(4)}},
		{"tanh", s.Tanh(x), []float64{math.Tanh(0.5), math.Tanh(-1), math.Tanh(2), math.Tanh(4)}},
		{"erf", s.Erf(x), []float64{math.Erf(0.5), math.Erf(-1), math.Erf(2), math.Erf(4)}},
		{"sign", s.Sign(x), []float64{1, -1, 1, 1}},
		{"silu", s.SiLU(x), []float64{0.5 / (1 + math.Exp(-0.5)), -1 / (1 + math.E), 2 / (1 + math.Exp(-2)), 4 / (1 + math.Exp(-4))}},
		{"relu", s.ReLU(x), []float64{0.5, 0, 2, 4}},
		{"sigmoid", s.Sigmoid(x), []float64{1 / (1 + math.Exp(-0.5)), 1 / (1 + math.E), 1 / (1 + math.Exp(-2)), 1 / (1 + math.Exp(-4))}},
		{"square", s.Square(x), []float64{0.25, 1, 4, 16}},
		{"reciprocal", s.Reciprocal(x), []float64{2, -1, 0.5, 0.25}},
		{"floor", s.Floor(x), []float64{0, -1, 2, 4}},
		{"pow", s.PowScalar(x, 2), []float64{0.25, 1, 4, 16}},
		{"clamp", s.Clamp(x, 0, 3), []float64{0.5, 0, 2, 3}},
		{"clamp-lo", s.Clamp(x, 1, math.Inf(1)), []float64{1, 1, 2, 4}},
		{"addscalar", s.AddScalar(x, 1), []float64{1.5, 0, 3, 5}},
		{"subscalar", s.SubScalar(x, 1), []float64{-0.5, -2, 1, 3}},
		{"mulscalar", s.MulScalar(x, -2), []float64{-1, 2, -4, -8}},
		{"divscalar", s.DivScalar(x, 2), []float64{0.25, -0.5, 1, 2}},
		{"rsub", s.RSubScalar(1, x), []float64{0.5, 2, -1, -3}},
		{"rdiv", s.RDivScalar(1, x), []float64{2, -1, 0.5, 0.25}},
		{"gtscalar", s.GtScalar(x, 1), []float64{0, 0, 1, 1}},
		{"lescalar", s.LeScalar(x, 0.5), []float64{1, 1, 0, 0}},
	}
	for _, c := range cases {
		noErr(t, s)
		near(t, c.name, vals(t, c.got), c.want, 1e-6)
	}
}

func TestBinaryBroadcast(t *testing.T) {
	s := NewScope()
	defer s.Close()
	a := f32(s, []float32{1, 2, 3, 4, 5, 6}, 2, 3)
	b := f32(s, []float32{10, 20, 30}, 3)
	col := f32(s, []float32{2, 4}, 2, 1)
	near(t, "add", vals(t, s.Add(a, b)), []float64{11, 22, 33, 14, 25, 36}, 0)
	near(t, "sub", vals(t, s.Sub(a, b)), []float64{-9, -18, -27, -6, -15, -24}, 0)
	near(t, "mul", vals(t, s.Mul(a, col)), []float64{2, 4, 6, 16, 20, 24}, 0)
	near(t, "div", vals(t, s.Div(a, col)), []float64{0.5, 1, 1.5, 1, 1.25, 1.5}, 1e-7)
	near(t, "pow", vals(t, s.Pow(col, col)), []float64{4, 256}, 0)
	near(t, "maximum", vals(t, s.Maximum(a, s.MulScalar(col, 1))), []float64{2, 2, 3, 4, 5, 6}, 0)
	near(t, "minimum", vals(t, s.Minimum(a, col)), []float64{1, 2, 2, 4, 4, 4}, 0)
	near(t, "eq", vals(t, s.Eq(a, col)), []float64{0, 1, 0, 1, 0, 0}, 0)
	near(t, "ne", vals(t, s.Ne(a, col)), []float64{1, 0, 1, 0, 1, 1}, 0)
	near(t, "lt", vals(t, s.Lt(a, col)), []float64{1, 0, 0, 0, 0, 0}, 0)
	near(t, "ge", vals(t, s.Ge(a, col)), []float64{0, 1, 1, 1, 1, 1}, 0)
	m := s.Gt(a, col)
	near(t, "and", vals(t, s.LogicalAnd(m, s.Lt(a, s.AddScalar(col, 2)))), []float64{0, 0, 1, 0, 1, 0}, 0)
	near(t, "or", vals(t, s.LogicalOr(m, s.Eq(a, col))), []float64{0, 1, 1, 1, 1, 1}, 0)
	near(t, "not", vals(t, s.LogicalNot(m)), []float64{1, 1, 0, 1, 0, 0}, 0)
	near(t, "where", vals(t, s.Where(m, a, s.ZerosLike(a))), []float64{0, 0, 3, 0, 5, 6}, 0)
	near(t, "masked_fill", vals(t, s.MaskedFill(a, m, -1)), []float64{1, 2, -1, 4, -1, -1}, 0)
	near(t, "masked_select", vals(t, s.MaskedSelect(a, m)), []float64{3, 5, 6}, 0)
	near(t, "addcmul", vals(t, s.Addcmul(a, col, b, 0.5)), []float64{11, 22, 33, 24, 45, 66}, 0)
	near(t, "lerp", vals(t, s.Lerp(a, s.ZerosLike(a), 0.25)), []float64{0.75, 1.5, 2.25, 3, 3.75, 4.5}, 1e-7)
	noErr(t, s)
}

func TestModulate2(t *testing.T) {
	g := NewGenerator(5)
	defer g.Close()
	for _, grad := range []bool{false, true} {
		s := NewScope().SetGrad(grad)
		n := s.Randn(g, Float32, CPU, 2, 3, 4, 5)
		ind := s.Rand(g, Float32, CPU, 2, 1, 4, 5)
		v := func() *Tensor { return s.Randn(g, Float32, CPU, 2, 3, 1, 1) }
		a0, a1, b0, b1 := v(), v(), v(), v()
		if grad {
			a1.SetRequiresGrad(true)
		}
		want := s.Add(s.Mul(n, s.Add(a0, s.Mul(ind, a1))), s.Add(b0, s.Mul(ind, b1)))
		got := s.Modulate2(n, ind, a0, a1, b0, b1)
		noErr(t, s)
		near(t, "modulate2", vals(t, got), vals(t, want), 1e-6)
		if got.RequiresGrad() != grad {
			t.Fatalf("grad=%v: result requires grad %v", grad, got.RequiresGrad())
		}
		s.Close()
	}
}

func TestSpecialValues(t *testing.T) {
	s := NewScope()
	defer s.Close()
	x := f32(s, []float32{0, 1, -1, 2}, 4)
	z := s.ZerosLike(x)
	q := s.Div(x, z) // nan, inf, -inf, inf
	near(t, "isnan", vals(t, s.IsNaN(q)), []float64{1, 0, 0, 0}, 0)
	near(t, "isfinite", vals(t, s.IsFinite(q)), []float64{0, 0, 0, 0}, 0)
	near(t, "isinf", vals(t, s.IsInf(q)), []float64{0, 1, 1, 1}, 0)
	near(t, "all", vals(t, s.All(s.IsFinite(x))), []float64{1}, 0)
	near(t, "any", vals(t, s.Any(s.IsNaN(x))), []float64{0}, 0)
	near(t, "any-nan", vals(t, s.Any(s.IsNaN(q))), []float64{1}, 0)
	noErr(t, s)
}

func TestReductions(t *testing.T) {
	s := NewScope()
	defer s.Close()
	a := f32(s, []float32{1, 5, 3, 4, 2, 6}, 2, 3)
	near(t, "sum", vals(t, s.Sum(a)), []float64{21}, 0)
	near(t, "sum0", vals(t, s.Sum(a, 0)), []float64{5, 7, 9}, 0)
	near(t, "sum1", vals(t, s.Sum(a, 1)), []float64{9, 12}, 0)
	shapeIs(t, "sumkeep", s.SumKeep(a, 1), 2, 1)
	near(t, "mean", vals(t, s.Mean(a)), []float64{3.5}, 1e-7)
	near(t, "mean1", vals(t, s.Mean(a, 1)), []float64{3, 4}, 1e-7)
	near(t, "meanall", vals(t, s.Mean(a, 0, 1)), []float64{3.5}, 1e-7)
	near(t, "max", vals(t, s.Max(a)), []float64{6}, 0)
	near(t, "min", vals(t, s.Min(a)), []float64{1}, 0)
	near(t, "amax1", vals(t, s.Amax(a, 1)), []float64{5, 6}, 0)
	near(t, "amin0", vals(t, s.Amin(a, 0)), []float64{1, 2, 3}, 0)
	v, i := s.MaxDim(a, 1, false)
	near(t, "maxdim.v", vals(t, v), []float64{5, 6}, 0)
	near(t, "maxdim.i", vals(t, i), []float64{1, 2}, 0)
	v, i = s.MinDim(a, 0, true)
	shapeIs(t, "mindim", v, 1, 3)
	near(t, "mindim.i", vals(t, i), []float64{0, 1, 0}, 0)
	near(t, "argmax", vals(t, s.Argmax(a)), []float64{5}, 0)
	near(t, "prod", vals(t, s.Prod(a)), []float64{720}, 0)
	near(t, "norm", vals(t, s.Norm(a)), []float64{math.Sqrt(91)}, 1e-7)
	near(t, "var", vals(t, s.Var(a)), []float64{3.5}, 1e-6)
	near(t, "std", vals(t, s.Std(a, 1)), []float64{2, math.Sqrt(4)}, 1e-6)
	near(t, "cumsum", vals(t, s.Cumsum(a, 1)), []float64{1, 6, 9, 4, 6, 12}, 0)
	tab := FromSlice(s, []float64{0, 1, 2, 4})
	q := FromSlice(s, []float64{-1, 0, 0.5, 2, 3, 9}, 2, 3)
	near(t, "searchsorted", vals(t, s.SearchSorted(tab, q, false)), []float64{0, 0, 1, 2, 3, 4}, 0)
	uv, ui := s.Unique(FromSlice(s, []float32{3, 1, 3, 2, 1, 1}, 2, 3))
	near(t, "unique", vals(t, uv), []float64{1, 2, 3}, 0)
	shapeIs(t, "unique-inverse", ui, 2, 3)
	near(t, "unique-inverse", vals(t, ui), []float64{2, 0, 2, 1, 0, 0}, 0)
	ci := s.Clamp(FromSlice(s, []int64{-3, 5, 9}), 0, 6)
	if ci.DType() != Int64 {
		t.Fatalf("clamp of int64 gave %s", ci.DType())
	}
	near(t, "clamp-int", vals(t, ci), []float64{0, 5, 6}, 0)
	near(t, "searchsorted-right", vals(t, s.SearchSorted(tab, q, true)), []float64{0, 1, 1, 3, 3, 4}, 0)
	noErr(t, s)
}

func TestLinearAlgebra(t *testing.T) {
	s := NewScope()
	defer s.Close()
	a := f32(s, []float32{1, 2, 3, 4, 5, 6}, 2, 3)
	b := f32(s, []float32{1, 0, 0, 1, 1, 1}, 3, 2)
	near(t, "matmul", vals(t, s.Matmul(a, b)), []float64{4, 5, 10, 11}, 0)
	ab := s.Unsqueeze(a, 0)
	bb := s.Unsqueeze(b, 0)
	near(t, "bmm", vals(t, s.Bmm(ab, bb)), []float64{4, 5, 10, 11}, 0)
	c := s.Ones(Float32, CPU, 1, 2, 2)
	near(t, "baddbmm", vals(t, s.Baddbmm(c, ab, bb, 0.5, 2)), []float64{8.5, 10.5, 20.5, 22.5}, 0)
	near(t, "einsum", vals(t, s.Einsum("ij,jk->ik", a, b)), []float64{4, 5, 10, 11}, 0)
	near(t, "einsum-t", vals(t, s.Einsum("ij->ji", a)), []float64{1, 4, 2, 5, 3, 6}, 0)
	w := f32(s, []float32{1, 1, 1, 0, 1, 0}, 2, 3)
	bias := f32(s, []float32{0.5, -0.5}, 2)
	near(t, "linear", vals(t, s.Linear(a, w, bias)), []float64{6.5, 1.5, 15.5, 4.5}, 0)
	near(t, "linear-nobias", vals(t, s.Linear(a, w, nil)), []float64{6, 2, 15, 5}, 0)
	noErr(t, s)
}

func TestNNOps(t *testing.T) {
	s := NewScope()
	defer s.Close()
	// conv2d with groups and padding, values from torch.nn.functional.conv2d
	xi := s.DivScalar(s.Reshape(s.Arange(0, 32, 1, Float32, CPU), 1, 2, 4, 4), 10)
	w := s.DivScalar(s.Reshape(s.Arange(0, 18, 1, Float32, CPU), 2, 1, 3, 3), 10)
	y := s.Conv2d(xi, w, nil, ConvOpts{Padding: 1, Groups: 2})
	shapeIs(t, "conv2d", y, 1, 2, 4, 4)
	near(t, "conv2d", vals(t, y), []float64{
		0.73, 1.21, 1.54, 1.03, 1.71, 2.58, 2.94, 1.86, 2.79, 4.02, 4.38, 2.70, 1.39, 1.87, 2.02, 1.13,
		11.23, 16.75, 17.62, 11.61, 17.10, 25.35, 26.52, 17.37, 20.34, 30.03, 31.20, 20.37, 12.85, 18.85, 19.54, 12.67}, 1e-6)
	// conv1d with stride, padding and bias
	c1 := s.Conv1d(s.Reshape(s.Arange(0, 5, 1, Float32, CPU), 1, 1, 5), f32(s, []float32{1, 0, -1}, 1, 1, 3),
		f32(s, []float32{0.5}, 1), ConvOpts{Stride: 2, Padding: 1})
	near(t, "conv1d", vals(t, c1), []float64{-0.5, -1.5, 3.5}, 1e-7)
	// group norm
	gn := s.GroupNorm(s.Reshape(s.Arange(0, 16, 1, Float32, CPU), 1, 4, 2, 2), 2, nil, nil, 1e-5)
	near(t, "group_norm", vals(t, gn)[:4], []float64{-1.52752376, -1.09108841, -0.65465307, -0.21821769}, 1e-6)
	gw := f32(s, []float32{2, 2, 1, 1}, 4)
	gb := f32(s, []float32{1, 1, 0, 0}, 4)
	gn2 := s.GroupNorm(s.Reshape(s.Arange(0, 16, 1, Float32, CPU), 1, 4, 2, 2), 2, gw, gb, 1e-5)
	near(t, "group_norm_affine", vals(t, gn2)[:2], []float64{-2.05504752, -1.18217682}, 1e-6)
	// layer norm over the last dim
	ln := s.LayerNorm(f32(s, []float32{1, 2, 3}, 1, 3), []int64{3}, nil, nil, 0)
	near(t, "layer_norm", vals(t, ln), []float64{-math.Sqrt(1.5), 0, math.Sqrt(1.5)}, 1e-6)
	// softmax
	sm := s.Softmax(f32(s, []float32{1, 2, 3, 4, 5, 6}, 2, 3), 1)
	near(t, "softmax", vals(t, sm), []float64{0.09003057, 0.24472848, 0.66524094, 0.09003057, 0.24472848, 0.66524094}, 1e-6)
	lsm := s.LogSoftmax(f32(s, []float32{1, 2, 3}, 3), 0)
	near(t, "log_softmax", vals(t, lsm), []float64{math.Log(0.09003057), math.Log(0.24472848), math.Log(0.66524094)}, 1e-6)
	// avg pool
	ap := s.AvgPool2d(s.Reshape(s.Arange(0, 16, 1, Float32, CPU), 1, 1, 4, 4), 2, 0)
	near(t, "avg_pool2d", vals(t, ap), []float64{2.5, 4.5, 10.5, 12.5}, 0)
	// interpolate: a [0, 1] ramp to 4 samples
	r := s.Reshape(f32(s, []float32{0, 1, 0, 1}, 4), 1, 1, 2, 2)
	near(t, "bilinear-ac", vals(t, s.Interpolate(r, 2, 4, Bilinear, true))[:4], []float64{0, 1.0 / 3, 2.0 / 3, 1}, 1e-6)
	near(t, "bilinear", vals(t, s.Interpolate(r, 2, 4, Bilinear, false))[:4], []float64{0, 0.25, 0.75, 1}, 1e-6)
	near(t, "nearest", vals(t, s.InterpolateScale(r, 1, 2, Nearest, false))[:4], []float64{0, 0, 1, 1}, 0)
	shapeIs(t, "nearest2x", s.InterpolateScale(r, 2, 2, Nearest, false), 1, 1, 4, 4)
	// pad
	p := s.Pad(f32(s, []float32{1, 2}, 1, 1, 1, 2), []int64{1, 1, 0, 0}, PadConstant, 9)
	near(t, "pad", vals(t, p), []float64{9, 1, 2, 9}, 0)
	pr := s.Pad(f32(s, []float32{1, 2, 3}, 1, 1, 1, 3), []int64{1, 1, 0, 0}, PadReflect, 0)
	near(t, "pad-reflect", vals(t, pr), []float64{2, 1, 2, 3, 2}, 0)
	noErr(t, s)
}

func TestShapesAndIndexing(t *testing.T) {
	s := NewScope()
	defer s.Close()
	a := s.Reshape(s.Arange(0, 24, 1, Float32, CPU), 2, 3, 4)
	shapeIs(t, "reshape", a, 2, 3, 4)
	shapeIs(t, "reshape-1", s.Reshape(a, 6, -1), 6, 4)
	shapeIs(t, "view", s.View(a, 4, 6), 4, 6)
	p := s.Permute(a, 2, 0, 1)
	shapeIs(t, "permute", p, 4, 2, 3)
	if p.IsContiguous() {
		t.Fatal("permuted tensor reported contiguous")
	}
	if !s.Contiguous(p).IsContiguous() {
		t.Fatal("contiguous() not contiguous")
	}
	near(t, "permute-vals", vals(t, p)[:6], []float64{0, 4, 8, 12, 16, 20}, 0)
	shapeIs(t, "transpose", s.Transpose(a, 0, 2), 4, 3, 2)
	shapeIs(t, "unsqueeze", s.Unsqueeze(a, 1), 2, 1, 3, 4)
	shapeIs(t, "squeeze", s.Squeeze(s.Unsqueeze(a, 1)), 2, 3, 4)
	shapeIs(t, "squeeze-dim", s.Squeeze(s.Unsqueeze(a, 0), 0), 2, 3, 4)
	shapeIs(t, "flatten", s.Flatten(a, 1, -1), 2, 12)
	shapeIs(t, "expand", s.Expand(f32(s, []float32{1, 2, 3}, 3, 1), 3, 5), 3, 5)
	near(t, "repeat", vals(t, s.Repeat(f32(s, []float32{1, 2}, 2), 2)), []float64{1, 2, 1, 2}, 0)
	near(t, "flip", vals(t, s.Flip(f32(s, []float32{1, 2, 3}, 1, 3), 1)), []float64{3, 2, 1}, 0)
	near(t, "narrow", vals(t, s.Narrow(a, 2, 1, 2))[:4], []float64{1, 2, 5, 6}, 0)
	near(t, "select", vals(t, s.Select(a, 1, 2)), []float64{8, 9, 10, 11, 20, 21, 22, 23}, 0)
	idx := FromSlice(s, []int64{3, 0})
	near(t, "index_select", vals(t, s.IndexSelect(a, 2, idx))[:4], []float64{3, 0, 7, 4}, 0)
	g := s.Gather(f32(s, []float32{1, 2, 3, 4}, 2, 2), 1, FromSlice(s, []int64{1, 0, 0, 0}, 2, 2))
	near(t, "gather", vals(t, g), []float64{2, 1, 3, 3}, 0)
	x := f32(s, []float32{1, 2}, 1, 2)
	y := f32(s, []float32{3, 4}, 1, 2)
	near(t, "cat", vals(t, s.Cat(0, x, y)), []float64{1, 2, 3, 4}, 0)
	shapeIs(t, "cat1", s.Cat(1, x, y), 1, 4)
	shapeIs(t, "stack", s.Stack(0, x, y), 2, 1, 2)
	ch := s.Chunk(a, 2, 1)
	if len(ch) != 2 {
		t.Fatalf("chunk gave %d pieces", len(ch))
	}
	shapeIs(t, "chunk0", ch[0], 2, 2, 4)
	shapeIs(t, "chunk1", ch[1], 2, 1, 4)
	sp := s.Split(a, 3, 2)
	if len(sp) != 2 {
		t.Fatalf("split gave %d pieces", len(sp))
	}
	shapeIs(t, "split1", sp[1], 2, 3, 1)
	near(t, "split-vals", vals(t, sp[1]), []float64{3, 7, 11, 15, 19, 23}, 0)
	noErr(t, s)
}

func TestFactoriesAndConversions(t *testing.T) {
	s := NewScope()
	defer s.Close()
	near(t, "zeros", vals(t, s.Zeros(Float64, CPU, 2)), []float64{0, 0}, 0)
	near(t, "ones", vals(t, s.Ones(Int32, CPU, 3)), []float64{1, 1, 1}, 0)
	near(t, "full", vals(t, s.Full(2.5, Float32, CPU, 2)), []float64{2.5, 2.5}, 0)
	near(t, "arange", vals(t, s.Arange(1, 2, 0.25, Float64, CPU)), []float64{1, 1.25, 1.5, 1.75}, 0)
	near(t, "linspace", vals(t, s.Linspace(0, 1, 5, Float32, CPU)), []float64{0, 0.25, 0.5, 0.75, 1}, 0)
	sc := s.Full(3, Float32, CPU)
	if sc.Dim() != 0 {
		t.Fatalf("full with no shape has dim %d", sc.Dim())
	}
	if v, err := sc.Item(); err != nil || v != 3 {
		t.Fatalf("item = %v, %v", v, err)
	}
	for _, dt := range []DType{Float32, Float64, Float16, BFloat16, Int64, Int32, Uint8, Bool, Int8, Int16} {
		x := s.To(f32(s, []float32{1, 0, 2}, 3), dt)
		noErr(t, s)
		if x.DType() != dt {
			t.Fatalf("to(%s) gave %s", dt, x.DType())
		}
		want := []float64{1, 0, 2}
		if dt == Bool {
			want = []float64{1, 0, 1}
		}
		near(t, "to "+dt.String(), vals(t, x), want, 0)
		b, err := x.Bytes()
		if err != nil || len(b) != 3*dt.Size() {
			t.Fatalf("bytes of %s: %d, %v", dt, len(b), err)
		}
	}
	// typed round trips
	i64, err := ToSlice[int64](FromSlice(s, []int64{-5, 1 << 40}))
	if err != nil || i64[0] != -5 || i64[1] != 1<<40 {
		t.Fatalf("int64 round trip: %v %v", i64, err)
	}
	bs, err := ToSlice[bool](FromSlice(s, []bool{true, false}))
	if err != nil || !bs[0] || bs[1] {
		t.Fatalf("bool round trip: %v %v", bs, err)
	}
	if _, err := ToSlice[float64](f32(s, []float32{1}, 1)); err == nil {
		t.Fatal("ToSlice with the wrong element type did not fail")
	}
	// f16 keeps its precision limit
	h := s.To(f32(s, []float32{1.0009765625, 1.0001}, 2), Float16)
	near(t, "f16", vals(t, h), []float64{1.0009765625, 1}, 0)
	// clone is a copy, detach shares storage
	x := f32(s, []float32{1, 2}, 2)
	c := s.Clone(x)
	d := s.Detach(x)
	if c.DataPtr() == x.DataPtr() || d.DataPtr() != x.DataPtr() {
		t.Fatal("clone shares or detach copies storage")
	}
	if x.Device() != CPU || x.Device().String() != "cpu" {
		t.Fatalf("device %v", x.Device())
	}
	noErr(t, s)
}

func TestErrorsAreGoErrors(t *testing.T) {
	s := NewScope()
	defer s.Close()
	a := f32(s, []float32{1, 2, 3}, 3)
	b := f32(s, []float32{1, 2}, 2)
	if r := s.Add(a, b); r != nil {
		t.Fatal("add of mismatched shapes returned a tensor")
	}
	err := s.Err()
	if err == nil || !strings.Contains(err.Error(), "add([3], [2])") {
		t.Fatalf("shape mismatch error: %v", err)
	}
	// later ops are skipped, not run
	if s.Mul(a, a) != nil || s.Err() != err {
		t.Fatal("ops after an error still ran")
	}
	s.ClearErr()
	// wrong dtype
	s.Where(a, a, a)
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "bool") {
		t.Fatalf("where with float condition: %v", err)
	}
	s.ClearErr()
	s.Matmul(s.Ones(Float32, CPU, 2, 3), s.Ones(Float32, CPU, 2, 3))
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "matmul([2 3], [2 3])") {
		t.Fatalf("matmul mismatch: %v", err)
	}
	s.ClearErr()
	s.Matmul(s.Ones(Float32, CPU, 2, 2), s.Ones(Int64, CPU, 2, 2))
	if s.Err() == nil {
		t.Fatal("matmul of float and int64 did not fail")
	}
	s.ClearErr()
	s.Conv2d(s.Ones(Float32, CPU, 1, 3, 4, 4), s.Ones(Float32, CPU, 8, 4, 3, 3), nil, ConvOpts{})
	if s.Err() == nil {
		t.Fatal("conv2d with wrong in-channels did not fail")
	}
	s.ClearErr()
	// unknown device
	if s.Zeros(Float32, CUDA(7), 2) != nil {
		t.Fatal("zeros on cuda:7 returned a tensor")
	}
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "cuda") {
		t.Fatalf("cuda:7 error: %v", err)
	}
	s.ClearErr()
	s.ToDevice(a, CUDA(7), Float32)
	if s.Err() == nil {
		t.Fatal("to cuda:7 did not fail")
	}
	if err := CUDA(7).Validate(); err == nil {
		t.Fatal("cuda:7 validated")
	}
	if _, err := ParseDevice("tpu"); err == nil {
		t.Fatal("ParseDevice(tpu) did not fail")
	}
	s.ClearErr()
	// bad sizes for raw data
	FromBytes(s, []byte{1, 2, 3}, Float32, 1)
	if s.Err() == nil {
		t.Fatal("3 bytes as one float32 did not fail")
	}
	s.ClearErr()
	s.Reshape(a, 2, 2)
	if s.Err() == nil {
		t.Fatal("reshape 3 -> 2x2 did not fail")
	}
	s.ClearErr()
	if _, err := f32(s, []float32{1, 2}, 2).Item(); err == nil {
		t.Fatal("item of two elements did not fail")
	}
	// use after free and closed scope
	x := f32(s, []float32{1}, 1)
	x.Free()
	s.Neg(x)
	if s.Err() == nil {
		t.Fatal("op on a freed tensor did not fail")
	}
	s2 := NewScope()
	s2.Close()
	s2.Ones(Float32, CPU, 1)
	if s2.Err() == nil {
		t.Fatal("op on a closed scope did not fail")
	}
	// the process is still alive and working
	s.ClearErr()
	near(t, "after errors", vals(t, s.Add(a, a)), []float64{2, 4, 6}, 0)
}

func TestParseDType(t *testing.T) {
	for in, want := range map[string]DType{"fp16": Float16, "bf16": BFloat16, "float32": Float32, "int64": Int64} {
		got, err := ParseDType(in)
		if err != nil || got != want {
			t.Fatalf("ParseDType(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseDType("complex"); err == nil {
		t.Fatal("ParseDType(complex) did not fail")
	}
	d, err := ParseDevice("cuda:1")
	if err != nil || d != CUDA(1) {
		t.Fatalf("ParseDevice(cuda:1) = %v, %v", d, err)
	}
}
