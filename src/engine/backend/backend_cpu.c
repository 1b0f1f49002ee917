// backend_cpu.c - the CPU backend: matrix products through OpenBLAS, the
// other ops as vectorisable loops split across threads with OpenMP.
// The naive oracle for every op is in backend_naive.c.
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/pt_omp.h"
#include "backend/backend.h"
#include "backend/backend_host.h"
#include "backend/backend_cpu_internal.h"

void openblas_set_num_threads(int); // from OpenBLAS; not in every cblas.h

static void cpu_sync(pt_backend *be) {}
static int cpu_supports(pt_backend *be, pt_op op) { return 1; }

static void cpu_destroy(pt_backend *be) {
    cpu_ctx *c = be->ctx;
    if (c && c->scratch) {
        mem_acct_sub(c->h.acct, sizeof(float) * c->scratch_per_thread * (size_t)c->scratch_threads);
        free(c->scratch);
    }
    free(c);
    free(be);
}

// OpenMP's thread count is per thread, and Debian's OpenMP OpenBLAS takes
// its count from the calling thread's: both follow the lane's.
static void cpu_set_threads(pt_backend *be, int n_threads) {
    be->n_threads = n_threads < 1 ? 1 : n_threads;
    omp_set_num_threads(be->n_threads);
}

// Below this many multiply-adds a product runs on the calling thread: a
// LoRA factor's (r x in or out x r, r ~ 8) is microseconds of work, and
// OpenBLAS would wake its threads for it (tens of microseconds, hundreds of
// times a decode step).
#define SMALL_PRODUCT (1 << 16)

static void cpu_matmul(pt_backend *be, float *out, const float *inp, const float *w,
                       const float *bias, int N, int K, int M, float alpha, float beta) {
    int small = (double)N * K * M < SMALL_PRODUCT, was = small ? omp_get_max_threads() : 0;
    if (small && was > 1) omp_set_num_threads(1);   // per thread: the lane's own count comes back below
    if (N == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, M, K, alpha, w, K, inp, 1, beta, out, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, M, K, alpha, inp, K, w, K, beta, out, M);
    if (small && was > 1) omp_set_num_threads(was);
    if (bias)
        for (int n = 0; n < N; n++) {
            float *o = out + (size_t)n * M;
            for (int m = 0; m < M; m++) o[m] += bias[m];
        }
}

static void cpu_embedding(pt_backend *be, float *out, const int32_t *tokens, const float *table, int N, int C) {
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * C, table + (size_t)tokens[n] * C, sizeof(float) * C);
}

static void cpu_rmsnorm(pt_backend *be, float *out, const float *inp, const float *weight, int N, int C, float eps) {
#pragma omp parallel for num_threads(be->n_threads) if (N > 8)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float ss = 0.0f;
        for (int c = 0; c < C; c++) ss += x[c] * x[c];
        float r = 1.0f / sqrtf(ss / (float)C + eps);
        for (int c = 0; c < C; c++) o[c] = (x[c] * r) * weight[c];
    }
}

// Rotates each (i, i + HD/2) pair by sign * angle: sign 1 is RoPE (HF
// rotate_half), -1 its transpose, the backward.
void cpu_rope_rotate(pt_backend *be, float *x, const int32_t *pos, int N, int H, int HD, float theta, float sign) {
    int half = HD / 2;
#pragma omp parallel for num_threads(be->n_threads) if (N > 8)
    for (int n = 0; n < N; n++) {
        float cs[256], sn[256];   // HD/2 <= 256 (head dims up to 512)
        for (int i = 0; i < half; i++) {
            float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)HD);
            float ang = (float)pos[n] * inv_freq;
            cs[i] = cosf(ang);
            sn[i] = sign * sinf(ang);
        }
        for (int h = 0; h < H; h++) {
            float *v = x + ((size_t)n * H + h) * HD;
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * cs[i] - b * sn[i];
                v[i + half] = b * cs[i] + a * sn[i];
            }
        }
    }
}

static void cpu_rope(pt_backend *be, float *x, const int32_t *pos, int N, int H, int HD, float theta) {
    cpu_rope_rotate(be, x, pos, N, H, HD, theta, 1.0f);
}

