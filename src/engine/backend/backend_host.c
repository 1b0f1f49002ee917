// backend_host.c - ops shared by the host-memory backends. Base weights are
// float32 there, so the *_w ops are the backend's own float ops; the
// optimizer loops are serial (a few million floats a step: microseconds
// next to the step, and the sum's order stays fixed).
#include "backend/backend_host.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- memory: every buffer carries its size and its block in a header ----
// calloc, not aligned_alloc + memset: a large block comes zeroed from the
// kernel page by page as it is first touched, so a KV cache sized for a long
// context costs only the pages a conversation fills.

typedef struct {
    void *block;   // what calloc gave
    size_t bytes;  // counted in the account
} host_hdr;

void mem_acct_add(pt_mem_acct *a, size_t bytes) {
    size_t held = __atomic_add_fetch(&a->held, bytes, __ATOMIC_RELAXED);
    size_t peak = __atomic_load_n(&a->peak, __ATOMIC_RELAXED);
    while (held > peak && !__atomic_compare_exchange_n(&a->peak, &peak, held, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

void mem_acct_sub(pt_mem_acct *a, size_t bytes) { __atomic_sub_fetch(&a->held, bytes, __ATOMIC_RELAXED); }

void *host_alloc(pt_backend *be, size_t bytes) {
    size_t n = (bytes + 63) & ~(size_t)63;   // 64-byte aligned for AVX-512 loads
    unsigned char *block = calloc(1, (n ? n : 64) + sizeof(host_hdr) + 64);
    if (!block) return NULL;
    uintptr_t at = ((uintptr_t)block + sizeof(host_hdr) + 63) & ~(uintptr_t)63;
    host_hdr h = {block, n};
    memcpy((unsigned char *)at - sizeof h, &h, sizeof h);
    mem_acct_add(host_state(be)->acct, n);
    return (void *)at;
}

void host_free(pt_backend *be, void *p) {
    if (!p) return;
    host_hdr h;
    memcpy(&h, (unsigned char *)p - sizeof h, sizeof h);
    mem_acct_sub(host_state(be)->acct, h.bytes);
    free(h.block);
}

size_t host_mem_held(pt_backend *be) { return __atomic_load_n(&host_state(be)->acct->held, __ATOMIC_RELAXED); }
size_t host_mem_peak(pt_backend *be) { return __atomic_load_n(&host_state(be)->acct->peak, __ATOMIC_RELAXED); }
void host_mem_reset_peak(pt_backend *be) {
    pt_mem_acct *a = host_state(be)->acct;
    __atomic_store_n(&a->peak, __atomic_load_n(&a->held, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

// ---- errors ----

void host_fail(pt_backend *be, pt_status code, const char *fmt, ...) {
    pt_host_state *h = host_state(be);
    if (h->err_code != PT_OK) return;
    h->err_code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->err_msg, sizeof h->err_msg, fmt, ap);
    va_end(ap);
}

void host_state_fork(pt_host_state *child, const pt_host_state *parent) {
    memset(child, 0, sizeof *child);
    child->acct = parent->acct;
}

void host_set_threads_single(pt_backend *be, int n_threads) { (void)be; (void)n_threads; }

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


void host_describe(pt_backend *be, char *buf, size_t cap) {
    snprintf(buf, cap, "%s, %d thread%s", be->ops->name, be->n_threads, be->n_threads == 1 ? "" : "s");
}

int host_reserve(pt_backend *be, size_t max_act_floats) {
    (void)be;
    (void)max_act_floats;
    return 0;
}

// The first error since the last check, then cleared: a host op fails only
// for want of scratch memory, which the next call may find.
int host_check(pt_backend *be, pt_err *err) {
    pt_host_state *h = host_state(be);
    if (h->err_code == PT_OK) return PT_OK;
    int rc = pt_fail(err, h->err_code, "%s: %s", be->ops->name, h->err_msg);
    h->err_code = PT_OK;
    return rc;
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

void host_copy2d(pt_backend *be, float *dst, size_t dst_stride, const float *src, size_t src_stride, size_t rows,
                 size_t width) {
    (void)be;
    for (size_t r = 0; r < rows; r++) memcpy(dst + r * dst_stride, src + r * src_stride, width * sizeof(float));
}
