/*
 * radtorch.h: the C interface of the RAD libtorch shim.
 *
 * Every function is extern "C", takes and returns opaque handles, and never
 * lets a C++ exception escape: a function that can fail returns NULL on
 * success or a malloc'd error message (free it with rt_free_error).
 * dtype and device codes are the shim's own (RT_* below), never libtorch's
 * enum values, so the Go side does not depend on libtorch's headers.
 *
 * Thread-local libtorch state (grad mode, inference mode, autocast) is set
 * inside each call from its `mode` argument, so a call is independent of the
 * OS thread it happens to run on.
 */
#ifndef RADTORCH_H
#define RADTORCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a signature or a code below changes. */
#define RT_ABI_VERSION 13

typedef struct rt_tensor_s* rt_tensor;
typedef struct rt_module_s* rt_module;
typedef struct rt_generator_s* rt_generator;
typedef struct rt_pg_s* rt_pg;
typedef char* rt_error;

/* dtype codes */
enum {
  RT_F32 = 0, RT_F64 = 1, RT_F16 = 2, RT_BF16 = 3,
  RT_I64 = 4, RT_I32 = 5, RT_U8 = 6, RT_BOOL = 7, RT_I8 = 8, RT_I16 = 9
};
/* device type codes */
enum { RT_CPU = 0, RT_CUDA = 1 };

/* mode bits passed to every op */
enum {
  RT_MODE_GRAD = 1,           /* autograd records (otherwise no-grad) */
  RT_MODE_INFERENCE = 2,      /* c10::InferenceMode */
  RT_MODE_AUTOCAST_F16 = 4,   /* autocast to float16 (CUDA) */
  RT_MODE_AUTOCAST_BF16 = 8   /* autocast to bfloat16 (CUDA and CPU) */
};

/* unary ops: rt_unary */
enum {
  RT_NEG = 0, RT_ABS, RT_SQRT, RT_RSQRT, RT_EXP, RT_LOG, RT_LOG1P, RT_EXPM1,
  RT_SIN, RT_COS, RT_TANH, RT_ERF, RT_SIGN, RT_SILU, RT_RELU, RT_SIGMOID,
  RT_GELU, RT_FLOOR, RT_CEIL, RT_ROUND, RT_ISNAN, RT_ISFINITE, RT_LOGICAL_NOT,
  RT_SQUARE, RT_RECIPROCAL, RT_CONTIGUOUS, RT_CLONE, RT_DETACH, RT_ISINF,
  RT_CONTIGUOUS_CL,  /* contiguous in channels-last (NHWC) memory format */
  RT_SILU_INPLACE,   /* silu_: the result is a new handle on a's storage */
  RT_UNARY_COUNT
};
/* binary ops: rt_binary (tensor, tensor) and rt_binary_scalar (tensor, double) */
enum {
  RT_ADD = 0, RT_SUB, RT_MUL, RT_DIV, RT_POW, RT_MAXIMUM, RT_MINIMUM,
  RT_EQ, RT_NE, RT_LT, RT_LE, RT_GT, RT_GE, RT_LOGICAL_AND, RT_LOGICAL_OR,
  RT_MATMUL, RT_BMM, RT_RSUB, RT_RDIV, RT_ATAN2, RT_REMAINDER,
  RT_ADD_INPLACE,    /* a.add_(b): the result is a new handle on a's storage */
  RT_BINARY_COUNT
};
/* reductions: rt_reduce */
enum {
  RT_SUM = 0, RT_MEAN, RT_AMAX, RT_AMIN, RT_ALL, RT_ANY, RT_PROD, RT_NORM2,
  RT_VAR, RT_STD, RT_ARGMAX, RT_ARGMIN, RT_REDUCE_COUNT
};
/* in-place ops: rt_inplace (tensor), rt_inplace_scalar (double) */
enum {
  RT_IADD = 0, RT_ISUB, RT_IMUL, RT_IDIV, RT_ICOPY, RT_IFILL, RT_IZERO,
  RT_INPLACE_COUNT
};
/* interpolate modes */
enum { RT_NEAREST = 0, RT_BILINEAR = 1, RT_BICUBIC = 2, RT_NEAREST_EXACT = 3 };
/* pad modes */
enum { RT_PAD_CONSTANT = 0, RT_PAD_REFLECT = 1, RT_PAD_REPLICATE = 2 };

