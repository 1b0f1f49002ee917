// weights_dev.h - a model's frozen base weights as a backend holds them: on
// host-memory backends the model's own float32 arrays (aliased, no copy); on
// a device backend one upload, the linear and embedding weights in the
// backend's weight_dtype (bf16 on CUDA; GGUF Q4_0/Q4_1/Q8_0 weights go up
// as their blocks and are expanded there) and the small norms and biases in
// float32. A runtime and a training graph can share one pt_bweights, so one
// process holds one copy of the base on the device.
#ifndef PT_WEIGHTS_DEV_H
#define PT_WEIGHTS_DEV_H

#include "backend/backend.h"
#include "model/model.h"

typedef struct {
    // weight_dtype, shapes as in pt_weights (per layer: base + l * rows * cols * esz bytes)
    const void *tok_embd, *wqkv, *wq, *wk, *wv, *wo, *w_gate, *w_up, *w_down, *lm_head;
    // float32 (NULL where the model has none)
    const float *attn_norm, *ffn_norm, *out_norm, *bq, *bk, *bv;
    const float *pos_embd, *emb_norm, *emb_norm_b, *attn_norm_b, *ffn_norm_b, *out_norm_b, *bqkv, *bo, *b_up, *b_down;
    size_t esz;            // bytes per weight element
    void *wmem;            // backend allocations owning the above, NULL when aliased
    size_t wmem_bytes;     // of wmem
    float *fmem;
    pt_backend *be;
} pt_bweights;

// Bytes the base needs on a backend storing weights as dt (0 extra for aliasing backends).
size_t bweights_bytes(const pt_model *m, pt_dtype dt);
// Uploads (or aliases) m's weights; fails with the figure needed when the
// backend has too little memory left.
int bweights_init(pt_bweights *bw, pt_backend *be, const pt_model *m, pt_err *err);
void bweights_free(pt_bweights *bw);

// Layer l's slice of a stacked weight of `per_layer` elements per layer.
static inline const void *bw_layer(const pt_bweights *bw, const void *p, int l, size_t per_layer) {
    return p ? (const char *)p + (size_t)l * per_layer * bw->esz : NULL;
}

#endif
