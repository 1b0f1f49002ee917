// backend_host.c - ops shared by the host-memory backends. Base weights are
// float32 there, so the *_w ops are the backend's own float ops; the
// optimizer loops are serial (a few million floats a step: microseconds
// next to the step, and the sum's order stays fixed).
#include "backend/backend_host.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

void host_upload_weight(pt_backend *be, void *dst, const float *src, size_t n) {
    (void)be;
    memcpy(dst, src, n * sizeof(float));
}

void host_zero(pt_backend *be, void *p, size_t bytes) {
    (void)be;
    memset(p, 0, bytes);
}

void host_copy(pt_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    memmove(dst, src, bytes);
}

size_t host_mem_available(pt_backend *be) {
    (void)be;
    return SIZE_MAX;
}

size_t host_mem_peak(pt_backend *be) {
    (void)be;
    return 0;
}

void host_describe(pt_backend *be, char *buf, size_t cap) {
    snprintf(buf, cap, "%s, %d thread%s", be->ops->name, be->n_threads, be->n_threads == 1 ? "" : "s");
}

int host_reserve(pt_backend *be, size_t max_act_floats) {
    (void)be;
    (void)max_act_floats;
    return 0;
}

int host_check(pt_backend *be, pt_err *err) {
    (void)be;
    (void)err;
    return PT_OK;
}

void host_matmul_w(pt_backend *be, float *out, const float *inp, const void *w, const float *bias,
                   int N, int K, int M, float alpha, float beta) {
    be->ops->matmul(be, out, inp, (const float *)w, bias, N, K, M, alpha, beta);
}

void host_matmul_w_backward(pt_backend *be, float *dinp, const float *dout, const void *w, int N, int K, int M,
                            float beta) {
    be->ops->gemm(be, 0, 0, N, K, M, 1.0f, dout, M, (const float *)w, K, beta, dinp, K);
}

void host_embedding_w(pt_backend *be, float *out, const int32_t *tokens, const void *table, int N, int C) {
    be->ops->embedding(be, out, tokens, (const float *)table, N, C);
}

double host_sumsq(pt_backend *be, const float *x, size_t n) {
    (void)be;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return s;
}

void host_scale(pt_backend *be, float *x, size_t n, float s) {
    (void)be;
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

void host_adamw(pt_backend *be, float *p, const float *g, float *m, float *v, size_t n, const pt_adamw_scalars *s) {
    (void)be;
    for (size_t i = 0; i < n; i++) pt_adamw_elem(&p[i], g[i], &m[i], &v[i], s);
}
