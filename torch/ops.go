package torch

// #include <stdlib.h>
// #include "radtorch.h"
import "C"

import (
	"fmt"
	"math"
	"unsafe"
)

// call finishes a shim call that made one tensor: on error it records a
// message naming the op and the shapes of its inputs.
func (s *Scope) call(op string, e C.rt_error, h C.rt_tensor, in ...*Tensor) *Tensor {
	if e != nil {
		s.err = opError(op, goErr(e), in...)
		return nil
	}
	return s.track(h)
}

func (s *Scope) unary(op string, code C.int, a *Tensor) *Tensor {
	if !s.ok(op, a) {
		return nil
	}
	var h C.rt_tensor
	return s.call(op, C.rt_unary(C.int(s.mode), code, a.h, &h), h, a)
}

func (s *Scope) binary(op string, code C.int, a, b *Tensor) *Tensor {
	if !s.ok(op, a, b) {
		return nil
	}
	var h C.rt_tensor
	return s.call(op, C.rt_binary(C.int(s.mode), code, a.h, b.h, &h), h, a, b)
}

func (s *Scope) scalar(op string, code C.int, a *Tensor, v float64) *Tensor {
	if !s.ok(op, a) {
		return nil
	}
	var h C.rt_tensor
	return s.call(op, C.rt_binary_scalar(C.int(s.mode), code, a.h, C.double(v), &h), h, a)
}

// Elementwise unary ops.

func (s *Scope) Neg(a *Tensor) *Tensor        { return s.unary("neg", C.RT_NEG, a) }
func (s *Scope) Abs(a *Tensor) *Tensor        { return s.unary("abs", C.RT_ABS, a) }
func (s *Scope) Sqrt(a *Tensor) *Tensor       { return s.unary("sqrt", C.RT_SQRT, a) }
func (s *Scope) Rsqrt(a *Tensor) *Tensor      { return s.unary("rsqrt", C.RT_RSQRT, a) }
func (s *Scope) Exp(a *Tensor) *Tensor        { return s.unary("exp", C.RT_EXP, a) }
func (s *Scope) Log(a *Tensor) *Tensor        { return s.unary("log", C.RT_LOG, a) }
func (s *Scope) Log1p(a *Tensor) *Tensor      { return s.unary("log1p", C.RT_LOG1P, a) }
func (s *Scope) Expm1(a *Tensor) *Tensor      { return s.unary("expm1", C.RT_EXPM1, a) }
func (s *Scope) Sin(a *Tensor) *Tensor        { return s.unary("sin", C.RT_SIN, a) }
func (s *Scope) Cos(a *Tensor) *Tensor        { return s.unary("cos", C.RT_COS, a) }
func (s *Scope) Tanh(a *Tensor) *Tensor       { return s.unary("tanh", C.RT_TANH, a) }
func (s *Scope) Erf(a *Tensor) *Tensor        { return s.unary("erf", C.RT_ERF, a) }
func (s *Scope) Sign(a *Tensor) *Tensor       { return s.unary("sign", C.RT_SIGN, a) }
func (s *Scope) SiLU(a *Tensor) *Tensor       { return s.unary("silu", C.RT_SILU, a) }
func (s *Scope) ReLU(a *Tensor) *Tensor       { return s.unary("relu", C.RT_RELU, a) }
func (s *Scope) Sigmoid(a *Tensor) *Tensor    { return s.unary("sigmoid", C.RT_SIGMOID, a) }
func (s *Scope) GELU(a *Tensor) *Tensor       { return s.unary("gelu", C.RT_GELU, a) }
func (s *Scope) Floor(a *Tensor) *Tensor      { return s.unary("floor", C.RT_FLOOR, a) }
func (s *Scope) Ceil(a *Tensor) *Tensor       { return s.unary("ceil", C.RT_CEIL, a) }
func (s *Scope) Round(a *Tensor) *Tensor      { return s.unary("round", C.RT_ROUND, a) }
func (s *Scope) IsNaN(a *Tensor) *Tensor      { return s.unary("isnan", C.RT_ISNAN, a) }
func (s *Scope) IsFinite(a *Tensor) *Tensor   { return s.unary("isfinite", C.RT_ISFINITE, a) }
func (s *Scope) IsInf(a *Tensor) *Tensor      { return s.unary("isinf", C.RT_ISINF, a) }
func (s *Scope) LogicalNot(a *Tensor) *Tensor { return s.unary("logical_not", C.RT_LOGICAL_NOT, a) }
func (s *Scope) Square(a *Tensor) *Tensor     { return s.unary("square", C.RT_SQUARE, a) }
func (s *Scope) Reciprocal(a *Tensor) *Tensor { return s.unary("reciprocal", C.RT_RECIPROCAL, a) }
func (s *Scope) Contiguous(a *Tensor) *Tensor { return s.unary("contiguous", C.RT_CONTIGUOUS, a) }
func (s *Scope) Clone(a *Tensor) *Tensor      { return s.unary("clone", C.RT_CLONE, a) }

