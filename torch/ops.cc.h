// ops.cc.h: tensor handles, elementwise ops, nn ops, shapes, autograd, optimizers.
#pragma once
#include "shim.h"

#include <chrono>

#include <ATen/Parallel.h>

using rt::ints;
using rt::T;
using rt::wrap;

#define RT_OP(mode) \
  RT_TRY            \
  rt::ModeGuard mode_guard__(mode);

extern "C" {

/* ---- handles and metadata ---- */

void rt_free(rt_tensor t) {
  if (!t) return;
  rt::g_live_tensors.fetch_sub(1, std::memory_order_relaxed);
  delete t;
}

void rt_free_many(rt_tensor* ts, int64_t n) {
  for (int64_t i = 0; i < n; i++) rt_free(ts[i]);
}

int64_t rt_dim(rt_tensor t) { return t->t.dim(); }

int64_t rt_shape(rt_tensor t, int64_t* out, int64_t cap) {
  auto s = t->t.sizes();
  int64_t d = static_cast<int64_t>(s.size());
  for (int64_t i = 0; i < d && i < cap; i++) out[i] = s[i];
  return d;
}

int64_t rt_numel(rt_tensor t) { return t->t.numel(); }
int rt_dtype(rt_tensor t) { return rt::from_scalar_type(t->t.scalar_type()); }

void rt_device(rt_tensor t, int* type, int* index) {
  auto d = t->t.device();
  *type = d.is_cuda() ? RT_CUDA : RT_CPU;
  *index = d.has_index() ? d.index() : 0;
}

int rt_is_contiguous(rt_tensor t) { return t->t.is_contiguous() ? 1 : 0; }
int rt_defined(rt_tensor t) { return t && t->t.defined() ? 1 : 0; }
int rt_requires_grad(rt_tensor t) { return t->t.requires_grad() ? 1 : 0; }
const void* rt_data_ptr(rt_tensor t) { return t->t.defined() ? t->t.data_ptr() : nullptr; }

rt_error rt_from_host(const void* data, size_t nbytes, int dtype, const int64_t* shape,
                      int64_t ndim, int dev_type, int dev_index, rt_tensor* out) {
  RT_TRY
  at::ScalarType st = rt::to_scalar_type(dtype);
  at::Device dev = rt::to_device(dev_type, dev_index);
  int64_t numel = 1;
  for (int64_t i = 0; i < ndim; i++) {
    if (shape[i] < 0) throw std::invalid_argument("negative size in shape");
    numel *= shape[i];
  }
  size_t want = static_cast<size_t>(numel) * c10::elementSize(st);
  if (want != nbytes)
    throw std::invalid_argument("data has " + std::to_string(nbytes) + " bytes, shape needs " +
                                std::to_string(want));
  at::Tensor t = at::empty(ints(shape, ndim), at::TensorOptions().dtype(st));
  if (nbytes) std::memcpy(t.data_ptr(), data, nbytes);
  if (!dev.is_cpu()) t = t.to(dev);
  *out = wrap(t);
  RT_CATCH
}

rt_error rt_to_host(rt_tensor h, void* dst, size_t nbytes) {
  RT_TRY
  c10::NoGradGuard ng;
  at::Tensor t = T(h).detach().to(at::kCPU).contiguous();
  size_t have = static_cast<size_t>(t.numel()) * t.element_size();
  if (have != nbytes)
    throw std::invalid_argument("tensor has " + std::to_string(have) + " bytes, buffer " +
                                std::to_string(nbytes));
  if (nbytes) std::memcpy(dst, t.data_ptr(), nbytes);
  RT_CATCH
}

rt_error rt_item(rt_tensor h, double* out) {
  RT_TRY
  const at::Tensor& t = T(h);
  if (t.numel() != 1)
    throw std::invalid_argument("item() needs a tensor with one element, got shape " +
                                c10::str(t.sizes()));
  *out = t.item<double>();
  RT_CATCH
}

rt_error rt_to(int mode, rt_tensor a, int dtype, int dev_type, int dev_index, rt_tensor* out) {
  RT_OP(mode)
  at::ScalarType st = rt::to_scalar_type(dtype);
  *out = wrap(T(a).to(rt::to_device(dev_type, dev_index), st));
  RT_CATCH
}

/* ---- elementwise ---- */

rt_error rt_unary(int mode, int op, rt_tensor ah, rt_tensor* out) {
  RT_OP(mode)
  const at::Tensor& a = T(ah);
  at::Tensor r;
  switch (op) {
    case RT_NEG: r = at::neg(a); break;
    case RT_ABS: r = at::abs(a); break;
    case RT_SQRT: r = at::sqrt(a); break;
    case RT_RSQRT: r = at::rsqrt(a); break;
    case RT_EXP: r = at::exp(a); break;
    case RT_LOG: r = at::log(a); break;
    case RT_LOG1P: r = at::log1p(a); break;
    case RT_EXPM1: r = at::expm1(a); break;
    case RT_SIN: r = at::sin(a); break;
    case RT_COS: r = at::cos(a); break;
    case RT_TANH: r = at::tanh(a); break;
    case RT_ERF: r = at::erf(a); break;
    case RT_SIGN: r = at::sign(a); break;
    case RT_SILU: r = at::silu(a); break;
    case RT_RELU: r = at::relu(a); break;
    case RT_SIGMOID: r = at::sigmoid(a); break;
    case RT_GELU: r = at::gelu(a); break;
    case RT_FLOOR: r = at::floor(a); break;
    case RT_CEIL: r = at::ceil(a); break;
    case RT_ROUND: r = at::round(a); break;
    case RT_ISNAN: r = at::isnan(a); break;
    case RT_ISFINITE: r = at::isfinite(a); break;
    case RT_ISINF: r = at::isinf(a); break;
    case RT_LOGICAL_NOT: r = at::logical_not(a); break;
    case RT_SQUARE: r = at::square(a); break;
    case RT_RECIPROCAL: r = at::reciprocal(a); break;
    case RT_CONTIGUOUS: r = a.contiguous(); break;
    case RT_CLONE: r = a.clone(); break;
    case RT_DETACH: r = a.detach(); break;
    case RT_CONTIGUOUS_CL:
      r = a.dim() == 4 ? a.contiguous(at::MemoryFormat::ChannelsLast) : a.contiguous();
      break;
    case RT_SILU_INPLACE: {
      at::Tensor t = a;
      r = at::silu_(t);
      break;
    }
    default: throw std::invalid_argument("unknown unary op " + std::to_string(op));
  }
  *out = wrap(std::move(r));
  RT_CATCH
}

rt_error rt_binary(int mode, int op, rt_tensor ah, rt_tensor bh, rt_tensor* out) {
  RT_OP(mode)
  const at::Tensor& a = T(ah);
  const at::Tensor& b = T(bh);
  at::Tensor r;
  switch (op) {
    case RT_ADD: r = at::add(a, b); break;
    case RT_ADD_INPLACE: {
      at::Tensor t = a;
      r = t.add_(b);
      break;
    }
    case RT_SUB: r = at::sub(a, b); break;
    case RT_MUL: r = at::mul(a, b); break;
    case RT_DIV: r = at::div(a, b); break;
    case RT_POW: r = at::pow(a, b); break;
    case RT_MAXIMUM: r = at::maximum(a, b); break;
    case RT_MINIMUM: r = at::minimum(a, b); break;
    case RT_EQ: r = at::eq(a, b); break;
    case RT_NE: r = at::ne(a, b); break;
    case RT_LT: r = at::lt(a, b); break;
    case RT_LE: r = at::le(a, b); break;
    case RT_GT: r = at::gt(a, b); break;
    case RT_GE: r = at::ge(a, b); break;
    case RT_LOGICAL_AND: r = at::logical_and(a, b); break;
    case RT_LOGICAL_OR: r = at::logical_or(a, b); break;
    case RT_MATMUL: r = at::matmul(a, b); break;
    case RT_BMM: r = at::bmm(a, b); break;
    case RT_RSUB: r = at::sub(b, a); break;
    case RT_RDIV: r = at::div(b, a); break;
    case RT_ATAN2: r = at::atan2(a, b); break;
    case RT_REMAINDER: r = at::remainder(a, b); break;
    default: throw std::invalid_argument("unknown binary op " + std::to_string(op));
  }
  *out = wrap(std::move(r));
  RT_CATCH
}

rt_error rt_binary_scalar(int mode, int op, rt_tensor ah, double s, rt_tensor* out) {
  RT_OP(mode)
  const at::Tensor& a = T(ah);
  // Integer tensors keep their dtype with integral scalars (as in Python).
  at::Scalar sc = (at::isIntegralType(a.scalar_type(), true) && s == static_cast<double>(static_cast<int64_t>(s)))
                      ? at::Scalar(static_cast<int64_t>(s))
                      : at::Scalar(s);
  at::Tensor r;
  switch (op) {
    case RT_ADD: r = at::add(a, sc); break;
    case RT_SUB: r = at::sub(a, sc); break;
    case RT_MUL: r = at::mul(a, sc); break;
    case RT_DIV: r = at::div(a, sc); break;
    case RT_POW: r = at::pow(a, sc); break;
    case RT_MAXIMUM: r = at::clamp_min(a, sc); break;
    case RT_MINIMUM: r = at::clamp_max(a, sc); break;
    case RT_EQ: r = at::eq(a, sc); break;
    case RT_NE: r = at::ne(a, sc); break;
    case RT_LT: r = at::lt(a, sc); break;
    case RT_LE: r = at::le(a, sc); break;
    case RT_GT: r = at::gt(a, sc); break;
    case RT_GE: r = at::ge(a, sc); break;
    case RT_RSUB: r = at::rsub(a, sc); break;
    case RT_RDIV: r = at::mul(at::reciprocal(a), sc); break;
    case RT_REMAINDER: r = at::remainder(a, sc); break;
    default: throw std::invalid_argument("op " + std::to_string(op) + " takes no scalar");
  }
  *out = wrap(std::move(r));
  RT_CATCH
}

rt_error rt_reduce(int mode, int op, rt_tensor ah, const int64_t* dims, int64_t ndims,
                   int keepdim, rt_tensor* out) {
  RT_OP(mode)
  const at::Tensor& a = T(ah);
  bool all = ndims == 0;
  bool kd = keepdim != 0;
  auto d = ints(dims, ndims);
  at::Tensor r;
  auto one_dim = [&]() -> int64_t {
    if (ndims != 1) throw std::invalid_argument("this reduction takes exactly one dim");
    return dims[0];
  };
  switch (op) {
    case RT_SUM: r = all ? at::sum(a) : at::sum(a, d, kd); break;
    case RT_MEAN: r = all ? at::mean(a) : at::mean(a, d, kd); break;
    case RT_AMAX: r = all ? at::max(a) : at::amax(a, d, kd); break;
    case RT_AMIN: r = all ? at::min(a) : at::amin(a, d, kd); break;
    case RT_ALL: r = all ? at::all(a) : at::all(a, one_dim(), kd); break;
    case RT_ANY: r = all ? at::any(a) : at::any(a, one_dim(), kd); break;
    case RT_PROD: r = all ? at::prod(a) : at::prod(a, one_dim(), kd); break;
    case RT_NORM2:
      r = all ? at::norm(a) : at::norm(a, at::Scalar(2.0), d, kd);
      break;
    case RT_VAR: r = all ? at::var(a) : at::var(a, d, true, kd); break;
    case RT_STD: r = all ? at::std(a) : at::std(a, d, true, kd); break;
    case RT_ARGMAX: r = all ? at::argmax(a) : at::argmax(a, one_dim(), kd); break;
    case RT_ARGMIN: r = all ? at::argmin(a) : at::argmin(a, one_dim(), kd); break;
    default: throw std::invalid_argument("unknown reduction " + std::to_string(op));
  }
  *out = wrap(std::move(r));
  RT_CATCH
}

rt_error rt_max_min_dim(int mode, int is_max, rt_tensor a, int64_t dim, int keepdim,
                        rt_tensor* values, rt_tensor* indices) {
  RT_OP(mode)
  auto r = is_max ? at::max(T(a), dim, keepdim != 0) : at::min(T(a), dim, keepdim != 0);
  *values = wrap(std::get<0>(r));
  *indices = wrap(std::get<1>(r));
  RT_CATCH
}

rt_error rt_clamp(int mode, rt_tensor a, int has_min, double mn, int has_max, double mx,
                  rt_tensor* out) {
  RT_OP(mode)
  // integer tensors keep their dtype with integral bounds (as in Python)
  bool integral = at::isIntegralType(T(a).scalar_type(), true);
  auto scalar = [integral](double v) {
    if (integral && v == static_cast<double>(static_cast<int64_t>(v))) return at::Scalar(static_cast<int64_t>(v));
    return at::Scalar(v);
  };
  c10::optional<at::Scalar> lo, hi;
  if (has_min) lo = scalar(mn);
  if (has_max) hi = scalar(mx);
  *out = wrap(at::clamp(T(a), lo, hi));
  RT_CATCH
}

rt_error rt_where(int mode, rt_tensor c, rt_tensor a, rt_tensor b, rt_tensor* out) {
  RT_OP(mode)
  const at::Tensor& cond = T(c);
  if (cond.scalar_type() != at::kBool)
    throw std::invalid_argument("where: condition must be bool, got " +
                                std::string(c10::toString(cond.scalar_type())));
  *out = wrap(at::where(cond, T(a), T(b)));
  RT_CATCH
}

rt_error rt_masked_fill(int mode, rt_tensor a, rt_tensor m, double v, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(at::masked_fill(T(a), T(m), v));
  RT_CATCH
}

rt_error rt_addcmul(int mode, rt_tensor self, rt_tensor t1, rt_tensor t2, double value, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(at::addcmul(T(self), T(t1), T(t2), value));
  RT_CATCH
}

rt_error rt_modulate2(int mode, rt_tensor nh, rt_tensor ih, rt_tensor a0h, rt_tensor a1h, rt_tensor b0h,
                      rt_tensor b1h, rt_tensor* out) {
  RT_OP(mode)
  const at::Tensor &n = T(nh), &ind = T(ih), &a0 = T(a0h), &a1 = T(a1h), &b0 = T(b0h), &b1 = T(b1h);
  bool grad = c10::GradMode::is_enabled() &&
              (n.requires_grad() || ind.requires_grad() || a0.requires_grad() || a1.requires_grad() ||
               b0.requires_grad() || b1.requires_grad());
  bool fast = !grad && n.dim() == 4 && n.is_cpu() && n.scalar_type() == at::kFloat;
  int64_t B = 0, C = 0, HW = 0;
  if (fast) {
    B = n.size(0), C = n.size(1), HW = n.size(2) * n.size(3);
    for (const at::Tensor* v : {&a0, &a1, &b0, &b1})
      fast = fast && v->scalar_type() == at::kFloat && v->numel() == B * C;
    fast = fast && ind.scalar_type() == at::kFloat && ind.numel() == B * HW && ind.size(0) == B;
  }
  if (!fast) {
    *out = wrap(at::addcmul(at::addcmul(b0, ind, b1), n, at::addcmul(a0, ind, a1)));
    return nullptr;
  }
  at::Tensor nc = n.contiguous(), ic = ind.contiguous();
  at::Tensor A0 = a0.contiguous(), A1 = a1.contiguous(), B0 = b0.contiguous(), B1 = b1.contiguous();
  at::Tensor r = at::empty_like(nc, at::MemoryFormat::Contiguous);
  const float *np = nc.data_ptr<float>(), *ip = ic.data_ptr<float>();
  const float *pa0 = A0.data_ptr<float>(), *pa1 = A1.data_ptr<float>(), *pb0 = B0.data_ptr<float>(),
              *pb1 = B1.data_ptr<float>();
  float* op = r.data_ptr<float>();
  at::parallel_for(0, B * C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bc = begin; bc < end; bc++) {
      const float x0 = pa0[bc], x1 = pa1[bc], y0 = pb0[bc], y1 = pb1[bc];
      const float* src = np + bc * HW;
      const float* w = ip + (bc / C) * HW;
      float* dst = op + bc * HW;
      for (int64_t p = 0; p < HW; p++) dst[p] = src[p] * (x0 + w[p] * x1) + (y0 + w[p] * y1);
    }
  });
  *out = wrap(r);
  RT_CATCH
}

