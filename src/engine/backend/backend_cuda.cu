// backend_cuda.cu - the "cuda" backend: pt_backend_ops over device memory.
// Kernels live in cuda/kernels.cuh and cuda/attention.cuh; this file owns the
// stream, the cuBLAS handle, the device buffers and error bookkeeping.
//
// Everything runs on one stream per backend; ops return at once. A failed
// CUDA or cuBLAS call is recorded (the first one is kept, as the message
// "cuda <op>: <reason>"), never printed; check() synchronises and returns it.
//
// Row-major products through column-major cuBLAS: a row-major (r, c) matrix
// with row stride ld is the column-major (c, r) matrix with the same ld, so a
// row-major Y = X @ W^T is computed as the column-major Y^T = W @ X^T; each
// product below spells out its mapping.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <pthread.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "backend/backend.h"
}
#include "cuda/cuda_compat.cuh"
// The kernel headers define their kernels in place; an anonymous namespace
// gives them internal linkage here, so a test that compiles the same headers
// for the emulator still links against the engine.
namespace {
#include "cuda/attention.cuh"
#include "cuda/kernels.cuh"
#include "cuda/dequant.cuh"
}  // namespace

#define CU_ROPE_TABLES 4  // (theta, HD) tables kept on the device; models use one or two

typedef struct {
    float theta;
    int hd;          // 0: slot empty
    float *table;    // (cap) device floats, inv_freq (HD/2)
    size_t cap;
} cu_rope_table;

typedef struct {
    void *p;
    size_t bytes;
} cu_block;  // a buffer handed out by alloc

// What a backend and its forks share: the device's account of bytes held
// (alloc buffers and every lane's scratch) and the live alloc buffers, so
// that a buffer one lane allocates can be freed by another.
typedef struct {
    pthread_mutex_t mu;
    cu_block *blocks;          // (nblocks) live alloc buffers
    size_t nblocks, blocks_cap;
    size_t held, peak;         // device bytes held now / at most
    int refs;                  // the root and its live forks
} cu_dev;

typedef struct {
    cu_dev *dev;               // shared with forks
    cudaStream_t stream;
    cublasHandle_t blas;
    uint16_t *act16;           // (act16_cap) bf16 scratch: the activation operand of *_w products
    size_t act16_cap;
    float *stage;              // (stage_cap) float32 staging of upload_weight
    size_t stage_cap;
    float *attn;               // (attn_cap) attention scratch
    size_t attn_cap;
    double *partials;          // (PTK_SUMSQ_MAX_BLOCKS) sumsq block sums
    cu_rope_table rope[CU_ROPE_TABLES];
    int rope_next;             // slot the next new table replaces
    pt_status err_code;        // first error, PT_OK while none
    char err_msg[PT_ERR_MSG_LEN];
} cu_ctx;

static cu_ctx *cu(pt_backend *be) { return (cu_ctx *)be->ctx; }

// ---- error bookkeeping: keep the first failure ----

static void cu_fail(cu_ctx *c, pt_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cu_fail(cu_ctx *c, pt_status code, const char *fmt, ...) {
    if (c->err_code != PT_OK) return;
    c->err_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err_msg, sizeof c->err_msg, fmt, ap);
    va_end(ap);
}

// 1 when e is success; otherwise records it against op and returns 0
static int cu_ok(cu_ctx *c, cudaError_t e, const char *op) {
    if (e == cudaSuccess) return 1;
    cu_fail(c, e == cudaErrorMemoryAllocation ? PT_ERR_NOMEM : PT_ERR_INTERNAL, "cuda %s: %s", op,
            cudaGetErrorString(e));
    return 0;
}
static int cu_blas_ok(cu_ctx *c, cublasStatus_t st, const char *op) {
    if (st == CUBLAS_STATUS_SUCCESS) return 1;
    cu_fail(c, st == CUBLAS_STATUS_ALLOC_FAILED ? PT_ERR_NOMEM : PT_ERR_INTERNAL, "cuda %s: cuBLAS %s", op,
            cublasGetStatusString(st));
    return 0;
}
// after a kernel launch: a bad configuration shows up here, a fault at check
static void cu_launched(cu_ctx *c, const char *op) { cu_ok(c, cudaGetLastError(), op); }

// Frees a device buffer the stream may still be reading.
static void cu_release(cu_ctx *c, void *p, const char *op) {
    if (!p) return;
    cu_ok(c, cudaStreamSynchronize(c->stream), op);
    cu_ok(c, cudaFree(p), op);
}

// Device bytes held: add and sub, tracking the peak (every lane's).
static void cu_held(cu_ctx *c, size_t add, size_t sub) {
    cu_dev *d = c->dev;
    pthread_mutex_lock(&d->mu);
    d->held = d->held + add - sub;
    if (d->held > d->peak) d->peak = d->held;
    pthread_mutex_unlock(&d->mu);
}

