// block.h - the pieces of a decoder block that differ between families
// (arch.h), as backend calls. infer/forward.c and train/train_graph.c both
// go through these, so a family's norm, activation and fused-QKV layout are
// chosen in one place for inference and training alike.
#ifndef PT_BLOCK_H
#define PT_BLOCK_H

#include "backend/backend.h"
#include "model/arch.h"

// out (N, C) = norm(inp) with weight w (C) and, for LayerNorm, bias b (C).
static inline void block_norm(pt_backend *be, const pt_arch *a, float *out, const float *inp, const float *w,
                              const float *b, int N, int C, float eps) {
    if (a->norm == PT_NORM_LAYER)
        be->ops->layernorm(be, out, inp, w, b, N, C, eps);
    else
        be->ops->rmsnorm(be, out, inp, w, N, C, eps);
}

// dinp (N, C) += d norm(inp) / d inp applied to dout (N, C).
static inline void block_norm_backward(pt_backend *be, const pt_arch *a, float *dinp, const float *dout,
                                       const float *inp, const float *w, int N, int C, float eps) {
    if (a->norm == PT_NORM_LAYER)
        be->ops->layernorm_backward(be, dinp, dout, inp, w, N, C, eps);
    else
        be->ops->rmsnorm_backward(be, dinp, dout, inp, w, N, C, eps);
}

// GELU's form for a GELU MLP.
static inline pt_gelu block_gelu(const pt_arch *a) { return a->mlp == PT_MLP_GELU ? PT_GELU_ERF : PT_GELU_TANH; }

// Whether the MLP has a gate projection (SwiGLU) or only up (GELU).
static inline int block_has_gate(const pt_arch *a) { return a->mlp == PT_MLP_SWIGLU; }

// h (n) = act(gate, up): silu(gate) * up, or gelu_tanh(up) (gate unused).
static inline void block_act(pt_backend *be, const pt_arch *a, float *h, const float *gate, const float *up,
                             size_t n) {
    if (a->mlp == PT_MLP_SWIGLU)
        be->ops->swiglu(be, h, gate, up, n);
    else
        be->ops->gelu(be, h, up, n, block_gelu(a));
}

// dgate, dup (n) from dh (n); dgate untouched without a gate.
static inline void block_act_backward(pt_backend *be, const pt_arch *a, float *dgate, float *dup, const float *dh,
                                      const float *gate, const float *up, size_t n) {
    if (a->mlp == PT_MLP_SWIGLU)
        be->ops->swiglu_backward(be, dgate, dup, dh, gate, up, n);
    else
        be->ops->gelu_backward(be, dup, dh, up, n, block_gelu(a));
}

// q (N, NH*HD), k, v (N, NKV*HD) from a fused projection's output qkv
// (N, NH*HD + 2*NKV*HD) in the family's row layout, by strided copies.
// PT_QKV_HEADS is (NH, 3, HD) per row (so NKV == NH): each head's q, k and v
// side by side, one copy over N*NH rows of HD picks each out.
// PT_QKV_CONCAT is (q | k | v) per row: one copy over N rows each.
static inline void block_split_qkv(pt_backend *be, const pt_arch *a, float *q, float *k, float *v, const float *qkv,
                                   int N, int NH, int NKV, int HD) {
    size_t hd = (size_t)HD, Q = (size_t)NH * HD, KV = (size_t)NKV * HD, W = Q + 2 * KV;
    if (a->qkv == PT_QKV_CONCAT) {
        be->ops->copy2d(be, q, Q, qkv, W, (size_t)N, Q);
        be->ops->copy2d(be, k, KV, qkv + Q, W, (size_t)N, KV);
        be->ops->copy2d(be, v, KV, qkv + Q + KV, W, (size_t)N, KV);
        return;
    }
    size_t rows = (size_t)N * NH;
    be->ops->copy2d(be, q, hd, qkv, 3 * hd, rows, hd);
    be->ops->copy2d(be, k, hd, qkv + hd, 3 * hd, rows, hd);
    be->ops->copy2d(be, v, hd, qkv + 2 * hd, 3 * hd, rows, hd);
}

// The reverse: dqkv (N, NH*HD + 2*NKV*HD) from dq, dk, dv, for the backward.
static inline void block_join_qkv(pt_backend *be, const pt_arch *a, float *dqkv, const float *dq, const float *dk,
                                  const float *dv, int N, int NH, int NKV, int HD) {
    size_t hd = (size_t)HD, Q = (size_t)NH * HD, KV = (size_t)NKV * HD, W = Q + 2 * KV;
    if (a->qkv == PT_QKV_CONCAT) {
        be->ops->copy2d(be, dqkv, W, dq, Q, (size_t)N, Q);
        be->ops->copy2d(be, dqkv + Q, W, dk, KV, (size_t)N, KV);
        be->ops->copy2d(be, dqkv + Q + KV, W, dv, KV, (size_t)N, KV);
        return;
    }
    size_t rows = (size_t)N * NH;
    be->ops->copy2d(be, dqkv, 3 * hd, dq, hd, rows, hd);
    be->ops->copy2d(be, dqkv + hd, 3 * hd, dk, hd, rows, hd);
    be->ops->copy2d(be, dqkv + 2 * hd, 3 * hd, dv, hd, rows, hd);
}

// RoPE (or its backward) on x (N, H*HD) in place, on the leading rot dims of
// each head (rot == HD: all of them). A partial rotary (GPT-NeoX's rotary_pct)
// is the same op on those dims gathered into tmp (N, H*rot): RoPE over rot
// dims with its own frequencies theta^(-2i/rot), exactly HF's.
static inline void block_rope(pt_backend *be, float *x, float *tmp, const int32_t *pos, int N, int H, int HD, int rot,
                              float theta, int backward) {
    void (*op)(pt_backend *, float *, const int32_t *, int, int, int, float) =
        backward ? be->ops->rope_backward : be->ops->rope;
    if (rot >= HD) {
        op(be, x, pos, N, H, HD, theta);
        return;
    }
    size_t rows = (size_t)N * H;
    be->ops->copy2d(be, tmp, (size_t)rot, x, (size_t)HD, rows, (size_t)rot);
    op(be, tmp, pos, N, H, rot, theta);
    be->ops->copy2d(be, x, (size_t)HD, tmp, (size_t)rot, rows, (size_t)rot);
}

// Learned positions (GPT-2): x (N, C) += pos_embd[pos[i]] for each row; tmp (N, C) scratch.
static inline void block_add_positions(pt_backend *be, const pt_arch *a, float *x, float *tmp, const int32_t *pos,
                                       const float *pos_embd, int N, int C) {
    if (a->pos != PT_POS_LEARNED || !pos_embd) return;
    be->ops->embedding(be, tmp, pos, pos_embd, N, C);
    be->ops->add(be, x, x, tmp, (size_t)N * C);
}

#endif