void rt_free_error(rt_error e);
int rt_abi_version(void);
/* libtorch version, e.g. "1.13.0" (static string) */
const char* rt_torch_version(void);
/* number of live tensor handles (made and not yet freed) */
int64_t rt_live_tensors(void);
int64_t rt_live_modules(void);

/* ---- operator profiler (libtorch's legacy CPU profiler; thread-local:
   start, the ops, and stop on one OS thread) ---- */
rt_error rt_profile_start(int record_shapes);
/* *out: malloc'd lines "name\tcalls\ttotal_us\tself_us\n" (free with rt_free_error) */
rt_error rt_profile_stop(char** out);

/* ---- runtime ---- */
int rt_get_num_threads(void);
rt_error rt_set_num_threads(int n);
/* OpenBLAS's own thread count (openblas_get_num_threads), or -1 when the
   loaded BLAS is not OpenBLAS or is its serial build */
int rt_blas_threads(void);
/* glibc's M_ARENA_MAX (mallopt); returns 1 on success, 0 where unsupported */
int rt_set_malloc_arenas(int n);
rt_error rt_manual_seed(uint64_t seed);
int rt_cuda_is_available(void);
int rt_cuda_device_count(void);
rt_error rt_cuda_synchronize(int device);
/* device name into buf (NUL-terminated, truncated to len) */
rt_error rt_cuda_device_name(int device, char* buf, size_t len);
/* allocated/reserved/peak bytes of the CUDA caching allocator */
rt_error rt_cuda_memory_stats(int device, int64_t* allocated, int64_t* reserved,
                              int64_t* peak_allocated);
rt_error rt_cuda_empty_cache(void);
/* allow TF32 in cuBLAS matmuls and cuDNN convolutions (process-wide) */
void rt_set_allow_tf32(int on);
int rt_get_allow_tf32(void);

/* ---- tensor handles and metadata ---- */
void rt_free(rt_tensor t);
void rt_free_many(rt_tensor* ts, int64_t n);
int64_t rt_dim(rt_tensor t);
/* copies min(dim, cap) sizes into out; returns dim */
int64_t rt_shape(rt_tensor t, int64_t* out, int64_t cap);
int64_t rt_numel(rt_tensor t);
int rt_dtype(rt_tensor t);
void rt_device(rt_tensor t, int* type, int* index);
int rt_is_contiguous(rt_tensor t);
int rt_defined(rt_tensor t);
int rt_requires_grad(rt_tensor t);
/* address of the data of a defined tensor (for identity checks) */
const void* rt_data_ptr(rt_tensor t);

/* new tensor from host memory (copied): nbytes must equal numel*elemsize */
rt_error rt_from_host(const void* data, size_t nbytes, int dtype, const int64_t* shape,
                      int64_t ndim, int dev_type, int dev_index, rt_tensor* out);
/* copy a tensor's elements (as its own dtype, C order) into host memory */
rt_error rt_to_host(rt_tensor t, void* dst, size_t nbytes);
rt_error rt_item(rt_tensor t, double* out);
rt_error rt_to(int mode, rt_tensor t, int dtype, int dev_type, int dev_index, rt_tensor* out);

/* ---- elementwise and reductions ---- */
rt_error rt_unary(int mode, int op, rt_tensor a, rt_tensor* out);
rt_error rt_binary(int mode, int op, rt_tensor a, rt_tensor b, rt_tensor* out);
rt_error rt_binary_scalar(int mode, int op, rt_tensor a, double s, rt_tensor* out);
/* dims == NULL (ndims 0) reduces over all elements */
rt_error rt_reduce(int mode, int op, rt_tensor a, const int64_t* dims, int64_t ndims,
                   int keepdim, rt_tensor* out);
