// backend_host.h - what every host-memory backend (cpu, cpu-naive, emu)
// shares: memory with an account of bytes held (shared with its forks), the
// first error an op met, float32 base weights read through the backend's own
// float ops, and the optimizer loops. Not part of the public API.
#ifndef PT_BACKEND_HOST_H
#define PT_BACKEND_HOST_H

#include "backend/backend.h"

// Bytes held through alloc and their peak: one per root backend, its forks
// point at it. Updated with atomics (lanes allocate from several threads).
typedef struct {
    size_t held, peak;
} pt_mem_acct;

void mem_acct_add(pt_mem_acct *a, size_t bytes);
void mem_acct_sub(pt_mem_acct *a, size_t bytes);

// Every host backend's ctx starts with this.
typedef struct {
    pt_mem_acct *acct;     // &own in a root, the root's in a fork
    pt_mem_acct own;
    pt_status err_code;    // first error since the last check; PT_OK: none
    char err_msg[PT_ERR_MSG_LEN];
} pt_host_state;

static inline pt_host_state *host_state(pt_backend *be) { return (pt_host_state *)be->ctx; }
// Records an op's failure (the first one is kept) for the next check.
void host_fail(pt_backend *be, pt_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// A fork's state: the same account as parent's, no error.
void host_state_fork(pt_host_state *child, const pt_host_state *parent);

void *host_alloc(pt_backend *be, size_t bytes);   // 64-byte aligned, zeroed, counted
void host_free(pt_backend *be, void *p);
void host_upload_weight(pt_backend *be, void *dst, const float *src, size_t n);
void host_zero(pt_backend *be, void *p, size_t bytes);
void host_copy(pt_backend *be, void *dst, const void *src, size_t bytes);
size_t host_mem_available(pt_backend *be);
size_t host_mem_held(pt_backend *be);
size_t host_mem_peak(pt_backend *be);
void host_mem_reset_peak(pt_backend *be);
void host_describe(pt_backend *be, char *buf, size_t cap);
int host_reserve(pt_backend *be, size_t max_act_floats);
int host_check(pt_backend *be, pt_err *err);
void host_set_threads_single(pt_backend *be, int n_threads);   // single-threaded backends: stays 1
void host_matmul_w(pt_backend *be, float *out, const float *inp, const void *w, const float *bias,
                   int N, int K, int M, float alpha, float beta);
void host_matmul_w_backward(pt_backend *be, float *dinp, const float *dout, const void *w, int N, int K, int M,
                            float beta);
void host_embedding_w(pt_backend *be, float *out, const int32_t *tokens, const void *table, int N, int C);
double host_sumsq(pt_backend *be, const float *x, size_t n);
void host_scale(pt_backend *be, float *x, size_t n, float s);
void host_adamw(pt_backend *be, float *p, const float *g, float *m, float *v, size_t n, const pt_adamw_scalars *s);

// Strided rows (backend.h copy2d): plain memcpy per row; nothing to compute, so one version serves both.
void host_copy2d(pt_backend *be, float *dst, size_t dst_stride, const float *src, size_t src_stride, size_t rows,
                 size_t width);

// The table entries above, for a designated initializer: ops = { ..., PT_HOST_OPS };
#define PT_HOST_OPS                                                                                           \
    .alloc = host_alloc, .free = host_free, .upload = host_copy, .download = host_copy,                       \
    .weight_dtype = PT_DT_F32, .upload_weight = host_upload_weight, .zero = host_zero, .copy = host_copy,      \
    .mem_available = host_mem_available, .mem_held = host_mem_held, .mem_peak = host_mem_peak,                \
    .mem_reset_peak = host_mem_reset_peak, .describe = host_describe, .reserve = host_reserve,                \
    .check = host_check, .matmul_w = host_matmul_w, .matmul_w_backward = host_matmul_w_backward,              \
    .embedding_w = host_embedding_w, .sumsq = host_sumsq, .scale = host_scale, .adamw = host_adamw,        \
    .copy2d = host_copy2d

#endif