rt_error rt_lerp(int mode, rt_tensor a, rt_tensor b, double w, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(at::lerp(T(a), T(b), w));
  RT_CATCH
}

rt_error rt_cumsum(int mode, rt_tensor a, int64_t dim, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(at::cumsum(T(a), dim));
  RT_CATCH
}

rt_error rt_softmax(int mode, rt_tensor a, int64_t dim, int log, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(log ? at::log_softmax(T(a), dim) : at::softmax(T(a), dim));
  RT_CATCH
}

rt_error rt_unique(int mode, rt_tensor a, rt_tensor* values, rt_tensor* inverse) {
  RT_OP(mode)
  auto r = at::_unique2(T(a), /*sorted=*/true, /*return_inverse=*/true, /*return_counts=*/false);
  *values = wrap(std::get<0>(r));
  *inverse = wrap(std::get<1>(r));
  RT_CATCH
}

rt_error rt_searchsorted(int mode, rt_tensor sorted, rt_tensor values, int right, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(at::searchsorted(T(sorted), T(values), /*out_int32=*/false, right != 0));
  RT_CATCH
}

/* ---- linear algebra and nn ---- */

rt_error rt_baddbmm(int mode, rt_tensor self, rt_tensor a, rt_tensor b, double beta,
                    double alpha, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(at::baddbmm(T(self), T(a), T(b), beta, alpha));
  RT_CATCH
}

