// backend_naive.c - the oracle: every op as the plainest loops, one thread,
// double accumulators. Slow on purpose; tests compare fast backends to it.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/backend_host.h"
#include "io/dequant.h"

static void naive_sync(pt_backend *be) {}
static int naive_supports(pt_backend *be, pt_op op) { return 1; }
static void naive_destroy(pt_backend *be) {
    free(be->ctx);
    free(be);
}

// Scratch for an op; NULL (recorded for check) when it cannot be had.
static void *naive_scratch(pt_backend *be, size_t bytes, const char *op) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) host_fail(be, PT_ERR_NOMEM, "%s: cannot allocate %zu bytes of scratch", op, bytes);
    return p;
}

static void naive_matmul(pt_backend *be, float *out, const float *inp, const float *w,
                         const float *bias, int N, int K, int M, float alpha, float beta) {
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) {
            double acc = 0;
            for (int k = 0; k < K; k++) acc += (double)inp[(size_t)n * K + k] * w[(size_t)m * K + k];
            float prev = beta != 0.0f ? out[(size_t)n * M + m] : 0.0f;
            out[(size_t)n * M + m] = (float)(alpha * acc + beta * prev + (bias ? bias[m] : 0.0f));
        }
}

static void naive_matmul_q(pt_backend *be, float *out, const float *inp, const void *w, int wtype,
                           size_t row_bytes, const float *bias, int N, int K, int M) {
    float *row = naive_scratch(be, sizeof(float) * (size_t)K, "matmul_q");
    if (!row) return;
    for (int m = 0; m < M; m++) {
        dequant_row((ggml_type)wtype, (const unsigned char *)w + (size_t)m * row_bytes, row, (uint64_t)K);
        for (int n = 0; n < N; n++) {
            double acc = 0;
            for (int k = 0; k < K; k++) acc += (double)inp[(size_t)n * K + k] * row[k];
            out[(size_t)n * M + m] = (float)acc + (bias ? bias[m] : 0.0f);
        }
    }
    free(row);
}

static void naive_embedding(pt_backend *be, float *out, const int32_t *tokens, const float *table, int N, int C) {
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * C, table + (size_t)tokens[n] * C, sizeof(float) * C);
}

static void naive_rmsnorm(pt_backend *be, float *out, const float *inp, const float *weight, int N, int C, float eps) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        double ss = 0;
        for (int c = 0; c < C; c++) ss += (double)x[c] * x[c];
        double r = 1.0 / sqrt(ss / C + eps);
        for (int c = 0; c < C; c++) out[(size_t)n * C + c] = (float)(x[c] * r) * weight[c];
    }
}

// HF rotate_half: element i pairs with i + HD/2. Angles computed as HF does,
// in float32: inv_freq = 1 / theta^(2i/HD), angle = pos * inv_freq.
static void naive_rope(pt_backend *be, float *x, const int32_t *pos, int N, int H, int HD, float theta) {
    int half = HD / 2;
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++) {
            float *v = x + ((size_t)n * H + h) * HD;
            for (int i = 0; i < half; i++) {
                float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)HD);
                float ang = (float)pos[n] * inv_freq;
                float c = cosf(ang), s = sinf(ang);
                float a = v[i], b = v[i + half];
                v[i] = a * c - b * s;
                v[i + half] = b * c + a * s;
            }
        }
}

static void naive_attention(pt_backend *be, float *out, const float *q, const float *kc, const float *vc,
                            int N, int pos0, int NH, int NKV, int HD, int window, int alibi) {
    int group = NH / NKV, KV = NKV * HD, Q = NH * HD;
    double scale = 1.0 / sqrt((double)HD);
    double *sc = naive_scratch(be, sizeof(double) * (size_t)(pos0 + N), "attention");
    if (!sc) return;
    for (int n = 0; n < N; n++) {
        int last = pos0 + n;                       // attends to keys 0..last
        int first = window > 0 && last - window + 1 > 0 ? last - window + 1 : 0;
        for (int h = 0; h < NH; h++) {
            const float *qh = q + (size_t)n * Q + (size_t)h * HD;
            int kvh = h / group;
            double mx = -INFINITY, slope = alibi ? pt_alibi_slope(h, NH) : 0.0;
            for (int t = first; t <= last; t++) {
                const float *kh = kc + (size_t)t * KV + (size_t)kvh * HD;
                double d = 0;
                for (int i = 0; i < HD; i++) d += (double)qh[i] * kh[i];
                sc[t] = d * scale + slope * (t - last);
                if (sc[t] > mx) mx = sc[t];
            }
            double sum = 0;
            for (int t = first; t <= last; t++) { sc[t] = exp(sc[t] - mx); sum += sc[t]; }
            float *oh = out + (size_t)n * Q + (size_t)h * HD;
            for (int i = 0; i < HD; i++) {
                double acc = 0;
                for (int t = first; t <= last; t++) acc += sc[t] * vc[(size_t)t * KV + (size_t)kvh * HD + i];
                oh[i] = (float)(acc / sum);
            }
        }
    }
    free(sc);
}

