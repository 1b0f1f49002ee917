// backend_cpu_internal.h - the CPU backend's ops that live outside
// backend_cpu.c: quantised products (backend_cpu_q.c) and the training ops
// (backend_cpu_train.c). Not part of the public API.
#ifndef PT_BACKEND_CPU_INTERNAL_H
#define PT_BACKEND_CPU_INTERNAL_H

#include "backend/backend.h"
#include "backend/backend_host.h"

typedef struct {
    pt_host_state h;     // first: memory account and error slot (backend_host.h)
    float *scratch;      // attention: (scratch_threads, scratch_per_thread) floats
    size_t scratch_per_thread;
    int scratch_threads;
} cpu_ctx;

// Makes sure c->scratch holds n_threads * per_thread floats (outside parallel
// regions). 0 when it cannot, with the failure recorded against op for check.
int cpu_scratch(pt_backend *be, size_t per_thread, const char *op);

void cpu_rope_rotate(pt_backend *be, float *x, const int32_t *pos, int N, int H, int HD, float theta, float sign);
void cpu_matmul_q(pt_backend *be, float *out, const float *inp, const void *w, int wtype,
                  size_t row_bytes, const float *bias, int N, int K, int M);

void cpu_gemm(pt_backend *be, int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
void cpu_rmsnorm_backward(pt_backend *be, float *dinp, const float *dout, const float *inp,
                          const float *weight, int N, int C, float eps);
void cpu_rope_backward(pt_backend *be, float *dx, const int32_t *pos, int N, int H, int HD, float theta);
void cpu_attention_backward(pt_backend *be, float *dq, float *dk, float *dv, const float *dout,
                            const float *q, const float *k, const float *v, const float *out,
                            int T, int NH, int NKV, int HD, int alibi);
void cpu_layernorm_backward(pt_backend *be, float *dinp, const float *dout, const float *inp, const float *weight,
                            int N, int C, float eps);
void cpu_gelu_backward(pt_backend *be, float *dinp, const float *dout, const float *inp, size_t n, pt_gelu kind);
void cpu_swiglu_backward(pt_backend *be, float *dgate, float *dup, const float *dout,
                         const float *gate, const float *up, size_t n);
void cpu_cross_entropy(pt_backend *be, float *logits, float *losses, const int32_t *targets,
                       int N, int V, float gscale);
void cpu_embedding_backward(pt_backend *be, float *dtable, const float *dout, const int32_t *tokens, int N, int C);
void cpu_dropout(pt_backend *be, float *out, const float *inp, size_t n, float p, uint64_t seed);

// A LayerNorm row's mean (into *mean) and 1 / sqrt(var + eps): the forward
// and the backward recompute the same statistics the same way.
static inline float cpu_ln_stats(const float *x, int C, float eps, float *mean_out) {
    float mean = 0.0f, var = 0.0f;
#pragma omp simd reduction(+ : mean)   // vector partial sums: the order changes, the error shrinks
    for (int c = 0; c < C; c++) mean += x[c];
    mean /= (float)C;
#pragma omp simd reduction(+ : var)
    for (int c = 0; c < C; c++) var += (x[c] - mean) * (x[c] - mean);
    *mean_out = mean;
    return 1.0f / sqrtf(var / (float)C + eps);
}

#endif