rt_error rt_einsum(int mode, const char* eq, rt_tensor* ts, int64_t n, rt_tensor* out) {
  RT_OP(mode)
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (int64_t i = 0; i < n; i++) v.push_back(T(ts[i]));
  *out = wrap(at::einsum(eq, v));
  RT_CATCH
}

rt_error rt_linear(int mode, rt_tensor x, rt_tensor w, rt_tensor b, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(at::linear(T(x), T(w), rt::opt(b)));
  RT_CATCH
}

rt_error rt_conv(int mode, int nd, rt_tensor x, rt_tensor w, rt_tensor b,
                 const int64_t* stride, const int64_t* padding, const int64_t* dilation,
                 int64_t groups, rt_tensor* out) {
  RT_OP(mode)
  auto s = ints(stride, nd), p = ints(padding, nd), d = ints(dilation, nd);
  at::Tensor r;
  switch (nd) {
    case 1: r = at::conv1d(T(x), T(w), rt::opt(b), s, p, d, groups); break;
    case 2: r = at::conv2d(T(x), T(w), rt::opt(b), s, p, d, groups); break;
    case 3: r = at::conv3d(T(x), T(w), rt::opt(b), s, p, d, groups); break;
    default: throw std::invalid_argument("conv supports 1, 2 or 3 spatial dims");
  }
  *out = wrap(std::move(r));
  RT_CATCH
}