static void naive_swiglu(pt_backend *be, float *out, const float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double g = gate[i];
        out[i] = (float)(g / (1.0 + exp(-g)) * up[i]);
    }
}

// Two passes in double: mean, then the biased variance about it.
static void naive_layernorm(pt_backend *be, float *out, const float *inp, const float *weight, const float *bias,
                            int N, int C, float eps) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        double mean = 0, var = 0;
        for (int c = 0; c < C; c++) mean += x[c];
        mean /= C;
        for (int c = 0; c < C; c++) var += (x[c] - mean) * (x[c] - mean);
        double r = 1.0 / sqrt(var / C + eps);
        for (int c = 0; c < C; c++)
            out[(size_t)n * C + c] = (float)((x[c] - mean) * r * weight[c] + (bias ? bias[c] : 0.0));
    }
}

#define PT_PI 3.14159265358979323846

static double gelu_d(double x, pt_gelu kind) {
    if (kind == PT_GELU_ERF) return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / PT_PI) * (x + 0.044715 * x * x * x)));
}

static void naive_gelu(pt_backend *be, float *out, const float *inp, size_t n, pt_gelu kind) {
    for (size_t i = 0; i < n; i++) out[i] = (float)gelu_d(inp[i], kind);
}

static void naive_add(pt_backend *be, float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void naive_softmax(pt_backend *be, float *out, const float *inp, int N, int V) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * V;
        double mx = -INFINITY, sum = 0;
        for (int v = 0; v < V; v++) if (x[v] > mx) mx = x[v];
        for (int v = 0; v < V; v++) sum += exp(x[v] - mx);
        for (int v = 0; v < V; v++) out[(size_t)n * V + v] = (float)(exp(x[v] - mx) / sum);
    }
}

// ---- backward ops ----

static void naive_gemm(pt_backend *be, int transA, int transB, int M, int N, int K, float alpha,
                       const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double acc = 0;
            for (int k = 0; k < K; k++) {
                double a = transA ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k];
                double b = transB ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n];
                acc += a * b;
            }
            float prev = beta != 0.0f ? C[(size_t)m * ldc + n] : 0.0f;
            C[(size_t)m * ldc + n] = (float)(alpha * acc + beta * prev);
        }
}

// y_j = x_j r w_j, r = (mean(x^2) + eps)^(-1/2):
// dx_j = r w_j dy_j - x_j r^3 / C * sum_c dy_c w_c x_c
static void naive_rmsnorm_backward(pt_backend *be, float *dinp, const float *dout, const float *inp,
                                   const float *weight, int N, int C, float eps) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        double ss = 0, dot = 0;
        for (int c = 0; c < C; c++) { ss += (double)x[c] * x[c]; dot += (double)dy[c] * weight[c] * x[c]; }
        double r = 1.0 / sqrt(ss / C + eps);
        for (int c = 0; c < C; c++)
            dinp[(size_t)n * C + c] += (float)(r * weight[c] * dy[c] - x[c] * r * r * r / C * dot);
    }
}

static void naive_rope_backward(pt_backend *be, float *x, const int32_t *pos, int N, int H, int HD, float theta) {
    int half = HD / 2;
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++) {
            float *v = x + ((size_t)n * H + h) * HD;
            for (int i = 0; i < half; i++) {
                float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)HD);
                float ang = (float)pos[n] * inv_freq;
                float c = cosf(ang), s = sinf(ang);
                float a = v[i], b = v[i + half];
                v[i] = a * c + b * s;
                v[i + half] = b * c - a * s;
            }
        }
}

