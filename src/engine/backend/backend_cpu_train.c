// backend_cpu_train.c - the CPU backend's training ops: a general GEMM
// through OpenBLAS, and the backward of each forward op, split across threads
// with OpenMP. Oracles: the same ops in backend_naive.c.
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "core/pt_omp.h"
#include "backend/backend_cpu_internal.h"

void cpu_gemm(pt_backend *be, int transA, int transB, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// dx_j += r w_j dy_j - x_j r^3 / C * sum_c dy_c w_c x_c
void cpu_rmsnorm_backward(pt_backend *be, float *dinp, const float *dout, const float *inp,
                          const float *weight, int N, int C, float eps) {
#pragma omp parallel for num_threads(be->n_threads) if (N > 8)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float ss = 0.0f, dot = 0.0f;
        for (int c = 0; c < C; c++) {
            ss += x[c] * x[c];
            dot += dy[c] * weight[c] * x[c];
        }
        float r = 1.0f / sqrtf(ss / (float)C + eps);
        float k = r * r * r / (float)C * dot;
        for (int c = 0; c < C; c++) dx[c] += r * weight[c] * dy[c] - x[c] * k;
    }
}

void cpu_rope_backward(pt_backend *be, float *x, const int32_t *pos, int N, int H, int HD, float theta) {
    cpu_rope_rotate(be, x, pos, N, H, HD, theta, -1.0f);  // a rotation's transpose is its inverse
}

// Per query head, with matrix products (the probabilities are recomputed,
// never stored across calls):
//   S = q_h k_g^T * scale, P = causal softmax(S)
//   dP = dout_h v_g^T, dS = P * (dP - rowsum(dout_h * out_h)) * scale
//   dq_h = dS k_g, dk_h = dS^T q_h, dv_h = P^T dout_h
// Heads run in parallel; dk/dv of the heads sharing a kv head are summed after.
void cpu_attention_backward(pt_backend *be, float *dq, float *dk, float *dv, const float *dout,
                            const float *q, const float *k, const float *v, const float *out,
                            int T, int NH, int NKV, int HD, int alibi) {
    int group = NH / NKV, Q = NH * HD, KV = NKV * HD;
    float scale = 1.0f / sqrtf((float)HD);
    size_t TT = (size_t)T * T, nt = (size_t)be->n_threads;
    // per thread: P and dP (T, T); shared: per-head dk, dv partials (NH, T, HD) each
    size_t shared = 2 * (size_t)NH * T * HD;
    if (!cpu_scratch(be, 2 * TT + (shared + nt - 1) / nt, "attention_backward")) return;   // check() reports it
    cpu_ctx *c = be->ctx;
    float *dkh = c->scratch + 2 * TT * nt, *dvh = dkh + (size_t)NH * T * HD;

#pragma omp parallel for num_threads(be->n_threads) schedule(dynamic, 1)
    for (int h = 0; h < NH; h++) {
        float *P = c->scratch + 2 * TT * (size_t)omp_get_thread_num(), *dP = P + TT;
        const float *qh = q + (size_t)h * HD, *kg = k + (size_t)(h / group) * HD, *vg = v + (size_t)(h / group) * HD;
        const float *doh = dout + (size_t)h * HD, *oh = out + (size_t)h * HD;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, HD, scale, qh, Q, kg, KV, 0.0f, P, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, HD, 1.0f, doh, Q, vg, KV, 0.0f, dP, T);
        float slope = alibi ? pt_alibi_slope(h, NH) : 0.0f;
        for (int i = 0; i < T; i++) {
            float *pr = P + (size_t)i * T, *dr = dP + (size_t)i * T, mx = -INFINITY, sum = 0.0f, di = 0.0f;
            if (alibi)
                for (int j = 0; j <= i; j++) pr[j] += slope * (float)(j - i);
            for (int j = 0; j <= i; j++) mx = pr[j] > mx ? pr[j] : mx;
            for (int j = 0; j <= i; j++) { pr[j] = expf(pr[j] - mx); sum += pr[j]; }
            float inv = 1.0f / sum;
            for (int e = 0; e < HD; e++) di += doh[(size_t)i * Q + e] * oh[(size_t)i * Q + e];
            for (int j = 0; j <= i; j++) {
                pr[j] *= inv;
                dr[j] = pr[j] * (dr[j] - di) * scale;
            }
            for (int j = i + 1; j < T; j++) pr[j] = dr[j] = 0.0f;  // causal: no weight, no gradient
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, HD, T, 1.0f, dP, T, kg, KV, 0.0f, dq + (size_t)h * HD, Q);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, HD, T, 1.0f, dP, T, qh, Q, 0.0f, dkh + (size_t)h * T * HD, HD);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, HD, T, 1.0f, P, T, doh, Q, 0.0f, dvh + (size_t)h * T * HD, HD);
    }