rt_error rt_group_norm(int mode, rt_tensor x, int64_t groups, rt_tensor w, rt_tensor b,
                       double eps, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(at::group_norm(T(x), groups, rt::opt(w), rt::opt(b), eps));
  RT_CATCH
}

rt_error rt_layer_norm(int mode, rt_tensor x, const int64_t* shape, int64_t nshape,
                       rt_tensor w, rt_tensor b, double eps, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(at::layer_norm(T(x), ints(shape, nshape), rt::opt(w), rt::opt(b), eps));
  RT_CATCH
}

rt_error rt_avg_pool2d(int mode, rt_tensor x, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                       int64_t ph, int64_t pw, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(at::avg_pool2d(T(x), {kh, kw}, {sh, sw}, {ph, pw}));
  RT_CATCH
}

rt_error rt_interpolate2d(int mode, rt_tensor xh, int imode, int64_t oh, int64_t ow,
                          double sh, double sw, int align_corners, rt_tensor* out) {
  RT_OP(mode)
  const at::Tensor& x = T(xh);
  if (x.dim() != 4) throw std::invalid_argument("interpolate2d needs [B,C,H,W], got " + c10::str(x.sizes()));
  int64_t H = x.size(2), W = x.size(3);
  c10::optional<double> fh, fw;
  if (oh <= 0 || ow <= 0) {
    if (!(sh > 0 && sw > 0)) throw std::invalid_argument("interpolate2d needs a size or scale factors");
    oh = static_cast<int64_t>(std::floor(H * sh));
    ow = static_cast<int64_t>(std::floor(W * sw));
    fh = sh;
    fw = sw;
  }
  std::vector<int64_t> size{oh, ow};
  at::Tensor r;
  switch (imode) {
    case RT_NEAREST: r = at::upsample_nearest2d(x, size, fh, fw); break;
    case RT_NEAREST_EXACT: r = at::_upsample_nearest_exact2d(x, size, fh, fw); break;
    case RT_BILINEAR: r = at::upsample_bilinear2d(x, size, align_corners != 0, fh, fw); break;
    case RT_BICUBIC: r = at::upsample_bicubic2d(x, size, align_corners != 0, fh, fw); break;
    default: throw std::invalid_argument("unknown interpolation mode");
  }
  *out = wrap(std::move(r));
  RT_CATCH
}

