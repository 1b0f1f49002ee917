// backend_host.h - the ops every host-memory backend (cpu, cpu-naive) shares:
// memory, float32 base weights read through the backend's own float ops, and
// the optimizer loops. Not part of the public API.
#ifndef PT_BACKEND_HOST_H
#define PT_BACKEND_HOST_H

#include "backend/backend.h"

void host_upload_weight(pt_backend *be, void *dst, const float *src, size_t n);
void host_zero(pt_backend *be, void *p, size_t bytes);
void host_copy(pt_backend *be, void *dst, const void *src, size_t bytes);
size_t host_mem_available(pt_backend *be);
size_t host_mem_peak(pt_backend *be);
void host_describe(pt_backend *be, char *buf, size_t cap);
int host_reserve(pt_backend *be, size_t max_act_floats);
int host_check(pt_backend *be, pt_err *err);
void host_matmul_w(pt_backend *be, float *out, const float *inp, const void *w, const float *bias,
                   int N, int K, int M, float alpha, float beta);
void host_matmul_w_backward(pt_backend *be, float *dinp, const float *dout, const void *w, int N, int K, int M,
                            float beta);
void host_embedding_w(pt_backend *be, float *out, const int32_t *tokens, const void *table, int N, int C);
double host_sumsq(pt_backend *be, const float *x, size_t n);
void host_scale(pt_backend *be, float *x, size_t n, float s);
void host_adamw(pt_backend *be, float *p, const float *g, float *m, float *v, size_t n, const pt_adamw_scalars *s);

// The table entries above, for a designated initializer: ops = { ..., PT_HOST_OPS };
#define PT_HOST_OPS                                                                                           \
    .weight_dtype = PT_DT_F32, .upload_weight = host_upload_weight, .zero = host_zero, .copy = host_copy,      \
    .mem_available = host_mem_available, .mem_peak = host_mem_peak, .describe = host_describe, .reserve = host_reserve, .check = host_check,                        \
    .matmul_w = host_matmul_w, .matmul_w_backward = host_matmul_w_backward, .embedding_w = host_embedding_w, \
    .sumsq = host_sumsq, .scale = host_scale, .adamw = host_adamw

#endif