// Detach returns a tensor sharing t's data without autograd history.
func (s *Scope) Detach(a *Tensor) *Tensor { return s.unary("detach", C.RT_DETACH, a) }

// Broadcasting binary ops.

func (s *Scope) Add(a, b *Tensor) *Tensor     { return s.binary("add", C.RT_ADD, a, b) }
func (s *Scope) Sub(a, b *Tensor) *Tensor     { return s.binary("sub", C.RT_SUB, a, b) }
func (s *Scope) Mul(a, b *Tensor) *Tensor     { return s.binary("mul", C.RT_MUL, a, b) }
func (s *Scope) Div(a, b *Tensor) *Tensor     { return s.binary("div", C.RT_DIV, a, b) }
func (s *Scope) Pow(a, b *Tensor) *Tensor     { return s.binary("pow", C.RT_POW, a, b) }
func (s *Scope) Maximum(a, b *Tensor) *Tensor { return s.binary("maximum", C.RT_MAXIMUM, a, b) }
func (s *Scope) Minimum(a, b *Tensor) *Tensor { return s.binary("minimum", C.RT_MINIMUM, a, b) }
func (s *Scope) Eq(a, b *Tensor) *Tensor      { return s.binary("eq", C.RT_EQ, a, b) }
func (s *Scope) Ne(a, b *Tensor) *Tensor      { return s.binary("ne", C.RT_NE, a, b) }
func (s *Scope) Lt(a, b *Tensor) *Tensor      { return s.binary("lt", C.RT_LT, a, b) }
func (s *Scope) Le(a, b *Tensor) *Tensor      { return s.binary("le", C.RT_LE, a, b) }
func (s *Scope) Gt(a, b *Tensor) *Tensor      { return s.binary("gt", C.RT_GT, a, b) }
func (s *Scope) Ge(a, b *Tensor) *Tensor      { return s.binary("ge", C.RT_GE, a, b) }
func (s *Scope) LogicalAnd(a, b *Tensor) *Tensor {
	return s.binary("logical_and", C.RT_LOGICAL_AND, a, b)
}
func (s *Scope) LogicalOr(a, b *Tensor) *Tensor { return s.binary("logical_or", C.RT_LOGICAL_OR, a, b) }
func (s *Scope) Atan2(a, b *Tensor) *Tensor     { return s.binary("atan2", C.RT_ATAN2, a, b) }
func (s *Scope) Remainder(a, b *Tensor) *Tensor { return s.binary("remainder", C.RT_REMAINDER, a, b) }

// Matmul is torch.matmul (broadcasting batched matrix product).
func (s *Scope) Matmul(a, b *Tensor) *Tensor { return s.binary("matmul", C.RT_MATMUL, a, b) }

// Bmm is the batched product of [B,n,m] and [B,m,p].
func (s *Scope) Bmm(a, b *Tensor) *Tensor { return s.binary("bmm", C.RT_BMM, a, b) }

// Ops with a scalar operand.

func (s *Scope) AddScalar(a *Tensor, v float64) *Tensor { return s.scalar("add", C.RT_ADD, a, v) }
func (s *Scope) SubScalar(a *Tensor, v float64) *Tensor { return s.scalar("sub", C.RT_SUB, a, v) }
func (s *Scope) MulScalar(a *Tensor, v float64) *Tensor { return s.scalar("mul", C.RT_MUL, a, v) }
func (s *Scope) DivScalar(a *Tensor, v float64) *Tensor { return s.scalar("div", C.RT_DIV, a, v) }
func (s *Scope) PowScalar(a *Tensor, v float64) *Tensor { return s.scalar("pow", C.RT_POW, a, v) }
func (s *Scope) EqScalar(a *Tensor, v float64) *Tensor  { return s.scalar("eq", C.RT_EQ, a, v) }
func (s *Scope) NeScalar(a *Tensor, v float64) *Tensor  { return s.scalar("ne", C.RT_NE, a, v) }
func (s *Scope) LtScalar(a *Tensor, v float64) *Tensor  { return s.scalar("lt", C.RT_LT, a, v) }
func (s *Scope) LeScalar(a *Tensor, v float64) *Tensor  { return s.scalar("le", C.RT_LE, a, v) }
func (s *Scope) GtScalar(a *Tensor, v float64) *Tensor  { return s.scalar("gt", C.RT_GT, a, v) }
func (s *Scope) GeScalar(a *Tensor, v float64) *Tensor  { return s.scalar("ge", C.RT_GE, a, v) }
func (s *Scope) RemainderScalar(a *Tensor, v float64) *Tensor {
	return s.scalar("remainder", C.RT_REMAINDER, a, v)
}

// RSubScalar is v - a.
func (s *Scope) RSubScalar(v float64, a *Tensor) *Tensor { return s.scalar("rsub", C.RT_RSUB, a, v) }

// RDivScalar is v / a.
func (s *Scope) RDivScalar(v float64, a *Tensor) *Tensor { return s.scalar("rdiv", C.RT_RDIV, a, v) }