rt_error rt_pad(int mode, rt_tensor x, const int64_t* pads, int64_t npads, int pmode, double value,
                rt_tensor* out) {
  RT_OP(mode)
  auto p = ints(pads, npads);
  at::Tensor r;
  switch (pmode) {
    case RT_PAD_CONSTANT: r = at::constant_pad_nd(T(x), p, value); break;
    case RT_PAD_REFLECT:
      if (npads != 4) throw std::invalid_argument("reflect pad takes 4 values (2d)");
      r = at::reflection_pad2d(T(x), p);
      break;
    case RT_PAD_REPLICATE:
      if (npads != 4) throw std::invalid_argument("replicate pad takes 4 values (2d)");
      r = at::replication_pad2d(T(x), p);
      break;
    default: throw std::invalid_argument("unknown pad mode");
  }
  *out = wrap(std::move(r));
  RT_CATCH
}


rt_error rt_dropout(int mode, rt_tensor xh, double p, int train, rt_generator g, rt_tensor* out) {
  RT_OP(mode)
  const at::Tensor& x = T(xh);
  if (!train || p == 0) {
    *out = wrap(x);
    return nullptr;
  }
  if (p < 0 || p >= 1) throw std::invalid_argument("dropout probability must be in [0, 1)");
  if (!g) throw std::invalid_argument("dropout in training needs a generator");
  at::Tensor keep;
  {
    c10::NoGradGuard ng;
    keep = at::empty(x.sizes(), at::kFloat).uniform_(0, 1, g->g).ge(p);
  }
  keep = keep.to(x.device(), x.scalar_type());
  *out = wrap(x * keep * (1.0 / (1.0 - p)));
  RT_CATCH
}