/* values and indices along one dim (max if is_max, else min) */
rt_error rt_max_min_dim(int mode, int is_max, rt_tensor a, int64_t dim, int keepdim,
                        rt_tensor* values, rt_tensor* indices);
rt_error rt_clamp(int mode, rt_tensor a, int has_min, double min, int has_max, double max,
                  rt_tensor* out);
rt_error rt_where(int mode, rt_tensor cond, rt_tensor a, rt_tensor b, rt_tensor* out);
rt_error rt_masked_fill(int mode, rt_tensor a, rt_tensor mask, double v, rt_tensor* out);
/* self + value * t1 * t2 (broadcasting), in one pass */
rt_error rt_addcmul(int mode, rt_tensor self, rt_tensor t1, rt_tensor t2, double value, rt_tensor* out);
/* out = n * (a0 + ind * a1) + b0 + ind * b1 with n [B,C,H,W], ind [B,1,H,W]
 * and a0, a1, b0, b1 [B,C,1,1]: one pass on CPU float32 without autograd,
 * composed ops otherwise (RAD's per-pixel scale-shift of two levels) */
rt_error rt_modulate2(int mode, rt_tensor n, rt_tensor ind, rt_tensor a0, rt_tensor a1, rt_tensor b0,
                      rt_tensor b1, rt_tensor* out);
rt_error rt_lerp(int mode, rt_tensor a, rt_tensor b, double w, rt_tensor* out);
rt_error rt_cumsum(int mode, rt_tensor a, int64_t dim, rt_tensor* out);
rt_error rt_softmax(int mode, rt_tensor a, int64_t dim, int log, rt_tensor* out);
/* sorted distinct values (1-D) and, for every element, the index of its value */
rt_error rt_unique(int mode, rt_tensor a, rt_tensor* values, rt_tensor* inverse);
/* indices into the sorted 1-D table where values would be inserted (int64) */
rt_error rt_searchsorted(int mode, rt_tensor sorted, rt_tensor values, int right, rt_tensor* out);

/* ---- linear algebra and nn ---- */
rt_error rt_baddbmm(int mode, rt_tensor self, rt_tensor a, rt_tensor b, double beta,
                    double alpha, rt_tensor* out);
rt_error rt_einsum(int mode, const char* eq, rt_tensor* ts, int64_t n, rt_tensor* out);
/* b may be NULL */
rt_error rt_linear(int mode, rt_tensor x, rt_tensor w, rt_tensor b, rt_tensor* out);
/* nd = 1 or 2 (or 3); stride, padding, dilation have nd entries */
rt_error rt_conv(int mode, int nd, rt_tensor x, rt_tensor w, rt_tensor b,
                 const int64_t* stride, const int64_t* padding, const int64_t* dilation,
                 int64_t groups, rt_tensor* out);
rt_error rt_group_norm(int mode, rt_tensor x, int64_t groups, rt_tensor w, rt_tensor b,
                       double eps, rt_tensor* out);
rt_error rt_layer_norm(int mode, rt_tensor x, const int64_t* shape, int64_t nshape,
                       rt_tensor w, rt_tensor b, double eps, rt_tensor* out);
rt_error rt_avg_pool2d(int mode, rt_tensor x, int64_t kh, int64_t kw, int64_t sh,
                       int64_t sw, int64_t ph, int64_t pw, rt_tensor* out);
/* size given (oh, ow > 0) or scale factors (sh, sw > 0) */
rt_error rt_interpolate2d(int mode, rt_tensor x, int imode, int64_t oh, int64_t ow,
                          double sh, double sw, int align_corners, rt_tensor* out);
rt_error rt_pad(int mode, rt_tensor x, const int64_t* pads, int64_t npads, int pmode,
                double value, rt_tensor* out);
rt_error rt_dropout(int mode, rt_tensor x, double p, int train, rt_generator g,
                    rt_tensor* out);