// Grows *buf to at least n elements of elem bytes (grow-only; contents are
// not kept). Returns 0, or -1 when cudaMalloc fails (nothing recorded: the
// caller decides whether that is an error).

static int cu_grow(cu_ctx *c, void **buf, size_t *cap, size_t n, size_t elem, const char *op) {
    if (n <= *cap && *buf) return 0;
    cu_release(c, *buf, op);
    cu_held(c, 0, *buf ? *cap * elem : 0);
    *buf = NULL;
    *cap = 0;
    void *p = NULL;
    if (cudaMalloc(&p, n * elem != 0 ? n * elem : 1) != cudaSuccess) {
        (void)cudaGetLastError();  // an allocation failure is not sticky; clear it
        return -1;
    }
    *buf = p;
    *cap = n;
    cu_held(c, n * elem, 0);
    return 0;
}

// The bf16 scratch for n elements, grown on demand; NULL (recorded) on failure.
static uint16_t *cu_act16(cu_ctx *c, size_t n, const char *op) {
    if (cu_grow(c, (void **)&c->act16, &c->act16_cap, n, sizeof(uint16_t), op)) {
        cu_fail(c, PT_ERR_NOMEM, "cuda %s: cannot allocate %zu bytes of bf16 scratch", op, n * sizeof(uint16_t));
        return NULL;
    }
    return c->act16;
}

// ---- memory ----

static void *cuda_alloc(pt_backend *be, size_t bytes) {
    cu_ctx *c = cu(be);
    cu_dev *d = c->dev;
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        (void)cudaGetLastError();
        return NULL;  // the caller reports it
    }
    if (!cu_ok(c, cudaMemsetAsync(p, 0, bytes, c->stream), "alloc")) {
        cudaFree(p);
        return NULL;
    }
    pthread_mutex_lock(&d->mu);
    if (d->nblocks == d->blocks_cap) {
        size_t cap = d->blocks_cap ? 2 * d->blocks_cap : 64;
        cu_block *b = (cu_block *)realloc(d->blocks, cap * sizeof *b);
        if (!b) {
            pthread_mutex_unlock(&d->mu);
            cudaFree(p);
            return NULL;
        }
        d->blocks = b;
        d->blocks_cap = cap;
    }
    d->blocks[d->nblocks].p = p;
    d->blocks[d->nblocks].bytes = bytes;
    d->nblocks++;
    pthread_mutex_unlock(&d->mu);
    cu_held(c, bytes, 0);
    return p;
}

// cudaFree waits for the device, so a buffer another lane's stream still
// reads is safe to free here too.
static void cuda_free(pt_backend *be, void *p) {
    cu_ctx *c = cu(be);
    cu_dev *d = c->dev;
    if (!p) return;
    size_t bytes = 0;
    pthread_mutex_lock(&d->mu);
    for (size_t i = d->nblocks; i-- > 0;)  // recent buffers are freed first, usually
        if (d->blocks[i].p == p) {
            bytes = d->blocks[i].bytes;
            d->blocks[i] = d->blocks[--d->nblocks];
            break;
        }
    pthread_mutex_unlock(&d->mu);
    cu_held(c, 0, bytes);
    cu_release(c, p, "free");
}

// Pageable host memory: the stream is synchronised before returning, so the
// caller may reuse src at once.
static void cuda_upload(pt_backend *be, void *dst, const void *src, size_t bytes) {
    cu_ctx *c = cu(be);
    if (!bytes) return;
    if (cu_ok(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream), "upload"))
        cu_ok(c, cudaStreamSynchronize(c->stream), "upload");
}

static void cuda_download(pt_backend *be, void *dst, const void *src, size_t bytes) {
    cu_ctx *c = cu(be);
    if (!bytes) return;
    if (!cu_ok(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream), "download") ||
        !cu_ok(c, cudaStreamSynchronize(c->stream), "download"))
        memset(dst, 0, bytes);  // defined contents; check() reports the failure
}

static void cuda_synchronize(pt_backend *be) {
    cu_ctx *c = cu(be);
    cu_ok(c, cudaStreamSynchronize(c->stream), "synchronize");
}

static int cuda_check(pt_backend *be, pt_err *err) {
    cu_ctx *c = cu(be);
    cu_ok(c, cudaStreamSynchronize(c->stream), "check");
    cu_ok(c, cudaGetLastError(), "check");
    if (c->err_code != PT_OK) return pt_fail(err, c->err_code, "%s", c->err_msg);
    return PT_OK;
}

static int cuda_supports(pt_backend *, pt_op op) { return op != PT_OP_MATMUL_Q; }

