// backend.h - the op table every piece of arithmetic goes through.
// A backend owns its memory (host for CPU, device for CUDA): buffers passed to
// ops are the backend's own, made with backend_alloc and filled with
// backend_upload. Activations, LoRA weights, gradients and optimizer state
// are float32; the frozen base weights are stored in the backend's
// weight_dtype (float32 on the CPU, bf16 on CUDA) and read only by the *_w
// ops. Row-major, shapes in comments.
//
// Letters: N rows (tokens), K input features, M output features, C channels,
// NH query heads, NKV kv heads, HD head dim, T cache length, V vocab.
#ifndef PT_BACKEND_H
#define PT_BACKEND_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "core/bf16.h"
#include "core/pt_error.h"
#include "core/rng.h"

typedef enum {
    PT_OP_MATMUL, PT_OP_MATMUL_Q, PT_OP_EMBEDDING, PT_OP_RMSNORM, PT_OP_ROPE, PT_OP_ATTENTION,
    PT_OP_SWIGLU, PT_OP_ADD, PT_OP_SOFTMAX,
    PT_OP_GEMM, PT_OP_RMSNORM_BACKWARD, PT_OP_ROPE_BACKWARD, PT_OP_ATTENTION_BACKWARD,
    PT_OP_SWIGLU_BACKWARD, PT_OP_CROSS_ENTROPY, PT_OP_DROPOUT, PT_OP_EMBEDDING_BACKWARD,
    PT_OP_LAYERNORM, PT_OP_LAYERNORM_BACKWARD, PT_OP_GELU, PT_OP_GELU_BACKWARD, PT_OP_COPY2D,
    PT_OP_ALIBI,   // the attention ops' alibi = 1
    PT_OP_COUNT
} pt_op;

typedef enum { PT_GELU_ERF = 0, PT_GELU_TANH = 1 } pt_gelu;

#ifdef __CUDACC__
#define PT_HOST_DEVICE __host__ __device__
#else
#define PT_HOST_DEVICE
#endif

// ALiBi's slope for head h of NH, as BLOOM's build_alibi_tensor makes it
// (MPT's with alibi_bias_max 8 is the same): with cp the largest power of two
// <= NH, base^(h+1) for h < cp, base = 2^(-8/cp); then for the rest the odd
// powers of 2^(-4/cp). In float32, as torch.pow computes it there.
static inline PT_HOST_DEVICE float pt_alibi_slope(int h, int NH) {
    int cp = 1;
    while (cp * 2 <= NH) cp *= 2;
    if (h < cp) return powf((float)exp2(-8.0 / cp), (float)(h + 1));
    return powf((float)exp2(-4.0 / cp), (float)(2 * (h - cp) + 1));
}

typedef struct pt_backend pt_backend;

// One sequence's part of a batched attention call (see attention_multi).
typedef struct {
    float *out;
    const float *q, *kc, *vc;
    int N, pos0;
} pt_attn_seq;

// Element type of frozen base weights on a backend.
typedef enum { PT_DT_F32 = 0, PT_DT_BF16 = 1 } pt_dtype;
static inline size_t pt_dtype_size(pt_dtype t) { return t == PT_DT_BF16 ? 2 : 4; }

// AdamW's per-step scalars, float32 as torch.optim.AdamW turns them.
typedef struct {
    float decay;      // 1 - lr * weight_decay
    float w1;         // 1 - beta1
    float b2, w2;     // beta2, 1 - beta2
    float step_size;  // lr / (1 - beta1^t)
    float bc2s;       // sqrt(1 - beta2^t)
    float eps;
} pt_adamw_scalars;