/* ---- shapes and indexing ---- */

rt_error rt_reshape(int mode, rt_tensor a, const int64_t* s, int64_t n, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(T(a).reshape(ints(s, n)));
  RT_CATCH
}
rt_error rt_view(int mode, rt_tensor a, const int64_t* s, int64_t n, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(T(a).view(ints(s, n)));
  RT_CATCH
}
rt_error rt_expand(int mode, rt_tensor a, const int64_t* s, int64_t n, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(T(a).expand(ints(s, n)));
  RT_CATCH
}
rt_error rt_permute(int mode, rt_tensor a, const int64_t* s, int64_t n, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(T(a).permute(ints(s, n)));
  RT_CATCH
}
rt_error rt_repeat(int mode, rt_tensor a, const int64_t* s, int64_t n, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(T(a).repeat(ints(s, n)));
  RT_CATCH
}
rt_error rt_flip(int mode, rt_tensor a, const int64_t* s, int64_t n, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(at::flip(T(a), ints(s, n)));
  RT_CATCH
}
rt_error rt_transpose(int mode, rt_tensor a, int64_t d0, int64_t d1, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(T(a).transpose(d0, d1));
  RT_CATCH
}
rt_error rt_unsqueeze(int mode, rt_tensor a, int64_t dim, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(T(a).unsqueeze(dim));
  RT_CATCH
}
rt_error rt_squeeze(int mode, rt_tensor a, int64_t dim, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(dim == INT64_MIN ? T(a).squeeze() : T(a).squeeze(dim));
  RT_CATCH
}
rt_error rt_flatten(int mode, rt_tensor a, int64_t start, int64_t end, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(T(a).flatten(start, end));
  RT_CATCH
}
rt_error rt_narrow(int mode, rt_tensor a, int64_t dim, int64_t start, int64_t len, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(T(a).narrow(dim, start, len));
  RT_CATCH
}
rt_error rt_select(int mode, rt_tensor a, int64_t dim, int64_t index, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(T(a).select(dim, index));
  RT_CATCH
}
rt_error rt_index_select(int mode, rt_tensor a, int64_t dim, rt_tensor idx, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(at::index_select(T(a), dim, T(idx)));
  RT_CATCH
}
rt_error rt_gather(int mode, rt_tensor a, int64_t dim, rt_tensor idx, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(at::gather(T(a), dim, T(idx)));
  RT_CATCH
}
rt_error rt_masked_select(int mode, rt_tensor a, rt_tensor m, rt_tensor* out) {
  RT_OP(mode)
  *out = wrap(at::masked_select(T(a), T(m)));
  RT_CATCH
}