/* ---- shapes and indexing ---- */
rt_error rt_reshape(int mode, rt_tensor a, const int64_t* shape, int64_t n, rt_tensor* out);
rt_error rt_view(int mode, rt_tensor a, const int64_t* shape, int64_t n, rt_tensor* out);
rt_error rt_expand(int mode, rt_tensor a, const int64_t* shape, int64_t n, rt_tensor* out);
rt_error rt_permute(int mode, rt_tensor a, const int64_t* dims, int64_t n, rt_tensor* out);
rt_error rt_repeat(int mode, rt_tensor a, const int64_t* reps, int64_t n, rt_tensor* out);
rt_error rt_flip(int mode, rt_tensor a, const int64_t* dims, int64_t n, rt_tensor* out);
rt_error rt_transpose(int mode, rt_tensor a, int64_t d0, int64_t d1, rt_tensor* out);
rt_error rt_unsqueeze(int mode, rt_tensor a, int64_t dim, rt_tensor* out);
/* dim = INT64_MIN squeezes every size-1 dim */
rt_error rt_squeeze(int mode, rt_tensor a, int64_t dim, rt_tensor* out);
rt_error rt_flatten(int mode, rt_tensor a, int64_t start, int64_t end, rt_tensor* out);
rt_error rt_narrow(int mode, rt_tensor a, int64_t dim, int64_t start, int64_t len,
                   rt_tensor* out);
rt_error rt_select(int mode, rt_tensor a, int64_t dim, int64_t index, rt_tensor* out);
rt_error rt_index_select(int mode, rt_tensor a, int64_t dim, rt_tensor idx, rt_tensor* out);
rt_error rt_gather(int mode, rt_tensor a, int64_t dim, rt_tensor idx, rt_tensor* out);
rt_error rt_masked_select(int mode, rt_tensor a, rt_tensor mask, rt_tensor* out);
rt_error rt_cat(int mode, rt_tensor* ts, int64_t n, int64_t dim, int stack, rt_tensor* out);
/* chunks (split_size <= 0, count = chunks) or split by size; outs has room for cap handles,
 * *n receives the number of pieces */
rt_error rt_split(int mode, rt_tensor a, int64_t split_size, int64_t chunks, int64_t dim,
                  rt_tensor* outs, int64_t cap, int64_t* n);

/* ---- factories ---- */
/* kind: 0 zeros, 1 ones, 2 full(value), 3 empty */
rt_error rt_full(int kind, const int64_t* shape, int64_t n, double value, int dtype,
                 int dev_type, int dev_index, rt_tensor* out);
rt_error rt_arange(double start, double end, double step, int dtype, int dev_type,
                   int dev_index, rt_tensor* out);
rt_error rt_linspace(double start, double end, int64_t steps, int dtype, int dev_type,
                     int dev_index, rt_tensor* out);

/* ---- random numbers from an explicit generator (CPU stream, then moved) ---- */
rt_error rt_generator_new(uint64_t seed, rt_generator* out);
void rt_generator_free(rt_generator g);
/* state as a uint8 tensor */
rt_error rt_generator_get_state(rt_generator g, rt_tensor* out);
rt_error rt_generator_set_state(rt_generator g, rt_tensor state);
/* kind: 0 randn (normal with mean a, std b), 1 rand (uniform [a, b)),
 * 2 randint [a, b) */
rt_error rt_random(rt_generator g, int kind, const int64_t* shape, int64_t n, double a,
                   double b, int dtype, int dev_type, int dev_index, rt_tensor* out);

/* ---- autograd ---- */
rt_error rt_set_requires_grad(rt_tensor t, int on);
/* grad may be NULL (scalar outputs) */
rt_error rt_backward(rt_tensor t, rt_tensor grad, int retain_graph);
/* *out is NULL when the tensor has no gradient */
rt_error rt_grad(rt_tensor t, rt_tensor* out);
/* set_to_none: drop the gradient; otherwise zero it in place */
rt_error rt_zero_grad(rt_tensor t, int set_to_none);

/* ---- in-place updates (no autograd recording) ---- */
rt_error rt_inplace(int op, rt_tensor a, rt_tensor b);
rt_error rt_inplace_scalar(int op, rt_tensor a, double s);
/* a += w * (b - a) */
rt_error rt_inplace_lerp(rt_tensor a, rt_tensor b, double w);

