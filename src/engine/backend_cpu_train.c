// backend_cpu_train.c - the CPU backend's training ops: a general GEMM
// through OpenBLAS, and the backward of each forward op, split across threads
// with OpenMP. Oracles: the same ops in backend_naive.c.
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "backend_cpu_internal.h"

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
    int half = HD / 2;
#pragma omp parallel for num_threads(be->n_threads) if (N > 8)
    for (int n = 0; n < N; n++) {
        float cs[256], sn[256];
        for (int i = 0; i < half; i++) {
            float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)HD);
            float ang = (float)pos[n] * inv_freq;
            cs[i] = cosf(ang);
            sn[i] = sinf(ang);
        }
        for (int h = 0; h < H; h++) {
            float *v = x + ((size_t)n * H + h) * HD;
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * cs[i] + b * sn[i];
                v[i + half] = b * cs[i] - a * sn[i];
            }
        }
    }
}

// Two passes, each free of write races (FlashAttention-2's split):
//  1. per (query head, row i): softmax stats lse_i, D_i = dout_i . out_i, and dq_i;
//  2. per (kv head, key j): dk_j and dv_j, over the query heads of its group.
// P_ij = exp(s_ij - lse_i) is recomputed in both; nothing (T, T) is stored.
void cpu_attention_backward(pt_backend *be, float *dq, float *dk, float *dv, const float *dout,
                            const float *q, const float *k, const float *v, const float *out,
                            int T, int NH, int NKV, int HD) {
    int group = NH / NKV, Q = NH * HD, KV = NKV * HD;
    float scale = 1.0f / sqrtf((float)HD);
    // per thread: scores (T); shared: lse and D (NH, T) after the thread blocks
    size_t nt = (size_t)be->n_threads;
    if (!cpu_scratch(be, (size_t)T + (2 * (size_t)NH * T + nt - 1) / nt)) return;
    cpu_ctx *c = be->ctx;
    float *lse = c->scratch + (size_t)be->n_threads * (size_t)T, *D = lse + (size_t)NH * T;

#pragma omp parallel for num_threads(be->n_threads) collapse(2) schedule(dynamic, 8)
    for (int h = 0; h < NH; h++)
        for (int i = 0; i < T; i++) {
            float *s = c->scratch + (size_t)omp_get_thread_num() * T;
            const float *qi = q + (size_t)i * Q + (size_t)h * HD, *doi = dout + (size_t)i * Q + (size_t)h * HD;
            const float *kb = k + (size_t)(h / group) * HD, *vb = v + (size_t)(h / group) * HD;
            float mx = -INFINITY;
            for (int j = 0; j <= i; j++) {
                const float *kj = kb + (size_t)j * KV;
                float d = 0.0f;
                for (int e = 0; e < HD; e++) d += qi[e] * kj[e];
                s[j] = d * scale;
                mx = s[j] > mx ? s[j] : mx;
            }
            float sum = 0.0f;
            for (int j = 0; j <= i; j++) { s[j] = expf(s[j] - mx); sum += s[j]; }
            float l = mx + logf(sum), di = 0.0f;
            const float *oi = out + (size_t)i * Q + (size_t)h * HD;
            for (int e = 0; e < HD; e++) di += doi[e] * oi[e];
            lse[(size_t)h * T + i] = l;
            D[(size_t)h * T + i] = di;
            float *dqi = dq + (size_t)i * Q + (size_t)h * HD;
            for (int e = 0; e < HD; e++) dqi[e] = 0.0f;
            float inv = 1.0f / sum;
            for (int j = 0; j <= i; j++) {
                const float *vj = vb + (size_t)j * KV, *kj = kb + (size_t)j * KV;
                float dp = 0.0f;
                for (int e = 0; e < HD; e++) dp += doi[e] * vj[e];
                float ds = s[j] * inv * (dp - di) * scale;
                for (int e = 0; e < HD; e++) dqi[e] += ds * kj[e];
            }
        }

#pragma omp parallel for num_threads(be->n_threads) collapse(2) schedule(dynamic, 8)
    for (int g = 0; g < NKV; g++)
        for (int j = 0; j < T; j++) {
            const float *kj = k + (size_t)j * KV + (size_t)g * HD, *vj = v + (size_t)j * KV + (size_t)g * HD;
            float *dkj = dk + (size_t)j * KV + (size_t)g * HD, *dvj = dv + (size_t)j * KV + (size_t)g * HD;
            for (int e = 0; e < HD; e++) dkj[e] = dvj[e] = 0.0f;
            for (int h = g * group; h < (g + 1) * group; h++)
                for (int i = j; i < T; i++) {
                    const float *qi = q + (size_t)i * Q + (size_t)h * HD, *doi = dout + (size_t)i * Q + (size_t)h * HD;
                    float sdot = 0.0f, dp = 0.0f;
                    for (int e = 0; e < HD; e++) {
                        sdot += qi[e] * kj[e];
                        dp += doi[e] * vj[e];
                    }
                    float p = expf(sdot * scale - lse[(size_t)h * T + i]);
                    float ds = p * (dp - D[(size_t)h * T + i]) * scale;
                    for (int e = 0; e < HD; e++) {
                        dkj[e] += ds * qi[e];
                        dvj[e] += p * doi[e];
                    }
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