rt_error rt_cat(int mode, rt_tensor* ts, int64_t n, int64_t dim, int stack, rt_tensor* out) {
  RT_OP(mode)
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (int64_t i = 0; i < n; i++) v.push_back(T(ts[i]));
  *out = wrap(stack ? at::stack(v, dim) : at::cat(v, dim));
  RT_CATCH
}

rt_error rt_split(int mode, rt_tensor a, int64_t split_size, int64_t chunks, int64_t dim,
                  rt_tensor* outs, int64_t cap, int64_t* n) {
  RT_OP(mode)
  std::vector<at::Tensor> v = split_size > 0 ? T(a).split(split_size, dim) : T(a).chunk(chunks, dim);
  if (static_cast<int64_t>(v.size()) > cap) throw std::invalid_argument("split: too many pieces");
  for (size_t i = 0; i < v.size(); i++) outs[i] = wrap(v[i]);
  *n = static_cast<int64_t>(v.size());
  RT_CATCH
}

/* ---- factories ---- */

rt_error rt_full(int kind, const int64_t* shape, int64_t n, double value, int dtype,
                 int dev_type, int dev_index, rt_tensor* out) {
  RT_TRY
  auto opts = at::TensorOptions().dtype(rt::to_scalar_type(dtype)).device(rt::to_device(dev_type, dev_index));
  auto s = ints(shape, n);
  at::Tensor r;
  switch (kind) {
    case 0: r = at::zeros(s, opts); break;
    case 1: r = at::ones(s, opts); break;
    case 2: r = at::full(s, value, opts); break;
    case 3: r = at::empty(s, opts); break;
    default: throw std::invalid_argument("unknown factory kind");
  }
  *out = wrap(std::move(r));
  RT_CATCH
}

rt_error rt_arange(double start, double end, double step, int dtype, int dev_type, int dev_index,
                   rt_tensor* out) {
  RT_TRY
  auto opts = at::TensorOptions().dtype(rt::to_scalar_type(dtype)).device(rt::to_device(dev_type, dev_index));
  *out = wrap(at::arange(start, end, step, opts));
  RT_CATCH
}

rt_error rt_linspace(double start, double end, int64_t steps, int dtype, int dev_type, int dev_index,
                     rt_tensor* out) {
  RT_TRY
  auto opts = at::TensorOptions().dtype(rt::to_scalar_type(dtype)).device(rt::to_device(dev_type, dev_index));
  *out = wrap(at::linspace(start, end, steps, opts));
  RT_CATCH
}

/* ---- autograd ---- */

rt_error rt_set_requires_grad(rt_tensor t, int on) {
  RT_TRY
  rt::T(t);
  t->t.set_requires_grad(on != 0);
  RT_CATCH
}

rt_error rt_backward(rt_tensor t, rt_tensor grad, int retain_graph) {
  RT_TRY
  c10::AutoGradMode g(true);
  at::Tensor go = grad ? T(grad) : at::Tensor();
  T(t).backward(go, retain_graph != 0);
  RT_CATCH
}

rt_error rt_grad(rt_tensor t, rt_tensor* out) {
  RT_TRY
  const at::Tensor& g = T(t).grad();
  *out = g.defined() ? wrap(g) : nullptr;
  RT_CATCH
}

rt_error rt_zero_grad(rt_tensor t, int set_to_none) {
  RT_TRY
  rt::T(t);
  at::Tensor& gr = t->t.mutable_grad();
  if (!gr.defined()) return nullptr;
  if (set_to_none) {
    gr.reset();
  } else {
    c10::NoGradGuard ng;
    gr.zero_();
  }
  RT_CATCH
}

/* ---- in-place ---- */