// P = softmax(q k^T * scale) (causal); out = P v.
// dv_j = sum_i P_ij dout_i; dP_ij = dout_i . v_j; dS_ij = P_ij (dP_ij - sum_j' P_ij' dP_ij');
// dq_i = scale sum_j dS_ij k_j; dk_j = scale sum_i dS_ij q_i.
static void naive_attention_backward(pt_backend *be, float *dq, float *dk, float *dv, const float *dout,
                                     const float *q, const float *k, const float *v, const float *out,
                                     int T, int NH, int NKV, int HD, int alibi) {
    int group = NH / NKV, Q = NH * HD, KV = NKV * HD;
    double scale = 1.0 / sqrt((double)HD);
    double *P = naive_scratch(be, sizeof(double) * (size_t)T, "attention_backward");
    double *dP = naive_scratch(be, sizeof(double) * (size_t)T, "attention_backward");
    if (!P || !dP) {
        free(P);
        free(dP);
        return;
    }
    memset(dq, 0, sizeof(float) * (size_t)T * Q);
    memset(dk, 0, sizeof(float) * (size_t)T * KV);
    memset(dv, 0, sizeof(float) * (size_t)T * KV);
    for (int h = 0; h < NH; h++) {
        int g = h / group;
        double slope = alibi ? pt_alibi_slope(h, NH) : 0.0;
        for (int i = 0; i < T; i++) {
            const float *qi = q + (size_t)i * Q + (size_t)h * HD, *doi = dout + (size_t)i * Q + (size_t)h * HD;
            double mx = -INFINITY, sum = 0, dsum = 0;
            for (int j = 0; j <= i; j++) {
                double d = 0;
                for (int e = 0; e < HD; e++) d += (double)qi[e] * k[(size_t)j * KV + (size_t)g * HD + e];
                P[j] = d * scale + slope * (j - i);
                if (P[j] > mx) mx = P[j];
            }
            for (int j = 0; j <= i; j++) { P[j] = exp(P[j] - mx); sum += P[j]; }
            for (int j = 0; j <= i; j++) {
                P[j] /= sum;
                double d = 0;
                for (int e = 0; e < HD; e++) d += (double)doi[e] * v[(size_t)j * KV + (size_t)g * HD + e];
                dP[j] = d;
                dsum += P[j] * d;
            }
            for (int j = 0; j <= i; j++) {
                double ds = P[j] * (dP[j] - dsum);
                for (int e = 0; e < HD; e++) {
                    dq[(size_t)i * Q + (size_t)h * HD + e] += (float)(scale * ds * k[(size_t)j * KV + (size_t)g * HD + e]);
                    dk[(size_t)j * KV + (size_t)g * HD + e] += (float)(scale * ds * qi[e]);
                    dv[(size_t)j * KV + (size_t)g * HD + e] += (float)(P[j] * doi[e]);
                }
            }
        }
    }
    (void)out;  // the oracle recomputes everything from q, k, v
    free(P);
    free(dP);
}

static void naive_swiglu_backward(pt_backend *be, float *dgate, float *dup, const float *dout,
                                  const float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double g = gate[i], sg = 1.0 / (1.0 + exp(-g));
        dgate[i] = (float)(dout[i] * up[i] * (sg + g * sg * (1.0 - sg)));
        dup[i] = (float)(dout[i] * g * sg);
    }
}

// y = (x - mean) r w, r = (var + eps)^(-1/2), xh = (x - mean) r:
// dx_j = r (w_j dy_j - mean_c(w_c dy_c) - xh_j mean_c(w_c dy_c xh_c))
static void naive_layernorm_backward(pt_backend *be, float *dinp, const float *dout, const float *inp,
                                     const float *weight, int N, int C, float eps) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        double mean = 0, var = 0, m1 = 0, m2 = 0;
        for (int c = 0; c < C; c++) mean += x[c];
        mean /= C;
        for (int c = 0; c < C; c++) var += (x[c] - mean) * (x[c] - mean);
        double r = 1.0 / sqrt(var / C + eps);
        for (int c = 0; c < C; c++) {
            double g = (double)weight[c] * dy[c];
            m1 += g;
            m2 += g * (x[c] - mean) * r;
        }
        m1 /= C;
        m2 /= C;
        for (int c = 0; c < C; c++)
            dinp[(size_t)n * C + c] += (float)(r * ((double)weight[c] * dy[c] - m1 - (x[c] - mean) * r * m2));
    }
}