#pragma omp parallel for num_threads(be->n_threads)
    for (int t = 0; t < T; t++)
        for (int g = 0; g < NKV; g++)
            for (int e = 0; e < HD; e++) {
                float sk = 0.0f, sv = 0.0f;
                for (int h = g * group; h < (g + 1) * group; h++) {
                    sk += dkh[((size_t)h * T + t) * HD + e];
                    sv += dvh[((size_t)h * T + t) * HD + e];
                }
                dk[(size_t)t * KV + (size_t)g * HD + e] = sk;
                dv[(size_t)t * KV + (size_t)g * HD + e] = sv;
            }
}

// Per row, xh = (x - mean) r: dx += r (w dy - mean(w dy) - xh mean(w dy xh)).
void cpu_layernorm_backward(pt_backend *be, float *dinp, const float *dout, const float *inp, const float *weight,
                            int N, int C, float eps) {
#pragma omp parallel for num_threads(be->n_threads) if (N > 8)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C, mean, m1 = 0.0f, m2 = 0.0f;
        float r = cpu_ln_stats(x, C, eps, &mean);
#pragma omp simd reduction(+ : m1, m2)
        for (int c = 0; c < C; c++) {
            float g = weight[c] * dy[c];
            m1 += g;
            m2 += g * (x[c] - mean) * r;
        }
        m1 /= (float)C;
        m2 /= (float)C;
        for (int c = 0; c < C; c++) dx[c] += r * (weight[c] * dy[c] - m1 - (x[c] - mean) * r * m2);
    }
}

// erf: 0.5 (1 + erf(x/sqrt 2)) + x phi(x); tanh: 0.5 (1 + t) + 0.5 x (1 - t^2)
// sqrt(2/pi) (1 + 3 * 0.044715 x^2). One loop per kind; dinp may alias dout.
void cpu_gelu_backward(pt_backend *be, float *dinp, const float *dout, const float *inp, size_t n, pt_gelu kind) {
    const float k = 0.7978845608f;   // sqrt(2/pi)
    if (kind == PT_GELU_ERF) {
#pragma omp parallel for num_threads(be->n_threads) if (n > 65536)
        for (size_t i = 0; i < n; i++) {
            float x = inp[i];
            dinp[i] = dout[i] * (0.5f * (1.0f + erff(x * 0.7071067812f)) + x * expf(-0.5f * x * x) * 0.3989422804f);
        }
    } else {
#pragma omp parallel for num_threads(be->n_threads) if (n > 65536)
        for (size_t i = 0; i < n; i++) {
            float x = inp[i], t = tanhf(k * (x + 0.044715f * x * x * x));
            dinp[i] = dout[i] * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * k * (1.0f + 3.0f * 0.044715f * x * x));
        }
    }
}

void cpu_swiglu_backward(pt_backend *be, float *dgate, float *dup, const float *dout,
                         const float *gate, const float *up, size_t n) {
#pragma omp parallel for num_threads(be->n_threads) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float g = gate[i], sg = 1.0f / (1.0f + expf(-g));
        dgate[i] = dout[i] * up[i] * (sg + g * sg * (1.0f - sg));
        dup[i] = dout[i] * g * sg;
    }
}

void cpu_cross_entropy(pt_backend *be, float *logits, float *losses, const int32_t *targets,
                       int N, int V, float gscale) {
#pragma omp parallel for num_threads(be->n_threads)
    for (int n = 0; n < N; n++) {
        float *x = logits + (size_t)n * V;
        if (targets[n] < 0) {
            losses[n] = 0.0f;
            memset(x, 0, sizeof(float) * (size_t)V);
            continue;
        }
        float mx = -INFINITY;
        for (int v = 0; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        double sum = 0.0;
        for (int v = 0; v < V; v++) sum += expf(x[v] - mx);
        losses[n] = (float)(log(sum) + mx - x[targets[n]]);
        float k = (float)(gscale / sum);
        for (int v = 0; v < V; v++) x[v] = expf(x[v] - mx) * k;
        x[targets[n]] -= gscale;
    }
}

void cpu_dropout(pt_backend *be, float *out, const float *inp, size_t n, float p, uint64_t seed) {
    float k = 1.0f / (1.0f - p);
#pragma omp parallel for num_threads(be->n_threads) if (n > 65536)
    for (size_t i = 0; i < n; i++) out[i] = pt_dropout_u01(seed, i) >= p ? inp[i] * k : 0.0f;
}

// Rows of one token may repeat, so threads split the channels, not the rows:
// every thread walks all N tokens over its own columns (no two write one float).
void cpu_embedding_backward(pt_backend *be, float *dtable, const float *dout, const int32_t *tokens, int N, int C) {
#pragma omp parallel num_threads(be->n_threads)
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int c0 = (int)((long)C * t / nt), c1 = (int)((long)C * (t + 1) / nt);
        for (int n = 0; n < N; n++) {
            float *row = dtable + (size_t)tokens[n] * C;
            const float *g = dout + (size_t)n * C;
            for (int c = c0; c < c1; c++) row[c] += g[c];
        }
    }
}