// dst (n) bf16 from host float32 src (n), through a float32 staging buffer
// of up to 4M floats: copy a chunk, convert it on the device, next chunk
// (stream order keeps the staging buffer safe).
static void cuda_upload_weight(pt_backend *be, void *dst, const float *src, size_t n) {
    cu_ctx *c = cu(be);
    const size_t chunk = (size_t)1 << 22;
    if (!n) return;
    if (cu_grow(c, (void **)&c->stage, &c->stage_cap, n < chunk ? n : chunk, sizeof(float), "upload_weight")) {
        cu_fail(c, PT_ERR_NOMEM, "cuda upload_weight: cannot allocate the staging buffer");
        return;
    }
    uint16_t *out = (uint16_t *)dst;
    for (size_t off = 0; off < n; off += c->stage_cap) {
        size_t m = n - off < c->stage_cap ? n - off : c->stage_cap;
        if (!cu_ok(c, cudaMemcpyAsync(c->stage, src + off, m * sizeof(float), cudaMemcpyHostToDevice, c->stream),
                   "upload_weight"))
            return;
        ptk_f32_to_bf16(c->stream, out + off, c->stage, m);
        cu_launched(c, "upload_weight");
    }
    cu_ok(c, cudaStreamSynchronize(c->stream), "upload_weight");
}

// dst (rows, cols) bf16 from GGUF blocks, through the same staging buffer
// as upload_weight (bytes this time), a whole number of rows at a time.
static void cuda_upload_weight_q(pt_backend *be, void *dst, const void *blocks, int wtype, int rows, int cols,
                                 size_t row_bytes) {
    cu_ctx *c = cu(be);
    size_t bpr = (size_t)cols / 32, bb = (size_t)ptk_qblock_bytes(wtype);
    if (rows <= 0 || cols <= 0) return;
    if (!bb || cols % 32 || row_bytes != bpr * bb) {
        cu_fail(c, PT_ERR_UNSUPPORTED, "cuda upload_weight_q: type %d with %d columns in rows of %zu bytes", wtype, cols,
                row_bytes);
        return;
    }
    const size_t chunk = (size_t)1 << 24;   // bytes staged at a time (16 MiB)
    size_t per = chunk / row_bytes ? chunk / row_bytes : 1;   // rows per chunk
    if (cu_grow(c, (void **)&c->stage, &c->stage_cap, (per * row_bytes + 3) / 4, sizeof(float), "upload_weight_q")) {
        cu_fail(c, PT_ERR_NOMEM, "cuda upload_weight_q: cannot allocate the staging buffer");
        return;
    }
    per = c->stage_cap * sizeof(float) / row_bytes;
    uint16_t *out = (uint16_t *)dst;
    for (size_t r0 = 0; r0 < (size_t)rows; r0 += per) {
        size_t nr = (size_t)rows - r0 < per ? (size_t)rows - r0 : per;
        if (!cu_ok(c, cudaMemcpyAsync(c->stage, (const uint8_t *)blocks + r0 * row_bytes, nr * row_bytes,
                                      cudaMemcpyHostToDevice, c->stream), "upload_weight_q"))
            return;
        ptk_dequant_bf16(c->stream, out + r0 * (size_t)cols, (const uint8_t *)c->stage, wtype, nr * bpr);
        cu_launched(c, "upload_weight_q");
    }
    cu_ok(c, cudaStreamSynchronize(c->stream), "upload_weight_q");
}

static void cuda_zero(pt_backend *be, void *p, size_t bytes) {
    cu_ctx *c = cu(be);
    if (bytes) cu_ok(c, cudaMemsetAsync(p, 0, bytes, c->stream), "zero");
}

static void cuda_copy(pt_backend *be, void *dst, const void *src, size_t bytes) {
    cu_ctx *c = cu(be);
    if (bytes) cu_ok(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream), "copy");
}

static size_t cuda_mem_available(pt_backend *be) {
    cu_ctx *c = cu(be);
    size_t free_b = 0, total_b = 0;
    if (!cu_ok(c, cudaMemGetInfo(&free_b, &total_b), "mem_available")) return 0;
    return free_b;
}

static size_t cuda_mem_held(pt_backend *be) {
    cu_dev *d = cu(be)->dev;
    pthread_mutex_lock(&d->mu);
    size_t n = d->held;
    pthread_mutex_unlock(&d->mu);
    return n;
}
static size_t cuda_mem_peak(pt_backend *be) {
    cu_dev *d = cu(be)->dev;
    pthread_mutex_lock(&d->mu);
    size_t n = d->peak;
    pthread_mutex_unlock(&d->mu);
    return n;
}
static void cuda_mem_reset_peak(pt_backend *be) {
    cu_dev *d = cu(be)->dev;
    pthread_mutex_lock(&d->mu);
    d->peak = d->held;
    pthread_mutex_unlock(&d->mu);
}