// Clamp limits a to [lo, hi]; pass math.Inf(-1) or math.Inf(1) (or NaN)
// for a missing bound.
func (s *Scope) Clamp(a *Tensor, lo, hi float64) *Tensor {
	if !s.ok("clamp", a) {
		return nil
	}
	hasLo := !math.IsInf(lo, -1) && !math.IsNaN(lo)
	hasHi := !math.IsInf(hi, 1) && !math.IsNaN(hi)
	var h C.rt_tensor
	e := C.rt_clamp(C.int(s.mode), a.h, cbool(hasLo), C.double(lo), cbool(hasHi), C.double(hi), &h)
	return s.call("clamp", e, h, a)
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// Reductions. With no dims they reduce over every element to a 0-dim tensor.

func (s *Scope) reduce(op string, code C.int, a *Tensor, keepdim bool, dims []int64) *Tensor {
	if !s.ok(op, a) {
		return nil
	}
	var h C.rt_tensor
	e := C.rt_reduce(C.int(s.mode), code, a.h, int64Ptr(dims), C.int64_t(len(dims)), cbool(keepdim), &h)
	return s.call(fmt.Sprintf("%s%v", op, dims), e, h, a)
}

func (s *Scope) Sum(a *Tensor, dims ...int64) *Tensor {
	return s.reduce("sum", C.RT_SUM, a, false, dims)
}
func (s *Scope) Mean(a *Tensor, dims ...int64) *Tensor {
	return s.reduce("mean", C.RT_MEAN, a, false, dims)
}
func (s *Scope) Amax(a *Tensor, dims ...int64) *Tensor {
	return s.reduce("amax", C.RT_AMAX, a, false, dims)
}
func (s *Scope) Amin(a *Tensor, dims ...int64) *Tensor {
	return s.reduce("amin", C.RT_AMIN, a, false, dims)
}
func (s *Scope) Prod(a *Tensor, dims ...int64) *Tensor {
	return s.reduce("prod", C.RT_PROD, a, false, dims)
}
func (s *Scope) Var(a *Tensor, dims ...int64) *Tensor {
	return s.reduce("var", C.RT_VAR, a, false, dims)
}
func (s *Scope) Std(a *Tensor, dims ...int64) *Tensor {
	return s.reduce("std", C.RT_STD, a, false, dims)
}

// Norm is the L2 norm over dims (all elements with none).
func (s *Scope) Norm(a *Tensor, dims ...int64) *Tensor {
	return s.reduce("norm", C.RT_NORM2, a, false, dims)
}

// SumKeep, MeanKeep, AmaxKeep and AminKeep keep the reduced dims as size 1.
func (s *Scope) SumKeep(a *Tensor, dims ...int64) *Tensor {
	return s.reduce("sum", C.RT_SUM, a, true, dims)
}
func (s *Scope) MeanKeep(a *Tensor, dims ...int64) *Tensor {
	return s.reduce("mean", C.RT_MEAN, a, true, dims)
}
func (s *Scope) AmaxKeep(a *Tensor, dims ...int64) *Tensor {
	return s.reduce("amax", C.RT_AMAX, a, true, dims)
}
func (s *Scope) AminKeep(a *Tensor, dims ...int64) *Tensor {
	return s.reduce("amin", C.RT_AMIN, a, true, dims)
}

// All and Any reduce a bool tensor over everything or one dim.
func (s *Scope) All(a *Tensor, dim ...int64) *Tensor { return s.reduce("all", C.RT_ALL, a, false, dim) }
func (s *Scope) Any(a *Tensor, dim ...int64) *Tensor { return s.reduce("any", C.RT_ANY, a, false, dim) }

// Argmax and Argmin over everything (flattened index) or one dim.
func (s *Scope) Argmax(a *Tensor, dim ...int64) *Tensor {
	return s.reduce("argmax", C.RT_ARGMAX, a, false, dim)
}
func (s *Scope) Argmin(a *Tensor, dim ...int64) *Tensor {
	return s.reduce("argmin", C.RT_ARGMIN, a, false, dim)
}

// Max is the largest element (0-dim); Min the smallest.
func (s *Scope) Max(a *Tensor) *Tensor { return s.Amax(a) }
func (s *Scope) Min(a *Tensor) *Tensor { return s.Amin(a) }

// MaxDim returns the values and indices of the maxima along dim.
func (s *Scope) MaxDim(a *Tensor, dim int64, keepdim bool) (values, indices *Tensor) {
	return s.maxMinDim("max", 1, a, dim, keepdim)
}

// MinDim returns the values and indices of the minima along dim.
func (s *Scope) MinDim(a *Tensor, dim int64, keepdim bool) (values, indices *Tensor) {
	return s.maxMinDim("min", 0, a, dim, keepdim)
}

func (s *Scope) maxMinDim(op string, isMax C.int, a *Tensor, dim int64, keepdim bool) (*Tensor, *Tensor) {
	if !s.ok(op, a) {
		return nil, nil
	}
	var v, i C.rt_tensor
	e := C.rt_max_min_dim(C.int(s.mode), isMax, a.h, C.int64_t(dim), cbool(keepdim), &v, &i)
	vt := s.call(op, e, v, a)
	if vt == nil {
		return nil, nil
	}
	return vt, s.track(i)
}

// Where picks a where cond (bool) is true, else b (broadcasting).
func (s *Scope) Where(cond, a, b *Tensor) *Tensor {
	if !s.ok("where", cond, a, b) {
		return nil
	}
	var h C.rt_tensor
	return s.call("where", C.rt_where(C.int(s.mode), cond.h, a.h, b.h, &h), h, cond, a, b)
}

// MaskedFill sets a to v where mask (bool, broadcast) is true.
func (s *Scope) MaskedFill(a, mask *Tensor, v float64) *Tensor {
	if !s.ok("masked_fill", a, mask) {
		return nil
	}
	var h C.rt_tensor
	return s.call("masked_fill", C.rt_masked_fill(C.int(s.mode), a.h, mask.h, C.double(v), &h), h, a, mask)
}

// MaskedSelect returns the 1-D tensor of a's elements where mask is true.
func (s *Scope) MaskedSelect(a, mask *Tensor) *Tensor {
	if !s.ok("masked_select", a, mask) {
		return nil
	}
	var h C.rt_tensor
	return s.call("masked_select", C.rt_masked_select(C.int(s.mode), a.h, mask.h, &h), h, a, mask)
}

// Addcmul is self + value*t1*t2 (broadcasting) in one pass.
func (s *Scope) Addcmul(self, t1, t2 *Tensor, value float64) *Tensor {
	if !s.ok("addcmul", self, t1, t2) {
		return nil
	}
	var h C.rt_tensor
	e := C.rt_addcmul(C.int(s.mode), self.h, t1.h, t2.h, C.double(value), &h)
	return s.call("addcmul", e, h, self, t1, t2)
}

// Modulate2 is n*(a0 + ind*a1) + b0 + ind*b1 with n [B,C,H,W], ind
// [B,1,H,W] and a0, a1, b0, b1 [B,C,1,1]: RAD's per-pixel scale-shift of a
// two-level timestep map. It runs as one pass on CPU float32 when no
// gradient is needed, and as composed (differentiable) ops otherwise.
func (s *Scope) Modulate2(n, ind, a0, a1, b0, b1 *Tensor) *Tensor {
	if !s.ok("modulate2", n, ind, a0, a1, b0, b1) {
		return nil
	}
	var h C.rt_tensor
	e := C.rt_modulate2(C.int(s.mode), n.h, ind.h, a0.h, a1.h, b0.h, b1.h, &h)
	return s.call("modulate2", e, h, n, ind, a0, a1, b0, b1)
}

// Lerp is a + w*(b - a).
func (s *Scope) Lerp(a, b *Tensor, w float64) *Tensor {
	if !s.ok("lerp", a, b) {
		return nil
	}
	var h C.rt_tensor
	return s.call("lerp", C.rt_lerp(C.int(s.mode), a.h, b.h, C.double(w), &h), h, a, b)
}

// Cumsum is the cumulative sum along dim.
func (s *Scope) Cumsum(a *Tensor, dim int64) *Tensor {
	if !s.ok("cumsum", a) {
		return nil
	}
	var h C.rt_tensor
	return s.call("cumsum", C.rt_cumsum(C.int(s.mode), a.h, C.int64_t(dim), &h), h, a)
}

// Softmax along dim.
func (s *Scope) Softmax(a *Tensor, dim int64) *Tensor {
	if !s.ok("softmax", a) {
		return nil
	}
	var h C.rt_tensor
	return s.call("softmax", C.rt_softmax(C.int(s.mode), a.h, C.int64_t(dim), 0, &h), h, a)
}

// LogSoftmax along dim.
func (s *Scope) LogSoftmax(a *Tensor, dim int64) *Tensor {
	if !s.ok("log_softmax", a) {
		return nil
	}
	var h C.rt_tensor
	return s.call("log_softmax", C.rt_softmax(C.int(s.mode), a.h, C.int64_t(dim), 1, &h), h, a)
}

// Unique returns the sorted distinct values of a (1-D) and, for every
// element of a, the index of its value (int64, a's shape).
func (s *Scope) Unique(a *Tensor) (values, inverse *Tensor) {
	if !s.ok("unique", a) {
		return nil, nil
	}
	var v, i C.rt_tensor
	e := C.rt_unique(C.int(s.mode), a.h, &v, &i)
	vt := s.call("unique", e, v, a)
	if vt == nil {
		return nil, nil
	}
	return vt, s.track(i)
}

// SearchSorted returns, for each value, the index in the ascending 1-D
// table where it would be inserted (the first index i with table[i] >= v,
// or > v when right is true), as int64.
func (s *Scope) SearchSorted(table, values *Tensor, right bool) *Tensor {
	if !s.ok("searchsorted", table, values) {
		return nil
	}
	var h C.rt_tensor
	return s.call("searchsorted", C.rt_searchsorted(C.int(s.mode), table.h, values.h, cbool(right), &h), h, table, values)
}

// Baddbmm is beta*self + alpha*(a @ b) over batches.
func (s *Scope) Baddbmm(self, a, b *Tensor, beta, alpha float64) *Tensor {
	if !s.ok("baddbmm", self, a, b) {
		return nil
	}
	var h C.rt_tensor
	e := C.rt_baddbmm(C.int(s.mode), self.h, a.h, b.h, C.double(beta), C.double(alpha), &h)
	return s.call("baddbmm", e, h, self, a, b)
}

// Einsum evaluates an Einstein summation such as "bct,bcs->bts".
func (s *Scope) Einsum(eq string, ts ...*Tensor) *Tensor {
	if !s.ok("einsum "+eq, ts...) {
		return nil
	}
	ceq := C.CString(eq)
	defer C.free(unsafe.Pointer(ceq))
	hs := handles(ts)
	var h C.rt_tensor
	e := C.rt_einsum(C.int(s.mode), ceq, handlePtr(hs), C.int64_t(len(hs)), &h)
	return s.call("einsum "+eq, e, h, ts...)
}

func optHandle(t *Tensor) C.rt_tensor {
	if t == nil {
		return nil
	}
	return t.h
}

func live(ts ...*Tensor) []*Tensor {
	out := ts[:0:0]
	for _, t := range ts {
		if t != nil {
			out = append(out, t)
		}
	}
	return out
}

// Linear is x @ w^T + b (b may be nil).
func (s *Scope) Linear(x, w, b *Tensor) *Tensor {
	in := live(x, w, b)
	if !s.ok("linear", append([]*Tensor{x, w}, in[2:]...)...) {
		return nil
	}
	var h C.rt_tensor
	return s.call("linear", C.rt_linear(C.int(s.mode), x.h, w.h, optHandle(b), &h), h, in...)
}

// ConvOpts are the stride, padding, dilation and groups of a convolution;
// zero values mean stride 1, padding 0, dilation 1, groups 1.
type ConvOpts struct {
	Stride, Padding, Dilation int64
	Groups                    int64
}

func (o ConvOpts) norm() ConvOpts {
	if o.Stride == 0 {
		o.Stride = 1
	}
	if o.Dilation == 0 {
		o.Dilation = 1
	}
	if o.Groups == 0 {
		o.Groups = 1
	}
	return o
}

func (s *Scope) conv(nd int, x, w, b *Tensor, o ConvOpts) *Tensor {
	op := fmt.Sprintf("conv%dd", nd)
	if !s.ok(op, x, w) || (b != nil && !s.ok(op, b)) {
		return nil
	}
	o = o.norm()
	st, pd, dl := make([]int64, nd), make([]int64, nd), make([]int64, nd)
	for i := 0; i < nd; i++ {
		st[i], pd[i], dl[i] = o.Stride, o.Padding, o.Dilation
	}
	var h C.rt_tensor
	e := C.rt_conv(C.int(s.mode), C.int(nd), x.h, w.h, optHandle(b), int64Ptr(st), int64Ptr(pd), int64Ptr(dl),
		C.int64_t(o.Groups), &h)
	return s.call(op, e, h, live(x, w, b)...)
}

// Conv1d is a 1-D convolution of x [B,C,L] with w [O,C/g,k] (b may be nil).
func (s *Scope) Conv1d(x, w, b *Tensor, o ConvOpts) *Tensor { return s.conv(1, x, w, b, o) }

// Conv2d is a 2-D convolution of x [B,C,H,W] with w [O,C/g,kh,kw] (b may be nil).
func (s *Scope) Conv2d(x, w, b *Tensor, o ConvOpts) *Tensor { return s.conv(2, x, w, b, o) }

// GroupNorm normalises x over groups of channels (w, b may be nil).
func (s *Scope) GroupNorm(x *Tensor, groups int64, w, b *Tensor, eps float64) *Tensor {
	if !s.ok("group_norm", x) {
		return nil
	}
	var h C.rt_tensor
	e := C.rt_group_norm(C.int(s.mode), x.h, C.int64_t(groups), optHandle(w), optHandle(b), C.double(eps), &h)
	return s.call(fmt.Sprintf("group_norm(groups=%d)", groups), e, h, live(x, w, b)...)
}

// LayerNorm normalises over the trailing dims given by shape.
func (s *Scope) LayerNorm(x *Tensor, shape []int64, w, b *Tensor, eps float64) *Tensor {
	if !s.ok("layer_norm", x) {
		return nil
	}
	var h C.rt_tensor
	e := C.rt_layer_norm(C.int(s.mode), x.h, int64Ptr(shape), C.int64_t(len(shape)), optHandle(w), optHandle(b),
		C.double(eps), &h)
	return s.call("layer_norm", e, h, live(x, w, b)...)
}

// AvgPool2d pools with a square kernel k, stride st (0 = k) and no padding.
func (s *Scope) AvgPool2d(x *Tensor, k, st int64) *Tensor {
	if !s.ok("avg_pool2d", x) {
		return nil
	}
	if st == 0 {
		st = k
	}
	var h C.rt_tensor
	e := C.rt_avg_pool2d(C.int(s.mode), x.h, C.int64_t(k), C.int64_t(k), C.int64_t(st), C.int64_t(st), 0, 0, &h)
	return s.call("avg_pool2d", e, h, x)
}

// InterpMode is an interpolation mode.
type InterpMode int

const (
	Nearest      InterpMode = C.RT_NEAREST
	Bilinear     InterpMode = C.RT_BILINEAR
	Bicubic      InterpMode = C.RT_BICUBIC
	NearestExact InterpMode = C.RT_NEAREST_EXACT
)

// Interpolate resizes x [B,C,H,W] to [oh, ow], as F.interpolate(size=...).
func (s *Scope) Interpolate(x *Tensor, oh, ow int64, mode InterpMode, alignCorners bool) *Tensor {
	if !s.ok("interpolate", x) {
		return nil
	}
	var h C.rt_tensor
	e := C.rt_interpolate2d(C.int(s.mode), x.h, C.int(mode), C.int64_t(oh), C.int64_t(ow), 0, 0, cbool(alignCorners), &h)
	return s.call(fmt.Sprintf("interpolate to %dx%d", oh, ow), e, h, x)
}

// InterpolateScale resizes x by scale factors, as F.interpolate(scale_factor=...).
func (s *Scope) InterpolateScale(x *Tensor, sh, sw float64, mode InterpMode, alignCorners bool) *Tensor {
	if !s.ok("interpolate", x) {
		return nil
	}
	var h C.rt_tensor
	e := C.rt_interpolate2d(C.int(s.mode), x.h, C.int(mode), 0, 0, C.double(sh), C.double(sw), cbool(alignCorners), &h)
	return s.call(fmt.Sprintf("interpolate by %gx%g", sh, sw), e, h, x)
}

// PadMode is a padding mode.
type PadMode int

const (
	PadConstant  PadMode = C.RT_PAD_CONSTANT
	PadReflect   PadMode = C.RT_PAD_REFLECT
	PadReplicate PadMode = C.RT_PAD_REPLICATE
)

// Pad pads the trailing dims as F.pad: pads = (left, right, top, bottom, ...).
func (s *Scope) Pad(x *Tensor, pads []int64, mode PadMode, value float64) *Tensor {
	if !s.ok("pad", x) {
		return nil
	}
	var h C.rt_tensor
	e := C.rt_pad(C.int(s.mode), x.h, int64Ptr(pads), C.int64_t(len(pads)), C.int(mode), C.double(value), &h)
	return s.call(fmt.Sprintf("pad%v", pads), e, h, x)
}

// Dropout zeroes elements with probability p (drawn from g) and scales the
// rest by 1/(1-p) when train is true; otherwise it returns x unchanged.
func (s *Scope) Dropout(x *Tensor, p float64, train bool, g *Generator) *Tensor {
	if !s.ok("dropout", x) {
		return nil
	}
	var gh C.rt_generator
	if g != nil {
		gh = g.h
	}
	var h C.rt_tensor
	return s.call("dropout", C.rt_dropout(C.int(s.mode), x.h, C.double(p), cbool(train), gh, &h), h, x)
}

// Shapes.

func (s *Scope) shapeOp(op string, a *Tensor, dims []int64,
	f func(C.int, C.rt_tensor, *C.int64_t, C.int64_t, *C.rt_tensor) C.rt_error) *Tensor {
	if !s.ok(op, a) {
		return nil
	}
	var h C.rt_tensor
	e := f(C.int(s.mode), a.h, int64Ptr(dims), C.int64_t(len(dims)), &h)
	return s.call(fmt.Sprintf("%s%v", op, dims), e, h, a)
}

func cReshape(m C.int, a C.rt_tensor, p *C.int64_t, n C.int64_t, o *C.rt_tensor) C.rt_error {
	return C.rt_reshape(m, a, p, n, o)
}
func cView(m C.int, a C.rt_tensor, p *C.int64_t, n C.int64_t, o *C.rt_tensor) C.rt_error {
	return C.rt_view(m, a, p, n, o)
}
func cExpand(m C.int, a C.rt_tensor, p *C.int64_t, n C.int64_t, o *C.rt_tensor) C.rt_error {
	return C.rt_expand(m, a, p, n, o)
}
func cPermute(m C.int, a C.rt_tensor, p *C.int64_t, n C.int64_t, o *C.rt_tensor) C.rt_error {
	return C.rt_permute(m, a, p, n, o)
}
func cRepeat(m C.int, a C.rt_tensor, p *C.int64_t, n C.int64_t, o *C.rt_tensor) C.rt_error {
	return C.rt_repeat(m, a, p, n, o)
}
func cFlip(m C.int, a C.rt_tensor, p *C.int64_t, n C.int64_t, o *C.rt_tensor) C.rt_error {
	return C.rt_flip(m, a, p, n, o)
}

// Reshape returns a with a new shape (one size may be -1).
func (s *Scope) Reshape(a *Tensor, shape ...int64) *Tensor {
	return s.shapeOp("reshape", a, shape, cReshape)
}

// View is Reshape that never copies (fails on incompatible strides).
func (s *Scope) View(a *Tensor, shape ...int64) *Tensor { return s.shapeOp("view", a, shape, cView) }

// Expand broadcasts size-1 dims to shape without copying (-1 keeps a size).
func (s *Scope) Expand(a *Tensor, shape ...int64) *Tensor {
	return s.shapeOp("expand", a, shape, cExpand)
}

// Permute reorders dims.
func (s *Scope) Permute(a *Tensor, dims ...int64) *Tensor {
	return s.shapeOp("permute", a, dims, cPermute)
}

// Repeat tiles a (torch.Tensor.repeat).
func (s *Scope) Repeat(a *Tensor, reps ...int64) *Tensor {
	return s.shapeOp("repeat", a, reps, cRepeat)
}

// Flip reverses a along dims.
func (s *Scope) Flip(a *Tensor, dims ...int64) *Tensor { return s.shapeOp("flip", a, dims, cFlip) }

// Transpose swaps two dims.
func (s *Scope) Transpose(a *Tensor, d0, d1 int64) *Tensor {
	if !s.ok("transpose", a) {
		return nil
	}
	var h C.rt_tensor
	return s.call("transpose", C.rt_transpose(C.int(s.mode), a.h, C.int64_t(d0), C.int64_t(d1), &h), h, a)
}

// Unsqueeze inserts a size-1 dim at dim.
func (s *Scope) Unsqueeze(a *Tensor, dim int64) *Tensor {
	if !s.ok("unsqueeze", a) {
		return nil
	}
	var h C.rt_tensor
	return s.call("unsqueeze", C.rt_unsqueeze(C.int(s.mode), a.h, C.int64_t(dim), &h), h, a)
}

// Squeeze removes size-1 dims: the given ones, or all with none given.
func (s *Scope) Squeeze(a *Tensor, dim ...int64) *Tensor {
	if !s.ok("squeeze", a) {
		return nil
	}
	d := int64(math.MinInt64)
	if len(dim) > 0 {
		d = dim[0]
	}
	var h C.rt_tensor
	return s.call("squeeze", C.rt_squeeze(C.int(s.mode), a.h, C.int64_t(d), &h), h, a)
}

// Flatten merges dims start..end (inclusive; -1 = last).
func (s *Scope) Flatten(a *Tensor, start, end int64) *Tensor {
	if !s.ok("flatten", a) {
		return nil
	}
	var h C.rt_tensor
	return s.call("flatten", C.rt_flatten(C.int(s.mode), a.h, C.int64_t(start), C.int64_t(end), &h), h, a)
}

// Narrow returns a[..., start:start+length, ...] along dim (a view).
func (s *Scope) Narrow(a *Tensor, dim, start, length int64) *Tensor {
	if !s.ok("narrow", a) {
		return nil
	}
	var h C.rt_tensor
	e := C.rt_narrow(C.int(s.mode), a.h, C.int64_t(dim), C.int64_t(start), C.int64_t(length), &h)
	return s.call(fmt.Sprintf("narrow(dim=%d, start=%d, len=%d)", dim, start, length), e, h, a)
}

// Select returns a[..., index, ...] along dim, removing that dim.
func (s *Scope) Select(a *Tensor, dim, index int64) *Tensor {
	if !s.ok("select", a) {
		return nil
	}
	var h C.rt_tensor
	e := C.rt_select(C.int(s.mode), a.h, C.int64_t(dim), C.int64_t(index), &h)
	return s.call(fmt.Sprintf("select(dim=%d, index=%d)", dim, index), e, h, a)
}

// IndexSelect picks entries idx (int64, 1-D) along dim.
func (s *Scope) IndexSelect(a *Tensor, dim int64, idx *Tensor) *Tensor {
	if !s.ok("index_select", a, idx) {
		return nil
	}
	var h C.rt_tensor
	return s.call("index_select", C.rt_index_select(C.int(s.mode), a.h, C.int64_t(dim), idx.h, &h), h, a, idx)
}

// Gather is torch.gather along dim.
func (s *Scope) Gather(a *Tensor, dim int64, idx *Tensor) *Tensor {
	if !s.ok("gather", a, idx) {
		return nil
	}
	var h C.rt_tensor
	return s.call("gather", C.rt_gather(C.int(s.mode), a.h, C.int64_t(dim), idx.h, &h), h, a, idx)
}

func (s *Scope) catStack(op string, stack C.int, dim int64, ts []*Tensor) *Tensor {
	if !s.ok(op, ts...) {
		return nil
	}
	hs := handles(ts)
	var h C.rt_tensor
	e := C.rt_cat(C.int(s.mode), handlePtr(hs), C.int64_t(len(hs)), C.int64_t(dim), stack, &h)
	return s.call(fmt.Sprintf("%s(dim=%d)", op, dim), e, h, ts...)
}

// Cat concatenates along an existing dim.
func (s *Scope) Cat(dim int64, ts ...*Tensor) *Tensor { return s.catStack("cat", 0, dim, ts) }

// Stack joins along a new dim.
func (s *Scope) Stack(dim int64, ts ...*Tensor) *Tensor { return s.catStack("stack", 1, dim, ts) }

func (s *Scope) split(op string, a *Tensor, size, chunks, dim int64) []*Tensor {
	if !s.ok(op, a) {
		return nil
	}
	var n int64
	if size > 0 {
		n = (a.Size(int(dim)) + size - 1) / size
	} else {
		n = chunks
	}
	if n < 1 {
		n = 1
	}
	outs := make([]C.rt_tensor, n+1)
	var got C.int64_t
	e := C.rt_split(C.int(s.mode), a.h, C.int64_t(size), C.int64_t(chunks), C.int64_t(dim), &outs[0],
		C.int64_t(len(outs)), &got)
	if e != nil {
		s.call(op, e, nil, a)
		return nil
	}
	res := make([]*Tensor, got)
	for i := range res {
		res[i] = s.track(outs[i])
	}
	return res
}

// Chunk splits a into (at most) n pieces along dim.
func (s *Scope) Chunk(a *Tensor, n, dim int64) []*Tensor { return s.split("chunk", a, 0, n, dim) }

// Split splits a into pieces of size along dim (the last may be smaller).
func (s *Scope) Split(a *Tensor, size, dim int64) []*Tensor { return s.split("split", a, size, 0, dim) }

// To converts a to another dtype (same device).
func (s *Scope) To(a *Tensor, dt DType) *Tensor {
	if !s.ok("to", a) {
		return nil
	}
	return s.ToDevice(a, a.Device(), dt)
}

// ToDevice moves a to dev and converts it to dt.
func (s *Scope) ToDevice(a *Tensor, dev Device, dt DType) *Tensor {
	if !s.ok("to", a) {
		return nil
	}
	var h C.rt_tensor
	e := C.rt_to(C.int(s.mode), a.h, C.int(dt), C.int(dev.Type), C.int(dev.Index), &h)
	return s.call(fmt.Sprintf("to(%s, %s)", dev, dt), e, h, a)
}

// Factories.

func (s *Scope) full(op string, kind C.int, v float64, dt DType, dev Device, shape []int64) *Tensor {
	if !s.ok(op) {
		return nil
	}
	var h C.rt_tensor
	e := C.rt_full(kind, int64Ptr(shape), C.int64_t(len(shape)), C.double(v), C.int(dt), C.int(dev.Type),
		C.int(dev.Index), &h)
	return s.result(fmt.Sprintf("%s%v %s %s", op, shape, dt, dev), e, h)
}

// Zeros makes a tensor of zeros.
func (s *Scope) Zeros(dt DType, dev Device, shape ...int64) *Tensor {
	return s.full("zeros", 0, 0, dt, dev, shape)
}

// Ones makes a tensor of ones.
func (s *Scope) Ones(dt DType, dev Device, shape ...int64) *Tensor {
	return s.full("ones", 1, 0, dt, dev, shape)
}

// Full makes a tensor filled with v (0-dim with no shape).
func (s *Scope) Full(v float64, dt DType, dev Device, shape ...int64) *Tensor {
	return s.full("full", 2, v, dt, dev, shape)
}

// Empty makes an uninitialised tensor.
func (s *Scope) Empty(dt DType, dev Device, shape ...int64) *Tensor {
	return s.full("empty", 3, 0, dt, dev, shape)
}

// ZerosLike makes zeros with a's shape, dtype and device.
func (s *Scope) ZerosLike(a *Tensor) *Tensor {
	if !s.ok("zeros_like", a) {
		return nil
	}
	return s.Zeros(a.DType(), a.Device(), a.Shape()...)
}

// OnesLike makes ones with a's shape, dtype and device.
func (s *Scope) OnesLike(a *Tensor) *Tensor {
	if !s.ok("ones_like", a) {
		return nil
	}
	return s.Ones(a.DType(), a.Device(), a.Shape()...)
}

// FullLike makes a tensor filled with v with a's shape, dtype and device.
func (s *Scope) FullLike(a *Tensor, v float64) *Tensor {
	if !s.ok("full_like", a) {
		return nil
	}
	return s.Full(v, a.DType(), a.Device(), a.Shape()...)
}

// Arange is [start, end) in steps of step.
func (s *Scope) Arange(start, end, step float64, dt DType, dev Device) *Tensor {
	if !s.ok("arange") {
		return nil
	}
	var h C.rt_tensor
	e := C.rt_arange(C.double(start), C.double(end), C.double(step), C.int(dt), C.int(dev.Type), C.int(dev.Index), &h)
	return s.result("arange", e, h)
}

// Linspace is steps evenly spaced values from start to end inclusive.
func (s *Scope) Linspace(start, end float64, steps int64, dt DType, dev Device) *Tensor {
	if !s.ok("linspace") {
		return nil
	}
	var h C.rt_tensor
	e := C.rt_linspace(C.double(start), C.double(end), C.int64_t(steps), C.int(dt), C.int(dev.Type), C.int(dev.Index), &h)
	return s.result("linspace", e, h)
}