int cpu_scratch(pt_backend *be, size_t per_thread, const char *op) {
    cpu_ctx *c = be->ctx;
    if (per_thread <= c->scratch_per_thread && be->n_threads <= c->scratch_threads) return 1;
    // grows once per longer context (or more threads), never per token
    size_t per = per_thread > c->scratch_per_thread ? per_thread + 1024 : c->scratch_per_thread;
    int nt = be->n_threads > c->scratch_threads ? be->n_threads : c->scratch_threads;
    float *p = malloc(sizeof(float) * per * (size_t)nt);
    if (!p) {
        host_fail(be, PT_ERR_NOMEM, "%s: cannot allocate %.1f MiB of scratch", op, sizeof(float) * per * nt / 1048576.0);
        return 0;
    }
    if (c->scratch) mem_acct_sub(c->h.acct, sizeof(float) * c->scratch_per_thread * (size_t)c->scratch_threads);
    free(c->scratch);
    c->scratch = p;
    c->scratch_per_thread = per;
    c->scratch_threads = nt;
    mem_acct_add(c->h.acct, sizeof(float) * per * (size_t)nt);
    return 1;
}

// Many queries at once (prefill, training): per head, S = q_h k_g^T and
// out_h = softmax(S) v_g as matrix products over the (N, pos0+N) scores.
static void attention_gemm(pt_backend *be, float *out, const float *q, const float *kc, const float *vc,
                           int N, int pos0, int NH, int NKV, int HD, int window, int alibi) {
    cpu_ctx *c = be->ctx;
    int group = NH / NKV, KV = NKV * HD, Q = NH * HD, T = pos0 + N;
    float scale = 1.0f / sqrtf((float)HD);
    if (!cpu_scratch(be, (size_t)N * T, "attention")) return;   // check() reports it
#pragma omp parallel for num_threads(be->n_threads) schedule(dynamic, 1)
    for (int h = 0; h < NH; h++) {
        float *S = c->scratch + (size_t)omp_get_thread_num() * c->scratch_per_thread;  // (N, T)
        const float *kg = kc + (size_t)(h / group) * HD, *vg = vc + (size_t)(h / group) * HD;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, T, HD, scale, q + (size_t)h * HD, Q, kg, KV, 0.0f, S, T);
        float slope = alibi ? pt_alibi_slope(h, NH) : 0.0f;
        for (int n = 0; n < N; n++) {
            float *row = S + (size_t)n * T, mx = -INFINITY, sum = 0.0f;
            int last = pos0 + n, first = window > 0 && last - window + 1 > 0 ? last - window + 1 : 0;
            if (alibi)
                for (int t = first; t <= last; t++) row[t] += slope * (float)(t - last);
            for (int t = first; t <= last; t++) mx = row[t] > mx ? row[t] : mx;
            for (int t = first; t <= last; t++) { row[t] = expf(row[t] - mx); sum += row[t]; }
            float inv = 1.0f / sum;
            for (int t = 0; t < T; t++) row[t] = t >= first && t <= last ? row[t] * inv : 0.0f;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, HD, T, 1.0f, S, T, vg, KV, 0.0f, out + (size_t)h * HD, Q);
    }
}

// One query row of one head over keys first..last: oh (HD) = softmax(q k^T * scale) v.
// sc: (last + 1) scratch. kb, vb: the head's group's first key/value (row stride KV).
// slope: ALiBi's for this head (0: none).
static void attend_row(float *oh, const float *qh, const float *kb, const float *vb, int first, int last, int KV, int HD,
                       float scale, float slope, float *sc) {
    float mx = -INFINITY;
    for (int t = first; t <= last; t++) {
        const float *kh = kb + (size_t)t * KV;
        float d = 0.0f;
#pragma omp simd reduction(+ : d)   // vector partial sums: the order may change, the oracle's tolerance allows it
        for (int i = 0; i < HD; i++) d += qh[i] * kh[i];
        d = d * scale + slope * (float)(t - last);
        sc[t] = d;
        if (d > mx) mx = d;
    }
    float sum = 0.0f;
    for (int t = first; t <= last; t++) { sc[t] = expf(sc[t] - mx); sum += sc[t]; }
    float inv = 1.0f / sum;
    for (int i = 0; i < HD; i++) oh[i] = 0.0f;
    for (int t = first; t <= last; t++) {
        const float *vh = vb + (size_t)t * KV;
        float p = sc[t] * inv;
#pragma omp simd   // elementwise: the same arithmetic, in vector registers
        for (int i = 0; i < HD; i++) oh[i] += p * vh[i];
    }
}