static void cuda_describe(pt_backend *be, char *buf, size_t cap) {
    (void)be;
    cudaDeviceProp p;
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(buf, cap, "cuda (device properties unreadable)");
        return;
    }
    snprintf(buf, cap, "cuda: %s, %.1f GiB, compute capability %d.%d, %d SMs", p.name, p.totalGlobalMem / 1073741824.0,
             p.major, p.minor, p.multiProcessorCount);
}

static int cuda_reserve(pt_backend *be, size_t max_act_floats) {
    cu_ctx *c = cu(be);
    return cu_grow(c, (void **)&c->act16, &c->act16_cap, max_act_floats, sizeof(uint16_t), "reserve");
}

// ---- products ----

// out (N, M) = beta * out + bias, for products with nothing to sum (K = 0)
static void cu_empty_product(cu_ctx *c, float *out, const float *bias, int N, int M, float beta, const char *op) {
    size_t n = (size_t)N * (size_t)M;
    if (beta == 0.0f)
        cu_ok(c, cudaMemsetAsync(out, 0, n * sizeof(float), c->stream), op);
    else if (beta != 1.0f)
        ptk_scale(c->stream, out, n, beta);
    if (bias) ptk_bias_add(c->stream, out, bias, N, M);
    cu_launched(c, op);
}

// out (N, M) = alpha * inp (N, K) @ w (M, K)^T + beta * out + bias, float32.
// Column-major: out^T (M, N), ld M = op_T(w: (K, M), ld K) @ inp^T (K, N), ld K.
// Default math mode: true float32, no TF32.
static void cuda_matmul(pt_backend *be, float *out, const float *inp, const float *w, const float *bias, int N,
                        int K, int M, float alpha, float beta) {
    cu_ctx *c = cu(be);
    if (N <= 0 || M <= 0) return;
    if (K <= 0) return cu_empty_product(c, out, bias, N, M, beta, "matmul");
    cu_blas_ok(c, cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, M, N, K, &alpha, w, K, inp, K, &beta, out, M),
               "matmul");
    if (bias) {
        ptk_bias_add(c->stream, out, bias, N, M);
        cu_launched(c, "matmul");
    }
}

// As matmul with w (M, K) bf16: inp goes to bf16 scratch, then bf16 x bf16
// products summed in float32 on the tensor cores, out float32.
static void cuda_matmul_w(pt_backend *be, float *out, const float *inp, const void *w, const float *bias, int N,
                          int K, int M, float alpha, float beta) {
    cu_ctx *c = cu(be);
    if (N <= 0 || M <= 0) return;
    if (K <= 0) return cu_empty_product(c, out, bias, N, M, beta, "matmul_w");
    uint16_t *a = cu_act16(c, (size_t)N * (size_t)K, "matmul_w");
    if (!a) return;
    ptk_f32_to_bf16(c->stream, a, inp, (size_t)N * (size_t)K);
    cu_launched(c, "matmul_w");
    cu_blas_ok(c,
               cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, M, N, K, &alpha, w, CUDA_R_16BF, K, a, CUDA_R_16BF, K,
                            &beta, out, CUDA_R_32F, M, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "matmul_w");
    if (bias) {
        ptk_bias_add(c->stream, out, bias, N, M);
        cu_launched(c, "matmul_w");
    }
}