/* ---- optimizers ---- */
/* One AdamW step (decoupled weight decay, bias correction) over n parameters.
 * exp_avg and exp_avg_sq are the per-parameter state tensors (same shape,
 * float32 or the parameter's dtype). Parameters without a gradient are
 * skipped. step is the 1-based step number after this update. */
rt_error rt_adamw_step(rt_tensor* params, rt_tensor* exp_avg, rt_tensor* exp_avg_sq,
                       int64_t n, double lr, double beta1, double beta2, double eps,
                       double weight_decay, int64_t step);
/* Global L2 norm of the gradients (before clipping) into *norm; if max_norm > 0
 * and the norm exceeds it, scales the gradients by max_norm/(norm+1e-6). */
rt_error rt_clip_grad_norm(rt_tensor* params, int64_t n, double max_norm, double* norm);

/* ---- TorchScript ---- */
rt_error rt_module_load(const char* path, int dev_type, int dev_index, rt_module* out);
void rt_module_free(rt_module m);
/* named parameters (buffers too if with_buffers): *names is a malloc'd array of
 * malloc'd strings, *ts a malloc'd array of handles; free with rt_free_names
 * and free() */
rt_error rt_module_named(rt_module m, int with_buffers, char*** names, rt_tensor** ts,
                         int64_t* n);
void rt_free_names(char** names, int64_t n);
void rt_free_ptr(void* p);
/* forward with tensor inputs; the output must be a tensor */
rt_error rt_module_forward(int mode, rt_module m, rt_tensor* inputs, int64_t n,
                           rt_tensor* out);
/* forward whose output is a tensor or (nested) tuples/lists of tensors: *outs
 * is a malloc'd array of the *nout tensors in order (free it with rt_free_ptr) */
rt_error rt_module_forward_multi(int mode, rt_module m, rt_tensor* inputs, int64_t n,
                                 rt_tensor** outs, int64_t* nout);

/* ---- serialization ---- */
/* torch.load-compatible bytes of a dict {names[i]: ts[i]}; *buf is malloc'd */
rt_error rt_pickle_save(const char** names, rt_tensor* ts, int64_t n, char** buf,
                        size_t* len);

/* ---- benchmark helper: n iterations of out = a + b inside C++; ns in total ---- */
rt_error rt_bench_add_loop(rt_tensor a, rt_tensor b, int64_t n, int64_t* ns);


/* ---- c10d: data-parallel process groups (dist.cc.h) ----
 * A process group is a TCPStore rendezvous (rank 0 hosts the store at
 * host:port) and a c10d backend over it: RT_DIST_GLOO (CPU tensors) or
 * RT_DIST_NCCL (CUDA tensors; only in a CUDA build with NCCL). Every
 * collective waits at most timeout_ms for its peers and then fails: a dead
 * or missing peer is an error, never a hang. After a failed collective the
 * group is broken: every later call fails at once. */
enum { RT_DIST_GLOO = 0, RT_DIST_NCCL = 1 };
/* bit 0: Gloo compiled in; bit 1: NCCL compiled in */
int rt_dist_backends(void);
/* iface: Gloo's network interface ("" = the address that reaches host:
 * loopback for a loopback host, else this machine's hostname) */
rt_error rt_dist_init(const char* host, int port, int rank, int world, int backend,
                      int64_t timeout_ms, const char* iface, rt_pg* out);
void rt_dist_free(rt_pg pg);
/* ts[i] = scale * sum over ranks of ts[i], in place; the n tensors (one
 * dtype and device) travel as one flat buffer, one collective call */
rt_error rt_dist_allreduce(rt_pg pg, rt_tensor* ts, int64_t n, double scale);
/* ts[i] = root's ts[i], in place, one flat buffer */
rt_error rt_dist_broadcast(rt_pg pg, rt_tensor* ts, int64_t n, int root);
rt_error rt_dist_barrier(rt_pg pg);

#ifdef __cplusplus
}
#endif
#endif