// Few queries (decode) over several sequences at once: one parallel loop
// over every (sequence, row, head), so a batched decode step pays for one
// team of threads per layer, not one per sequence.
static void cpu_attention_multi(pt_backend *be, const pt_attn_seq *s, int n_seq, int NH, int NKV, int HD, int window,
                                int alibi) {
    int tasks[65], max_t = 0, small = 1;
    tasks[0] = 0;
    for (int i = 0; i < n_seq && i < 64; i++) {
        tasks[i + 1] = tasks[i] + s[i].N * NH;
        if (s[i].pos0 + s[i].N > max_t) max_t = s[i].pos0 + s[i].N;
        small &= s[i].N < 16;
    }
    if (!small || n_seq > 64) {   // prefill-sized rows: each sequence's GEMM attention (threaded inside)
        for (int i = 0; i < n_seq; i++)
            be->ops->attention(be, s[i].out, s[i].q, s[i].kc, s[i].vc, s[i].N, s[i].pos0, NH, NKV, HD, window, alibi);
        return;
    }
    cpu_ctx *c = be->ctx;
    if (!cpu_scratch(be, (size_t)max_t, "attention")) return;   // check() reports it
    int group = NH / NKV, KV = NKV * HD, Q = NH * HD, total = tasks[n_seq];
    float scale = 1.0f / sqrtf((float)HD);
#pragma omp parallel for num_threads(be->n_threads) schedule(dynamic, 1)
    for (int task = 0; task < total; task++) {
        int i = 0;
        while (task >= tasks[i + 1]) i++;
        int n = (task - tasks[i]) / NH, h = (task - tasks[i]) % NH;
        int last = s[i].pos0 + n, first = window > 0 && last - window + 1 > 0 ? last - window + 1 : 0;
        attend_row(s[i].out + (size_t)n * Q + (size_t)h * HD, s[i].q + (size_t)n * Q + (size_t)h * HD,
                   s[i].kc + (size_t)(h / group) * HD, s[i].vc + (size_t)(h / group) * HD, first, last, KV, HD, scale,
                   alibi ? pt_alibi_slope(h, NH) : 0.0f,
                   c->scratch + (size_t)omp_get_thread_num() * c->scratch_per_thread);
    }
}

static void cpu_attention(pt_backend *be, float *out, const float *q, const float *kc, const float *vc,
                          int N, int pos0, int NH, int NKV, int HD, int window, int alibi) {
    if (N >= 16) {
        attention_gemm(be, out, q, kc, vc, N, pos0, NH, NKV, HD, window, alibi);
        return;
    }
    pt_attn_seq one = {out, q, kc, vc, N, pos0};
    cpu_attention_multi(be, &one, 1, NH, NKV, HD, window, alibi);
}

// Per row: mean and biased variance in float, two passes (torch's CPU
// kernel's order differs; the oracle's tolerance covers it). out may alias inp.
static void cpu_layernorm(pt_backend *be, float *out, const float *inp, const float *weight, const float *bias, int N,
                          int C, float eps) {
#pragma omp parallel for num_threads(be->n_threads) if (N > 8)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C, mean;
        float r = cpu_ln_stats(x, C, eps, &mean);
        if (bias)
            for (int c = 0; c < C; c++) y[c] = (x[c] - mean) * r * weight[c] + bias[c];
        else
            for (int c = 0; c < C; c++) y[c] = (x[c] - mean) * r * weight[c];
    }
}