// dinp (N, K) = dout (N, M) @ w (M, K) + beta * dinp, w bf16, dout via bf16 scratch.
// Column-major: dinp^T (K, N), ld K = (w: (K, M), ld K) @ dout^T (M, N), ld M.
static void cuda_matmul_w_backward(pt_backend *be, float *dinp, const float *dout, const void *w, int N, int K,
                                   int M, float beta) {
    cu_ctx *c = cu(be);
    const float one = 1.0f;
    if (N <= 0 || K <= 0) return;
    if (M <= 0) return cu_empty_product(c, dinp, NULL, N, K, beta, "matmul_w_backward");
    uint16_t *d = cu_act16(c, (size_t)N * (size_t)M, "matmul_w_backward");
    if (!d) return;
    ptk_f32_to_bf16(c->stream, d, dout, (size_t)N * (size_t)M);
    cu_launched(c, "matmul_w_backward");
    cu_blas_ok(c,
               cublasGemmEx(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, K, N, M, &one, w, CUDA_R_16BF, K, d, CUDA_R_16BF, M,
                            &beta, dinp, CUDA_R_32F, K, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "matmul_w_backward");
}

// Row-major C (M, N) = alpha * op(A) (M, K) @ op(B) (K, N) + beta * C.
// Column-major: C^T (N, M), ld ldc = op(B)^T (N, K) @ op(A)^T (K, M); B as
// stored, column-major, is op(B)^T when !transB (and op(B) when transB, so
// it is transposed again), likewise A.
static void cuda_gemm(pt_backend *be, int transA, int transB, int M, int N, int K, float alpha, const float *A,
                      int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    cu_ctx *c = cu(be);
    if (M <= 0 || N <= 0) return;
    cu_blas_ok(c,
               cublasSgemm(c->blas, transB ? CUBLAS_OP_T : CUBLAS_OP_N, transA ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K,
                           &alpha, B, ldb > 0 ? ldb : 1, A, lda > 0 ? lda : 1, &beta, C, ldc),
               "gemm");
}

// ---- elementwise and row ops ----

static void cuda_embedding(pt_backend *be, float *out, const int32_t *tokens, const float *table, int N, int C) {
    cu_ctx *c = cu(be);
    ptk_embedding(c->stream, out, tokens, table, N, C);
    cu_launched(c, "embedding");
}

static void cuda_embedding_w(pt_backend *be, float *out, const int32_t *tokens, const void *table, int N, int C) {
    cu_ctx *c = cu(be);
    ptk_embedding_bf16(c->stream, out, tokens, (const uint16_t *)table, N, C);
    cu_launched(c, "embedding_w");
}

static void cuda_embedding_backward(pt_backend *be, float *dtable, const float *dout, const int32_t *tokens, int N,
                                    int C) {
    cu_ctx *c = cu(be);
    ptk_embedding_backward(c->stream, dtable, dout, tokens, N, C);
    cu_launched(c, "embedding_backward");
}

static void cuda_rmsnorm(pt_backend *be, float *out, const float *inp, const float *weight, int N, int C, float eps) {
    cu_ctx *c = cu(be);
    ptk_rmsnorm(c->stream, out, inp, weight, N, C, eps);
    cu_launched(c, "rmsnorm");
}

static void cuda_rmsnorm_backward(pt_backend *be, float *dinp, const float *dout, const float *inp,
                                  const float *weight, int N, int C, float eps) {
    cu_ctx *c = cu(be);
    ptk_rmsnorm_backward(c->stream, dinp, dout, inp, weight, N, C, eps);
    cu_launched(c, "rmsnorm_backward");
}

// The device inv_freq (HD/2) for (HD, theta), computed on the host as the
// naive backend does and kept in one of CU_ROPE_TABLES slots. Overwriting a
// slot is ordered on the stream after the kernels that read it.
static const float *cu_rope_inv_freq(cu_ctx *c, int HD, float theta, const char *op) {
    for (int i = 0; i < CU_ROPE_TABLES; i++)
        if (c->rope[i].hd == HD && c->rope[i].theta == theta) return c->rope[i].table;
    cu_rope_table *t = &c->rope[c->rope_next];
    c->rope_next = (c->rope_next + 1) % CU_ROPE_TABLES;
    int half = HD / 2;
    float *host = (float *)malloc(sizeof(float) * (size_t)half);
    if (!host) {
        cu_fail(c, PT_ERR_NOMEM, "cuda %s: out of host memory", op);
        return NULL;
    }
    ptk_rope_inv_freq(host, HD, theta);
    t->hd = 0;  // empty until filled
    if (cu_grow(c, (void **)&t->table, &t->cap, (size_t)half, sizeof(float), op)) {
        cu_fail(c, PT_ERR_NOMEM, "cuda %s: cannot allocate the RoPE table", op);
        free(host);
        return NULL;
    }
    int ok = cu_ok(c, cudaMemcpyAsync(t->table, host, sizeof(float) * (size_t)half, cudaMemcpyHostToDevice, c->stream),
                   op) &&
             cu_ok(c, cudaStreamSynchronize(c->stream), op);
    free(host);
    if (!ok) return NULL;
    t->hd = HD;
    t->theta = theta;
    return t->table;
}

static void cuda_rope(pt_backend *be, float *x, const int32_t *pos, int N, int H, int HD, float theta) {
    cu_ctx *c = cu(be);
    if (N <= 0 || H <= 0 || HD < 2) return;
    const float *inv_freq = cu_rope_inv_freq(c, HD, theta, "rope");
    if (!inv_freq) return;
    ptk_rope(c->stream, x, pos, inv_freq, N, H, HD);
    cu_launched(c, "rope");
}

static void cuda_rope_backward(pt_backend *be, float *dx, const int32_t *pos, int N, int H, int HD, float theta) {
    cu_ctx *c = cu(be);
    if (N <= 0 || H <= 0 || HD < 2) return;
    const float *inv_freq = cu_rope_inv_freq(c, HD, theta, "rope_backward");
    if (!inv_freq) return;
    ptk_rope_backward(c->stream, dx, pos, inv_freq, N, H, HD);
    cu_launched(c, "rope_backward");
}

// The attention scratch (floats), grown on demand; NULL (recorded) on failure.
static float *cu_attn_scratch(cu_ctx *c, size_t n, const char *op) {
    if (!n) return c->attn;
    if (cu_grow(c, (void **)&c->attn, &c->attn_cap, n, sizeof(float), op)) {
        cu_fail(c, PT_ERR_NOMEM, "cuda %s: cannot allocate %zu bytes of scratch", op, n * sizeof(float));
        return NULL;
    }
    return c->attn;
}

static void cuda_attention(pt_backend *be, float *out, const float *q, const float *kc, const float *vc, int N,
                           int pos0, int NH, int NKV, int HD, int window, int alibi) {
    cu_ctx *c = cu(be);
    if (N <= 0) return;
    size_t need = ptk_attention_scratch(N, pos0 + N, NH);
    float *scratch = cu_attn_scratch(c, need, "attention");
    if (need && !scratch) return;
    ptk_attention(c->stream, out, q, kc, vc, N, pos0, NH, NKV, HD, window, alibi, scratch);
    cu_launched(c, "attention");
}

static void cuda_attention_backward(pt_backend *be, float *dq, float *dk, float *dv, const float *dout,
                                    const float *q, const float *k, const float *v, const float *out, int T, int NH,
                                    int NKV, int HD, int alibi) {
    cu_ctx *c = cu(be);
    if (T <= 0) return;
    size_t need = ptk_attention_backward_scratch(T, NH);
    float *scratch = cu_attn_scratch(c, need, "attention_backward");
    if (need && !scratch) return;
    ptk_attention_backward(c->stream, dq, dk, dv, dout, q, k, v, out, T, NH, NKV, HD, alibi, scratch);
    cu_launched(c, "attention_backward");
}

static void cuda_layernorm(pt_backend *be, float *out, const float *inp, const float *weight, const float *bias, int N,
                           int C, float eps) {
    cu_ctx *c = cu(be);
    ptk_layernorm(c->stream, out, inp, weight, bias, N, C, eps);
    cu_launched(c, "layernorm");
}

static void cuda_layernorm_backward(pt_backend *be, float *dinp, const float *dout, const float *inp,
                                    const float *weight, int N, int C, float eps) {
    cu_ctx *c = cu(be);
    ptk_layernorm_backward(c->stream, dinp, dout, inp, weight, N, C, eps);
    cu_launched(c, "layernorm_backward");
}

static void cuda_gelu(pt_backend *be, float *out, const float *inp, size_t n, pt_gelu kind) {
    cu_ctx *c = cu(be);
    ptk_gelu(c->stream, out, inp, n, (int)kind);
    cu_launched(c, "gelu");
}

static void cuda_gelu_backward(pt_backend *be, float *dinp, const float *dout, const float *inp, size_t n,
                               pt_gelu kind) {
    cu_ctx *c = cu(be);
    ptk_gelu_backward(c->stream, dinp, dout, inp, n, (int)kind);
    cu_launched(c, "gelu_backward");
}

static void cuda_copy2d(pt_backend *be, float *dst, size_t dst_stride, const float *src, size_t src_stride,
                        size_t rows, size_t width) {
    cu_ctx *c = cu(be);
    if (!rows || !width) return;
    cu_ok(c, cudaMemcpy2DAsync(dst, dst_stride * sizeof(float), src, src_stride * sizeof(float), width * sizeof(float),
                               rows, cudaMemcpyDeviceToDevice, c->stream), "copy2d");
}

static void cuda_swiglu(pt_backend *be, float *out, const float *gate, const float *up, size_t n) {
    cu_ctx *c = cu(be);
    ptk_swiglu(c->stream, out, gate, up, n);
    cu_launched(c, "swiglu");
}

static void cuda_swiglu_backward(pt_backend *be, float *dgate, float *dup, const float *dout, const float *gate,
                                 const float *up, size_t n) {
    cu_ctx *c = cu(be);
    ptk_swiglu_backward(c->stream, dgate, dup, dout, gate, up, n);
    cu_launched(c, "swiglu_backward");
}

static void cuda_add(pt_backend *be, float *out, const float *a, const float *b, size_t n) {
    cu_ctx *c = cu(be);
    ptk_add(c->stream, out, a, b, n);
    cu_launched(c, "add");
}

static void cuda_softmax(pt_backend *be, float *out, const float *inp, int N, int V) {
    cu_ctx *c = cu(be);
    ptk_softmax(c->stream, out, inp, N, V);
    cu_launched(c, "softmax");
}

static void cuda_cross_entropy(pt_backend *be, float *logits, float *losses, const int32_t *targets, int N, int V,
                               float gscale) {
    cu_ctx *c = cu(be);
    ptk_cross_entropy(c->stream, logits, losses, targets, N, V, gscale);
    cu_launched(c, "cross_entropy");
}

static void cuda_dropout(pt_backend *be, float *out, const float *inp, size_t n, float p, uint64_t seed) {
    cu_ctx *c = cu(be);
    ptk_dropout(c->stream, out, inp, n, p, seed);
    cu_launched(c, "dropout");
}

// ---- optimizer ----

// Block sums in double on the device, added here in block order.
static double cuda_sumsq(pt_backend *be, const float *x, size_t n) {
    cu_ctx *c = cu(be);
    double part[PTK_SUMSQ_MAX_BLOCKS];
    unsigned nb = ptk_sumsq_blocks(n);
    if (!nb) return 0.0;
    ptk_sumsq(c->stream, c->partials, x, n);
    cu_launched(c, "sumsq");
    if (!cu_ok(c, cudaMemcpyAsync(part, c->partials, nb * sizeof(double), cudaMemcpyDeviceToHost, c->stream),
               "sumsq") ||
        !cu_ok(c, cudaStreamSynchronize(c->stream), "sumsq"))
        return NAN;
    double s = 0.0;
    for (unsigned i = 0; i < nb; i++) s += part[i];
    return s;
}

static void cuda_scale(pt_backend *be, float *x, size_t n, float s) {
    cu_ctx *c = cu(be);
    ptk_scale(c->stream, x, n, s);
    cu_launched(c, "scale");
}

static void cuda_adamw(pt_backend *be, float *p, const float *g, float *m, float *v, size_t n,
                       const pt_adamw_scalars *s) {
    cu_ctx *c = cu(be);
    ptk_adamw_scalars k = {s->decay, s->w1, s->b2, s->w2, s->step_size, s->bc2s, s->eps};
    ptk_adamw(c->stream, p, g, m, v, n, k);
    cu_launched(c, "adamw");
}

// ---- lifetime ----

// A lane's own resources; the shared device state goes with the last lane.
static void cu_ctx_free(cu_ctx *c) {
    if (c->stream) cudaStreamSynchronize(c->stream);
    cudaFree(c->act16);
    cudaFree(c->stage);
    cudaFree(c->attn);
    cudaFree(c->partials);
    for (int i = 0; i < CU_ROPE_TABLES; i++) cudaFree(c->rope[i].table);
    if (c->blas) cublasDestroy(c->blas);
    if (c->stream) cudaStreamDestroy(c->stream);
    (void)cudaGetLastError();
    cu_dev *d = c->dev;
    if (d) {
        pthread_mutex_lock(&d->mu);
        int last = --d->refs == 0;
        pthread_mutex_unlock(&d->mu);
        if (last) {
            for (size_t i = 0; i < d->nblocks; i++) cudaFree(d->blocks[i].p);  // buffers the caller did not free
            free(d->blocks);
            pthread_mutex_destroy(&d->mu);
            free(d);
        }
    }
    free(c);
}

static void cuda_destroy(pt_backend *be) {
    cu_ctx_free(cu(be));
    free(be);
}

static int cuda_fork(pt_backend *be, pt_backend **out, pt_err *err);
static void cuda_set_threads(pt_backend *, int) {}   // the GPU's parallelism is not a thread count

static pt_backend_ops cu_ops_make(void) {
    pt_backend_ops o;
    memset(&o, 0, sizeof o);
    o.name = "cuda";
    o.host_memory = 0;
    o.destroy = cuda_destroy;
    o.alloc = cuda_alloc;
    o.free = cuda_free;
    o.upload = cuda_upload;
    o.download = cuda_download;
    o.synchronize = cuda_synchronize;
    o.check = cuda_check;
    o.supports = cuda_supports;
    o.weight_dtype = PT_DT_BF16;
    o.upload_weight = cuda_upload_weight;
    o.upload_weight_q = cuda_upload_weight_q;
    o.zero = cuda_zero;
    o.copy = cuda_copy;
    o.mem_available = cuda_mem_available;
    o.mem_held = cuda_mem_held;
    o.mem_peak = cuda_mem_peak;
    o.mem_reset_peak = cuda_mem_reset_peak;
    o.fork = cuda_fork;
    o.set_threads = cuda_set_threads;
    o.describe = cuda_describe;
    o.reserve = cuda_reserve;
    o.matmul = cuda_matmul;
    o.matmul_q = NULL;  // the engine uses quantised products only on host-memory backends
    o.matmul_w = cuda_matmul_w;
    o.matmul_w_backward = cuda_matmul_w_backward;
    o.embedding_w = cuda_embedding_w;
    o.embedding = cuda_embedding;
    o.rmsnorm = cuda_rmsnorm;
    o.rope = cuda_rope;
    o.attention = cuda_attention;
    o.swiglu = cuda_swiglu;
    o.add = cuda_add;
    o.softmax = cuda_softmax;
    o.gemm = cuda_gemm;
    o.rmsnorm_backward = cuda_rmsnorm_backward;
    o.rope_backward = cuda_rope_backward;
    o.attention_backward = cuda_attention_backward;
    o.layernorm = cuda_layernorm;
    o.layernorm_backward = cuda_layernorm_backward;
    o.gelu = cuda_gelu;
    o.gelu_backward = cuda_gelu_backward;
    o.copy2d = cuda_copy2d;
    o.swiglu_backward = cuda_swiglu_backward;
    o.cross_entropy = cuda_cross_entropy;
    o.dropout = cuda_dropout;
    o.embedding_backward = cuda_embedding_backward;
    o.sumsq = cuda_sumsq;
    o.scale = cuda_scale;
    o.adamw = cuda_adamw;
    return o;
}
static const pt_backend_ops cu_ops = cu_ops_make();

// One lane on device state d (which it takes a reference on): its stream,
// cuBLAS handle and scratch.
static int cu_lane_create(pt_backend **out, cu_dev *d, pt_err *err) {
    cudaError_t e = cudaSuccess;
    pt_backend *be = (pt_backend *)calloc(1, sizeof *be);
    cu_ctx *c = (cu_ctx *)calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        pthread_mutex_lock(&d->mu);
        int last = d->refs == 0;
        pthread_mutex_unlock(&d->mu);
        if (last) { pthread_mutex_destroy(&d->mu); free(d); }
        return pt_fail(err, PT_ERR_NOMEM, "out of memory creating the cuda backend");
    }
    pthread_mutex_lock(&d->mu);
    d->refs++;
    pthread_mutex_unlock(&d->mu);
    c->dev = d;
    const char *step = "cudaStreamCreate";
    cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
    if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess) goto fail;
    step = "cudaMalloc";
    if ((e = cudaMalloc((void **)&c->partials, PTK_SUMSQ_MAX_BLOCKS * sizeof(double))) != cudaSuccess) goto fail;
    step = "cublasCreate";
    if ((st = cublasCreate(&c->blas)) != CUBLAS_STATUS_SUCCESS) goto fail;
    step = "cublasSetStream";
    if ((st = cublasSetStream(c->blas, c->stream)) != CUBLAS_STATUS_SUCCESS) goto fail;
    step = "cublasSetMathMode";  // true float32 for Sgemm: no TF32
    if ((st = cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS) goto fail;
    be->ops = &cu_ops;
    be->n_threads = 1;
    be->ctx = c;
    *out = be;
    return PT_OK;
fail:
    cu_ctx_free(c);
    free(be);
    if (st != CUBLAS_STATUS_SUCCESS)
        return pt_fail(err, st == CUBLAS_STATUS_ALLOC_FAILED ? PT_ERR_NOMEM : PT_ERR_INTERNAL,
                       "cuda backend: %s: cuBLAS %s", step, cublasGetStatusString(st));
    return pt_fail(err, e == cudaErrorMemoryAllocation ? PT_ERR_NOMEM : PT_ERR_INTERNAL, "cuda backend: %s: %s", step,
                   cudaGetErrorString(e));
}

