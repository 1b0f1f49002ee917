// backend_emu.c - "emu": the naive oracle dressed as a device backend, so the
// CPU (and CI, which has no GPU) runs every code path the CUDA backend takes:
//   host_memory 0  the engine may not alias model weights or read buffers
//                  from the host; it must upload, download and mirror;
//   bf16 weights   base weights are stored as bf16, and the *_w ops round
//                  their activation operand to bf16 too, as the CUDA backend
//                  feeds cuBLAS, accumulating in double.
// So emu's numbers are the reference for the CUDA backend's, and its
// distance from the cpu backend is the bf16 error the engine must tolerate.
// (It cannot stop host code from dereferencing a buffer: that the engine
// takes the device path is what it checks, not that it never touches one.)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/backend_host.h"
#include "io/dequant.h"

typedef struct {
    pt_host_state h;        // first: memory account and error slot (backend_host.h)
    pt_backend_ops ops;     // naive's table with the overrides below
    pt_backend_ops naive;   // naive's own
} emu_ctx;

static const pt_backend_ops *naive_of(pt_backend *be) { return &((emu_ctx *)be->ctx)->naive; }

static void emu_destroy(pt_backend *be) {
    free(be->ctx);
    free(be);
}

static void emu_upload_weight(pt_backend *be, void *dst, const float *src, size_t n) {
    (void)be;
    uint16_t *d = dst;
    for (size_t i = 0; i < n; i++) d[i] = pt_f32_to_bf16(src[i]);
}

static void emu_upload_weight_q(pt_backend *be, void *dst, const void *blocks, int wtype, int rows, int cols,
                                size_t row_bytes) {
    float *row = malloc(sizeof(float) * (size_t)(cols > 0 ? cols : 1));
    if (!row) {
        host_fail(be, PT_ERR_NOMEM, "upload_weight_q: out of memory");
        return;
    }
    for (int r = 0; r < rows; r++) {
        dequant_row((ggml_type)wtype, (const unsigned char *)blocks + (size_t)r * row_bytes, row, (uint64_t)cols);
        emu_upload_weight(be, (uint16_t *)dst + (size_t)r * cols, row, (size_t)cols);
    }
    free(row);
}

// (rows, cols) floats: bf16 table widened, or float32 rounded through bf16
static float *widen(const uint16_t *w, size_t n) {
    float *f = malloc(sizeof(float) * (n ? n : 1));
    if (f)
        for (size_t i = 0; i < n; i++) f[i] = pt_bf16_to_f32(w[i]);
    return f;
}
static float *round_bf16(const float *x, size_t n) {
    float *f = malloc(sizeof(float) * (n ? n : 1));
    if (f)
        for (size_t i = 0; i < n; i++) f[i] = pt_bf16_to_f32(pt_f32_to_bf16(x[i]));
    return f;
}

static void emu_matmul_w(pt_backend *be, float *out, const float *inp, const void *w, const float *bias,
                         int N, int K, int M, float alpha, float beta) {
    float *x = round_bf16(inp, (size_t)N * K), *wf = widen(w, (size_t)M * K);
    if (x && wf) naive_of(be)->matmul(be, out, x, wf, bias, N, K, M, alpha, beta);
    else host_fail(be, PT_ERR_NOMEM, "matmul_w: out of memory for the bf16 operands");
    free(x);
    free(wf);
}

static void emu_matmul_w_backward(pt_backend *be, float *dinp, const float *dout, const void *w, int N, int K, int M,
                                  float beta) {
    float *d = round_bf16(dout, (size_t)N * M), *wf = widen(w, (size_t)M * K);
    if (d && wf) naive_of(be)->gemm(be, 0, 0, N, K, M, 1.0f, d, M, wf, K, beta, dinp, K);
    else host_fail(be, PT_ERR_NOMEM, "matmul_w_backward: out of memory for the bf16 operands");
    free(d);
    free(wf);
}

static void emu_embedding_w(pt_backend *be, float *out, const int32_t *tokens, const void *table, int N, int C) {
    (void)be;
    const uint16_t *t = table;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) out[(size_t)n * C + c] = pt_bf16_to_f32(t[(size_t)tokens[n] * C + c]);
}

static void emu_describe(pt_backend *be, char *buf, size_t cap) {
    (void)be;
    snprintf(buf, cap, "emu: the naive oracle with device memory rules and bf16 weights (for tests)");
}

static int emu_fork(pt_backend *be, pt_backend **out, pt_err *err);

// A backend over a copy of ops (the root's table, or a parent's).
static int emu_make(pt_backend **out, const pt_backend_ops *ops, const pt_backend_ops *naive,
                    const pt_host_state *parent, pt_err *err) {
    *out = NULL;
    pt_backend *be = calloc(1, sizeof *be);
    emu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return pt_fail(err, PT_ERR_NOMEM, "out of memory creating the emu backend");
    }
    if (parent) host_state_fork(&c->h, parent);
    else c->h.acct = &c->h.own;
    c->ops = *ops;
    c->naive = *naive;
    be->ops = &c->ops;
    be->ctx = c;
    be->n_threads = 1;
    *out = be;
    return PT_OK;
}

static int emu_fork(pt_backend *be, pt_backend **out, pt_err *err) {
    emu_ctx *c = be->ctx;
    return emu_make(out, &c->ops, &c->naive, &c->h, err);
}

int backend_emu_create(pt_backend **out, pt_err *err) {
    *out = NULL;
    pt_backend *nb = NULL;
    int rc = backend_naive_create(&nb, err);
    if (rc) return rc;
    pt_backend_ops naive = *nb->ops, ops;
    backend_destroy(nb);
    ops = naive;
    ops.name = "emu";
    ops.host_memory = 0;
    ops.destroy = emu_destroy;
    ops.fork = emu_fork;
    ops.weight_dtype = PT_DT_BF16;
    ops.upload_weight = emu_upload_weight;
    ops.upload_weight_q = emu_upload_weight_q;
    ops.matmul_w = emu_matmul_w;
    ops.matmul_w_backward = emu_matmul_w_backward;
    ops.embedding_w = emu_embedding_w;
    ops.describe = emu_describe;
    ops.matmul_q = NULL;   // as CUDA: the engine uses quantised blocks on host backends only
    return emu_make(out, &ops, &naive, NULL, err);
}