rt_error rt_inplace(int op, rt_tensor ah, rt_tensor bh) {
  RT_TRY
  c10::NoGradGuard ng;
  at::Tensor a = T(ah);
  const at::Tensor& b = T(bh);
  switch (op) {
    case RT_IADD: a.add_(b); break;
    case RT_ISUB: a.sub_(b); break;
    case RT_IMUL: a.mul_(b); break;
    case RT_IDIV: a.div_(b); break;
    case RT_ICOPY: a.copy_(b); break;
    default: throw std::invalid_argument("unknown in-place op " + std::to_string(op));
  }
  RT_CATCH
}

rt_error rt_inplace_scalar(int op, rt_tensor ah, double s) {
  RT_TRY
  c10::NoGradGuard ng;
  at::Tensor a = T(ah);
  switch (op) {
    case RT_IADD: a.add_(s); break;
    case RT_ISUB: a.sub_(s); break;
    case RT_IMUL: a.mul_(s); break;
    case RT_IDIV: a.div_(s); break;
    case RT_IFILL: a.fill_(s); break;
    case RT_IZERO: a.zero_(); break;
    default: throw std::invalid_argument("unknown in-place scalar op " + std::to_string(op));
  }
  RT_CATCH
}

rt_error rt_inplace_lerp(rt_tensor ah, rt_tensor bh, double w) {
  RT_TRY
  c10::NoGradGuard ng;
  at::Tensor a = T(ah);
  a.lerp_(T(bh), w);
  RT_CATCH
}

/* ---- optimizers ---- */

rt_error rt_adamw_step(rt_tensor* params, rt_tensor* m, rt_tensor* v, int64_t n, double lr,
                       double beta1, double beta2, double eps, double weight_decay, int64_t step) {
  RT_TRY
  c10::NoGradGuard ng;
  if (step < 1) throw std::invalid_argument("AdamW step must be >= 1");
  double bc1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  double bc2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  double step_size = lr / bc1;
  double bc2_sqrt = std::sqrt(bc2);
  for (int64_t i = 0; i < n; i++) {
    at::Tensor p = T(params[i]);
    const at::Tensor& g0 = p.grad();
    if (!g0.defined()) continue;
    at::Tensor ea = T(m[i]), eas = T(v[i]);
    if (ea.sizes() != p.sizes() || eas.sizes() != p.sizes())
      throw std::invalid_argument("AdamW state of parameter " + std::to_string(i) + " has shape " +
                                  c10::str(ea.sizes()) + ", parameter " + c10::str(p.sizes()));
    at::Tensor g = g0.to(ea.scalar_type());
    // decoupled weight decay (Loshchilov & Hutter), as torch.optim.AdamW
    if (weight_decay != 0) p.mul_(1.0 - lr * weight_decay);
    ea.lerp_(g, 1.0 - beta1);
    eas.mul_(beta2).addcmul_(g, g, 1.0 - beta2);
    at::Tensor denom = (eas.sqrt() / bc2_sqrt).add_(eps);
    at::Tensor upd = (ea / denom).mul_(step_size);
    p.sub_(upd.to(p.scalar_type()));
  }
  RT_CATCH
}

rt_error rt_clip_grad_norm(rt_tensor* params, int64_t n, double max_norm, double* norm) {
  RT_TRY
  c10::NoGradGuard ng;
  std::vector<at::Tensor> norms;
  for (int64_t i = 0; i < n; i++) {
    const at::Tensor& g = T(params[i]).grad();
    if (g.defined()) norms.push_back(at::norm(g.to(at::kFloat), 2).to(at::kCPU));
  }
  if (norms.empty()) {
    *norm = 0;
    return nullptr;
  }
  double total = at::norm(at::stack(norms), 2).item<double>();
  *norm = total;
  if (max_norm > 0 && total > max_norm && std::isfinite(total)) {
    double coef = max_norm / (total + 1e-6);
    for (int64_t i = 0; i < n; i++) {
      at::Tensor g = T(params[i]).grad();
      if (g.defined()) g.mul_(coef);
    }
  }
  RT_CATCH
}

rt_error rt_bench_add_loop(rt_tensor a, rt_tensor b, int64_t n, int64_t* ns) {
  RT_TRY
  c10::NoGradGuard ng;
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n; i++) {
    rt::ModeGuard guard(0);
    // same work as the Go path: op, a heap handle, and its release
    rt_tensor h = wrap(at::add(T(a), T(b)));
    rt_free(h);
  }
  auto t1 = std::chrono::steady_clock::now();
  *ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  RT_CATCH
}

}  // extern "C"