extern "C" int backend_cuda_create(pt_backend **out, pt_err *err) {
    *out = NULL;
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev <= 0) {
        const char *why = e != cudaSuccess ? cudaGetErrorString(e) : "no device";
        (void)cudaGetLastError();
        return pt_fail(err, PT_ERR_UNSUPPORTED, "no CUDA GPU found: %s; use --device cpu", why);
    }
    cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess)
        return pt_fail(err, PT_ERR_INTERNAL, "cuda: cannot read the properties of GPU 0: %s", cudaGetErrorString(e));
    if (prop.major < 9)  // kernels are built for sm_90 (PTX for newer GPUs)
        return pt_fail(err, PT_ERR_UNSUPPORTED, "GPU %s is compute capability %d.%d; this build needs 9.0 or newer; "
                       "use --device cpu", prop.name, prop.major, prop.minor);

    cu_dev *d = (cu_dev *)calloc(1, sizeof *d);
    if (!d) return pt_fail(err, PT_ERR_NOMEM, "out of memory creating the cuda backend");
    pthread_mutex_init(&d->mu, NULL);
    return cu_lane_create(out, d, err);
}

static int cuda_fork(pt_backend *be, pt_backend **out, pt_err *err) {
    *out = NULL;
    cu_dev *d = cu(be)->dev;
    return cu_lane_create(out, d, err);
}