// One loop per kind, so each vectorises (out may alias inp).
static void cpu_gelu(pt_backend *be, float *out, const float *inp, size_t n, pt_gelu kind) {
    const float k = 0.7978845608f;   // sqrt(2/pi)
    if (kind == PT_GELU_ERF) {
#pragma omp parallel for num_threads(be->n_threads) if (n > 65536)
        for (size_t i = 0; i < n; i++) out[i] = 0.5f * inp[i] * (1.0f + erff(inp[i] * 0.7071067812f));
    } else {
#pragma omp parallel for num_threads(be->n_threads) if (n > 65536)
        for (size_t i = 0; i < n; i++) {
            float x = inp[i];
            out[i] = 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
        }
    }
}

static void cpu_swiglu(pt_backend *be, float *out, const float *gate, const float *up, size_t n) {
#pragma omp parallel for num_threads(be->n_threads) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

static void cpu_add(pt_backend *be, float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void cpu_softmax(pt_backend *be, float *out, const float *inp, int N, int V) {
#pragma omp parallel for num_threads(be->n_threads) if (N > 1)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * V;
        float *o = out + (size_t)n * V;
        float mx = -INFINITY;
        double sum = 0.0;  // float sums drift over a 50k vocabulary
        for (int v = 0; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        for (int v = 0; v < V; v++) { o[v] = expf(x[v] - mx); sum += o[v]; }
        float inv = (float)(1.0 / sum);
        for (int v = 0; v < V; v++) o[v] *= inv;
    }
}

static int cpu_fork(pt_backend *be, pt_backend **out, pt_err *err);

static const pt_backend_ops cpu_ops = {
    .name = "cpu", .host_memory = 1,
    .destroy = cpu_destroy, .synchronize = cpu_sync, .supports = cpu_supports,
    .fork = cpu_fork, .set_threads = cpu_set_threads,
    .matmul = cpu_matmul, .matmul_q = cpu_matmul_q, .embedding = cpu_embedding, .rmsnorm = cpu_rmsnorm, .rope = cpu_rope,
    .attention = cpu_attention, .attention_multi = cpu_attention_multi, .swiglu = cpu_swiglu, .add = cpu_add, .softmax = cpu_softmax,
    .layernorm = cpu_layernorm, .gelu = cpu_gelu, .layernorm_backward = cpu_layernorm_backward,
    .gelu_backward = cpu_gelu_backward,
    .gemm = cpu_gemm, .rmsnorm_backward = cpu_rmsnorm_backward, .rope_backward = cpu_rope_backward,
    .attention_backward = cpu_attention_backward, .swiglu_backward = cpu_swiglu_backward,
    .cross_entropy = cpu_cross_entropy, .dropout = cpu_dropout, .embedding_backward = cpu_embedding_backward,
    PT_HOST_OPS,
};

// A backend over ctx c (whose host state the caller set up).
static int cpu_make(pt_backend **out, cpu_ctx *c, int n_threads, pt_err *err) {
    pt_backend *be = calloc(1, sizeof *be);
    if (!be || !c) {
        free(be);
        free(c);
        return pt_fail(err, PT_ERR_NOMEM, "out of memory creating the CPU backend");
    }
    be->ops = &cpu_ops;
    be->n_threads = n_threads < 1 ? 1 : n_threads;
    be->ctx = c;
    *out = be;
    return PT_OK;
}

static int cpu_fork(pt_backend *be, pt_backend **out, pt_err *err) {
    *out = NULL;
    cpu_ctx *c = calloc(1, sizeof *c);
    if (c) host_state_fork(&c->h, &((cpu_ctx *)be->ctx)->h);
    return cpu_make(out, c, be->n_threads, err);
}

int backend_cpu_create(pt_backend **out, int n_threads, pt_err *err) {
    *out = NULL;
    cpu_ctx *c = calloc(1, sizeof *c);
    if (c) c->h.acct = &c->h.own;
    int rc = cpu_make(out, c, n_threads, err);
#ifdef _OPENMP   // without OpenMP (the ThreadSanitizer build) OpenBLAS keeps its own count
    if (rc == PT_OK) openblas_set_num_threads((*out)->n_threads);
#endif
    return rc;
}
