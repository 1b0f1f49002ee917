// backend.h - the op table every piece of arithmetic goes through.
// A backend owns its memory (host for CPU, device for CUDA): buffers passed to
// ops are the backend's own, made with backend_alloc and filled with
// backend_upload. All tensors are float32, row-major, shapes in comments.
//
// Letters: N rows (tokens), K input features, M output features, C channels,
// NH query heads, NKV kv heads, HD head dim, T cache length, V vocab.
#ifndef PT_BACKEND_H
#define PT_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "pt_error.h"

typedef enum {
    PT_OP_MATMUL, PT_OP_MATMUL_Q, PT_OP_EMBEDDING, PT_OP_RMSNORM, PT_OP_ROPE, PT_OP_ATTENTION,
    PT_OP_SWIGLU, PT_OP_ADD, PT_OP_SOFTMAX,
    PT_OP_GEMM, PT_OP_RMSNORM_BACKWARD, PT_OP_ROPE_BACKWARD, PT_OP_ATTENTION_BACKWARD,
    PT_OP_SWIGLU_BACKWARD, PT_OP_CROSS_ENTROPY, PT_OP_DROPOUT, PT_OP_EMBEDDING_BACKWARD, PT_OP_COUNT
} pt_op;

typedef struct pt_backend pt_backend;

typedef struct pt_backend_ops {
    const char *name;                         // "cpu", "cpu-naive", "cuda"
    int host_memory;                          // 1: buffers are plain host memory (weights can be aliased)
    void (*destroy)(pt_backend *be);
    void *(*alloc)(pt_backend *be, size_t bytes);     // zeroed; NULL on failure
    void (*free)(pt_backend *be, void *p);
    void (*upload)(pt_backend *be, void *dst, const void *src, size_t bytes);
    void (*download)(pt_backend *be, void *dst, const void *src, size_t bytes);
    void (*synchronize)(pt_backend *be);
    int (*supports)(pt_backend *be, pt_op op);

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
    void (*attention)(pt_backend *be, float *out, const float *q, const float *kc, const float *vc,
                      int N, int pos0, int NH, int NKV, int HD, int window);
    // out (n) = silu(gate) * up
    void (*swiglu)(pt_backend *be, float *out, const float *gate, const float *up, size_t n);
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
    void (*attention_backward)(pt_backend *be, float *dq, float *dk, float *dv, const float *dout,
                               const float *q, const float *k, const float *v, const float *out,
                               int T, int NH, int NKV, int HD);
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
} pt_backend_ops;

// The dropout mask's random number for element i, uniform in [0, 1): a
// counter-based hash, so every backend draws the same mask for a seed.
static inline float pt_dropout_u01(uint64_t seed, uint64_t i) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
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
void backend_destroy(pt_backend *be);

#endif