typedef struct pt_backend_ops {
    const char *name;                         // "cpu", "cpu-naive", "cuda"
    int host_memory;                          // 1: buffers are plain host memory (weights can be aliased)
    void (*destroy)(pt_backend *be);
    void *(*alloc)(pt_backend *be, size_t bytes);     // zeroed; NULL on failure
    void (*free)(pt_backend *be, void *p);
    void (*upload)(pt_backend *be, void *dst, const void *src, size_t bytes);
    void (*download)(pt_backend *be, void *dst, const void *src, size_t bytes);
    void (*synchronize)(pt_backend *be);
    // Ops return nothing; a backend keeps the first error an op meets (CUDA:
    // also asynchronous faults; host backends: scratch it could not
    // allocate), and check synchronises and returns it (PT_OK: none). The
    // engine calls it once per forward call and per training step.
    int (*check)(pt_backend *be, pt_err *err);
    int (*supports)(pt_backend *be, pt_op op);
    pt_dtype weight_dtype;                    // how base weights are stored (see upload_weight)
    // dst (n) in weight_dtype, from host float32 src (n); dst from
    // alloc(n * pt_dtype_size(weight_dtype)). bf16: round to nearest even.
    void (*upload_weight)(pt_backend *be, void *dst, const float *src, size_t n);
    // dst (rows, cols) in weight_dtype from GGUF blocks (wtype Q4_0, Q4_1 or
    // Q8_0; row r at blocks + r * row_bytes), dequantised on the backend, the
    // same values as dequant_row then upload_weight. NULL: not offered.
    void (*upload_weight_q)(pt_backend *be, void *dst, const void *blocks, int wtype, int rows, int cols,
                            size_t row_bytes);
    void (*zero)(pt_backend *be, void *p, size_t bytes);
    void (*copy)(pt_backend *be, void *dst, const void *src, size_t bytes);   // backend to backend
    // Bytes the backend can still allocate (device memory free; the CPU: SIZE_MAX).
    size_t (*mem_available)(pt_backend *be);
    // Bytes held through alloc now, and the most held at once since creation
    // or the last mem_reset_peak. A backend and its forks share one account.
    size_t (*mem_held)(pt_backend *be);
    size_t (*mem_peak)(pt_backend *be);
    void (*mem_reset_peak)(pt_backend *be);   // peak := held
    // A sibling for another thread: the same device and memory (a buffer
    // either allocates is valid in both, and counts in one account), its own
    // stream, scratch, error slot and thread count. Forks of one backend run
    // at the same time; each is used by one thread at a time. Destroy forks
    // before the backend they came from.
    int (*fork)(pt_backend *be, pt_backend **out, pt_err *err);
    // The lane's thread count from now on (CPU: its OpenMP team and
    // OpenBLAS's); call it from the thread that runs the lane. No-op where
    // threads do not apply.
    void (*set_threads)(pt_backend *be, int n_threads);
    // One line for people: "cpu, 2 threads", "cuda: NVIDIA H100 80GB HBM3, 79.1 GiB, sm_90".
    void (*describe)(pt_backend *be, char *buf, size_t cap);
    // Declares the largest activation (in floats) a *_w op will be given, so
    // that scratch (the bf16 copy of an activation) is made once, up front.
    // Returns 0, or -1 when it cannot be allocated.
    int (*reserve)(pt_backend *be, size_t max_act_floats);

    // out (N, M) = inp (N, K) @ w^T + bias;  w (M, K); bias (M) or NULL.
    // beta 0 overwrites out, 1 accumulates into it (for LoRA: y += B(Ax)).
    void (*matmul)(pt_backend *be, float *out, const float *inp, const float *w,
                   const float *bias, int N, int K, int M, float alpha, float beta);
    // out (N, M) = inp (N, K) @ dequant(w)^T + bias with w in GGUF blocks (wtype a
    // ggml_type: Q4_0, Q4_1, Q8_0), row m at w + m*row_bytes. For the small-N
    // decode products, which are bound by the bytes of weight read. May be
    // NULL: the float32 matmul is used instead.
    void (*matmul_q)(pt_backend *be, float *out, const float *inp, const void *w, int wtype,
                     size_t row_bytes, const float *bias, int N, int K, int M);
    // ---- base weights in weight_dtype (w, table: void, as upload_weight made them) ----
    // out (N, M) = alpha * inp (N, K) @ w^T + bias + beta * out;  w (M, K); bias (M) float32 or NULL.
    // (bias is added once, unscaled, as in matmul.)
    void (*matmul_w)(pt_backend *be, float *out, const float *inp, const void *w, const float *bias,
                     int N, int K, int M, float alpha, float beta);
    // dinp (N, K) = dout (N, M) @ w (M, K) + beta * dinp: the input gradient of matmul_w.
    void (*matmul_w_backward)(pt_backend *be, float *dinp, const float *dout, const void *w, int N, int K, int M,
                              float beta);
    // out (N, C) = float(table[tokens[n]]);  table (V, C) in weight_dtype
    void (*embedding_w)(pt_backend *be, float *out, const int32_t *tokens, const void *table, int N, int C);

    // out (N, C) = table[tokens[n]];  table (V, C); tokens (N) backend ints
    void (*embedding)(pt_backend *be, float *out, const int32_t *tokens, const float *table, int N, int C);
    // out (N, C) = inp / rms(inp) * weight;  weight (C)
    void (*rmsnorm)(pt_backend *be, float *out, const float *inp, const float *weight, int N, int C, float eps);
    // in place on x (N, H*HD), HF rotate_half convention: pairs (i, i+HD/2);
    // pos (N) backend ints; theta the RoPE base.
    void (*rope)(pt_backend *be, float *x, const int32_t *pos, int N, int H, int HD, float theta);
    // Causal attention of N new queries at positions pos0..pos0+N-1 over the
    // cache rows 0..pos0+N-1 (the new keys are already in the cache).
    // q (N, NH*HD); kc, vc (T, NKV*HD); out (N, NH*HD). window > 0 limits
    // each query to the last `window` keys (sliding-window attention).
    // alibi 1: head h's score of query position i for key j gets
    // pt_alibi_slope(h, NH) * (j - i) added after the 1/sqrt(HD) scaling
    // (BLOOM adds slope * j; the softmax is the same).
    void (*attention)(pt_backend *be, float *out, const float *q, const float *kc, const float *vc,
                      int N, int pos0, int NH, int NKV, int HD, int window, int alibi);
    // attention() for several sequences in one call, each with its own
    // cache: s[i] as attention's arguments. NULL: not offered (the engine
    // calls attention once per sequence).
    void (*attention_multi)(pt_backend *be, const pt_attn_seq *s, int n, int NH, int NKV, int HD, int window, int alibi);
    // out (n) = silu(gate) * up
    void (*swiglu)(pt_backend *be, float *out, const float *gate, const float *up, size_t n);
    // out (N, C) = (inp - mean) / sqrt(var + eps) * weight + bias per row
    // (torch.nn.LayerNorm: biased variance); weight (C); bias (C) or NULL.
    void (*layernorm)(pt_backend *be, float *out, const float *inp, const float *weight, const float *bias, int N, int C,
                      float eps);
    // out (n) = gelu(inp), out may alias inp. PT_GELU_ERF: x/2 (1 + erf(x/sqrt 2))
    // (torch "gelu"); PT_GELU_TANH: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    // (transformers' gelu_new, gelu_pytorch_tanh, BLOOM's bloom_gelu).
    void (*gelu)(pt_backend *be, float *out, const float *inp, size_t n, pt_gelu kind);
    // For r < rows: dst[r * dst_stride + j] = src[r * src_stride + j], j < width
    // (floats; backend buffers). Splits a fused QKV and joins its gradients.
    void (*copy2d)(pt_backend *be, float *dst, size_t dst_stride, const float *src, size_t src_stride, size_t rows,
                   size_t width);
    // out (n) = a + b   (out may alias a)
    void (*add)(pt_backend *be, float *out, const float *a, const float *b, size_t n);
    // out (N, V) = softmax over each row of inp (N, V)
    void (*softmax)(pt_backend *be, float *out, const float *inp, int N, int V);

    // ---- training: backward ops (each the exact derivative of its forward op) ----
    // C (M, N) = alpha * op(A) @ op(B) + beta * C, row-major; op(X) = X^T when transX.
    // op(A) is (M, K), op(B) is (K, N); lda/ldb/ldc are row strides as stored.
    void (*gemm)(pt_backend *be, int transA, int transB, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
    // dinp (N, C) += d rmsnorm(inp)*weight / d inp, applied to dout (N, C). (weight frozen)
    void (*rmsnorm_backward)(pt_backend *be, float *dinp, const float *dout, const float *inp,
                             const float *weight, int N, int C, float eps);
    // in place on dx (N, H*HD): the transposed (inverse) rotation of rope
    void (*rope_backward)(pt_backend *be, float *dx, const int32_t *pos, int N, int H, int HD, float theta);
    // One causal sequence of T tokens, no cache: q (T, NH*HD), k, v (T, NKV*HD)
    // and out (T, NH*HD) from the forward; dout (T, NH*HD). Writes dq (T, NH*HD),
    // dk, dv (T, NKV*HD). Softmax probabilities are recomputed, not stored.
    // alibi as in attention (its bias has no gradient of its own).
    void (*attention_backward)(pt_backend *be, float *dq, float *dk, float *dv, const float *dout,
                               const float *q, const float *k, const float *v, const float *out,
                               int T, int NH, int NKV, int HD, int alibi);
    // dinp (N, C) += d layernorm(inp) / d inp applied to dout (N, C) (weight, bias frozen)
    void (*layernorm_backward)(pt_backend *be, float *dinp, const float *dout, const float *inp, const float *weight,
                               int N, int C, float eps);
    // dinp (n) = dout * gelu'(inp) (overwrites; dinp may alias dout)
    void (*gelu_backward)(pt_backend *be, float *dinp, const float *dout, const float *inp, size_t n, pt_gelu kind);
    // dgate, dup (n) of out = silu(gate) * up, given dout (n)
    void (*swiglu_backward)(pt_backend *be, float *dgate, float *dup, const float *dout,
                            const float *gate, const float *up, size_t n);
    // Fused softmax cross-entropy over rows of logits (N, V): for targets[n] >= 0,
    // losses[n] = -log softmax(row)[target]; the row is overwritten with its
    // gradient (softmax - onehot) * gscale. Rows with targets[n] < 0: loss 0, gradient 0.
    void (*cross_entropy)(pt_backend *be, float *logits, float *losses, const int32_t *targets,
                          int N, int V, float gscale);
    // out (n) = inp * keep / (1 - p), keep_i = (hash(seed, i) >= p): the same
    // mask on every backend. out may alias inp. Its backward is the same call.
    void (*dropout)(pt_backend *be, float *out, const float *inp, size_t n, float p, uint64_t seed);
    // dtable (V, C): row tokens[n] += dout[n] for every n (rows may repeat); dout (N, C)
    void (*embedding_backward)(pt_backend *be, float *dtable, const float *dout, const int32_t *tokens, int N, int C);

    // ---- optimizer ----
    // Sum of squares of x (n), accumulated in double; returned to the host (synchronises).
    double (*sumsq)(pt_backend *be, const float *x, size_t n);
    // x (n) *= s
    void (*scale)(pt_backend *be, float *x, size_t n, float s);
    // One torch.optim.AdamW update of p (n) from g (n) with moments m, v (n),
    // the scalars already in float32 as torch makes them (see pt_adamw_elem).
    void (*adamw)(pt_backend *be, float *p, const float *g, float *m, float *v, size_t n, const pt_adamw_scalars *s);
} pt_backend_ops;

// The dropout mask's random number for element i, uniform in [0, 1): a
// counter-based hash, so every backend draws the same mask for a seed.
static inline float pt_dropout_u01(uint64_t seed, uint64_t i) {
    return (float)(pt_mix64(seed + PT_GOLDEN64 * (i + 1)) >> 40) * (1.0f / 16777216.0f);
}

// One element of AdamW, torch's single-tensor float32 arithmetic; every
// backend's adamw computes exactly this (CUDA: the same expression).
static inline void pt_adamw_elem(float *p, float g, float *m, float *v, const pt_adamw_scalars *s) {
    float pd = *p * s->decay;
    *m = *m + s->w1 * (g - *m);                 // torch.lerp, weight < 0.5
    *v = *v * s->b2 + s->w2 * g * g;
    float denom = sqrtf(*v) / s->bc2s + s->eps;
    *p = pd - s->step_size * (*m / denom);
}


struct pt_backend {
    const pt_backend_ops *ops;
    int n_threads;
    void *ctx;                                // backend's private state
};

// CPU backends: "cpu" (OpenBLAS, threads) and "cpu-naive" (plain loops, the oracle).
int backend_cpu_create(pt_backend **out, int n_threads, pt_err *err);
int backend_naive_create(pt_backend **out, pt_err *err);
// CUDA backend; PT_ERR_UNSUPPORTED when built without CUDA or no GPU is present.
int backend_cuda_create(pt_backend **out, pt_err *err);
// The naive oracle behind a device-like face: buffers are opaque (the engine
// may not read them from the host), base weights are bf16. Lets the CPU test
// every code path the CUDA backend takes, and gives the bf16 reference.
int backend_emu_create(pt_backend **out, pt_err *err);
// By name: "auto" (cuda when a GPU is present, else cpu), "cpu", "cuda",
// "cpu-naive", "emu". n_threads for the cpu backend (<= 0: all cores).
int backend_create(pt_backend **out, const char *name, int n_threads, pt_err *err);
void backend_destroy(pt_backend *be);

#endif
