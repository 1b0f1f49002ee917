// model_internal.h - what model_load.c shares with its two sources,
// model_gguf.c and model_hf.c. Not part of the public API.
//
// Loading runs in two passes over the same list of weight slots: first every
// tensor is found and checked (type, shape) so that a bad file fails before
// anything big is allocated, then the weights are allocated in one block and
// each tensor converted into its slice.
#ifndef PT_MODEL_INTERNAL_H
#define PT_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "model/model.h"

typedef enum {
    W_TOK_EMBD, W_ATTN_NORM, W_Q, W_K, W_V, W_BQ, W_BK, W_BV, W_O,
    W_FFN_NORM, W_GATE, W_UP, W_DOWN, W_OUT_NORM, W_LM_HEAD, W_COUNT
} weight_slot;

// One loader's view of its file(s); ctx is the source's own state.
typedef struct {
    void *ctx;
    pt_model_source kind;   // selects the tensor names (GGUF or HF)
    int unpermute_qk;       // GGUF llama-style files: undo the converter's q/k row order
    // Checks that tensor `name` exists, has a loadable type and the PyTorch
    // shape (n_dims, shape). Errors: missing (PT_ERR_FORMAT), type
    // (PT_ERR_UNSUPPORTED), shape (PT_ERR_FORMAT), each naming the tensor.
    int (*check)(void *ctx, const char *name, int n_dims, const int64_t *shape, pt_err *err);
    // Converts checked tensor `name` to float32 into dst. n_head > 0: the rows
    // come in GGUF's RoPE order for n_head heads; write them in HF order.
    int (*read)(void *ctx, const char *name, float *dst, int n_head, pt_err *err);
} model_source;

int model_load_gguf(pt_model *m, const char *path, pt_err *err);
int model_load_hf(pt_model *m, const char *dir, pt_err *err);

// "llama", "mistral", "qwen2", "smollm" -> 1
int model_arch_supported(const char *arch);
// Checks cfg's numbers are sane (positive, heads divide, head_dim even, ...).
int model_check_config(const pt_config *c, const char *path, pt_err *err);
// Both passes over every slot the config needs; fills m->w, weights_mem, n_params.
int model_load_weights(pt_model *m, const model_source *src, pt_err *err);
// Appends one entry to m->tensors (for `info`); shape in PyTorch order.
int model_add_desc(pt_model *m, const char *name, const char *type, int n_dims,
                   const int64_t *shape, pt_err *err);

// Where GGUF row r of a q/k weight with heads of hd rows goes in HF order:
// the converter stored each head's rows as (hd/2, 2) pairs, HF as (2, hd/2).
static inline int64_t model_unpermute_row(int64_t r, int64_t hd) {
    int64_t h = r / hd, w = r % hd;
    return h * hd + (w % 2) * (hd / 2) + w / 2;
}

#endif