// d/dx of gelu: erf form 0.5 (1 + erf(x/sqrt2)) + x phi(x); tanh form
// 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2).
static void naive_gelu_backward(pt_backend *be, float *dinp, const float *dout, const float *inp, size_t n,
                                pt_gelu kind) {
    for (size_t i = 0; i < n; i++) {
        double x = inp[i], d;
        if (kind == PT_GELU_ERF) {
            d = 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2.0 * PT_PI);
        } else {
            double k = sqrt(2.0 / PT_PI), t = tanh(k * (x + 0.044715 * x * x * x));
            d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * x * x);
        }
        dinp[i] = (float)(dout[i] * d);
    }
}

static void naive_cross_entropy(pt_backend *be, float *logits, float *losses, const int32_t *targets,
                                int N, int V, float gscale) {
    for (int n = 0; n < N; n++) {
        float *x = logits + (size_t)n * V;
        if (targets[n] < 0) {
            losses[n] = 0.0f;
            memset(x, 0, sizeof(float) * (size_t)V);
            continue;
        }
        double mx = -INFINITY, sum = 0;
        for (int v = 0; v < V; v++) if (x[v] > mx) mx = x[v];
        for (int v = 0; v < V; v++) sum += exp(x[v] - mx);
        losses[n] = (float)(log(sum) + mx - x[targets[n]]);
        for (int v = 0; v < V; v++) x[v] = (float)(exp(x[v] - mx) / sum * gscale);
        x[targets[n]] -= gscale;
    }
}

static void naive_dropout(pt_backend *be, float *out, const float *inp, size_t n, float p, uint64_t seed) {
    float k = 1.0f / (1.0f - p);  // every backend scales by the same float
    for (size_t i = 0; i < n; i++)
        out[i] = pt_dropout_u01(seed, i) >= p ? inp[i] * k : 0.0f;
}

static void naive_embedding_backward(pt_backend *be, float *dtable, const float *dout, const int32_t *tokens,
                                     int N, int C) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) dtable[(size_t)tokens[n] * C + c] += dout[(size_t)n * C + c];
}

static int naive_fork(pt_backend *be, pt_backend **out, pt_err *err);

static const pt_backend_ops naive_ops = {
    .name = "cpu-naive", .host_memory = 1,
    .destroy = naive_destroy, .synchronize = naive_sync, .supports = naive_supports,
    .fork = naive_fork, .set_threads = host_set_threads_single,
    .matmul = naive_matmul, .matmul_q = naive_matmul_q, .embedding = naive_embedding, .rmsnorm = naive_rmsnorm, .rope = naive_rope,
    .attention = naive_attention, .swiglu = naive_swiglu, .add = naive_add, .softmax = naive_softmax,
    .layernorm = naive_layernorm, .gelu = naive_gelu, .layernorm_backward = naive_layernorm_backward,
    .gelu_backward = naive_gelu_backward,
    .gemm = naive_gemm, .rmsnorm_backward = naive_rmsnorm_backward, .rope_backward = naive_rope_backward,
    .attention_backward = naive_attention_backward, .swiglu_backward = naive_swiglu_backward,
    .cross_entropy = naive_cross_entropy, .dropout = naive_dropout, .embedding_backward = naive_embedding_backward,
    PT_HOST_OPS,
};

// parent NULL: a root with its own account.
static int naive_make(pt_backend **out, const pt_host_state *parent, pt_err *err) {
    *out = NULL;
    pt_backend *be = calloc(1, sizeof *be);
    pt_host_state *h = calloc(1, sizeof *h);
    if (!be || !h) {
        free(be);
        free(h);
        return pt_fail(err, PT_ERR_NOMEM, "out of memory creating the naive backend");
    }
    if (parent) host_state_fork(h, parent);
    else h->acct = &h->own;
    be->ops = &naive_ops;
    be->n_threads = 1;
    be->ctx = h;
    *out = be;
    return PT_OK;
}

static int naive_fork(pt_backend *be, pt_backend **out, pt_err *err) { return naive_make(out, host_state(be), err); }

int backend_naive_create(pt_backend **out, pt_err *err) { return naive_make(out, NULL, err); }
