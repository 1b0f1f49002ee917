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

// weight_slot (the tensors a family may have) is in arch.h.

// One loader's view of its file(s); ctx is the source's own state.
typedef struct {
    void *ctx;
    pt_model_source kind;   // selects the tensor names (the arch's GGUF or HF ones)
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

// Sets c->desc and c->arch from a HF model_type or GGUF architecture;
// PT_ERR_UNSUPPORTED naming the families peftui runs.
int model_set_arch(pt_config *c, const char *type, const char *path, pt_err *err);
// Checks cfg's numbers are sane (positive, heads divide, head_dim even, ...).
int model_check_config(const pt_config *c, const char *path, pt_err *err);
// Both passes over every slot the config needs; fills m->w, weights_mem, n_params.
int model_load_weights(pt_model *m, const model_source *src, pt_err *err);
// Slot s of a loaded model, layer `layer` (0 for the slots not stacked per
// layer): its float32 weights and PyTorch shape; returns n_dims, 0 where the
// model has no such tensor (a tied head included). For writers (export).
int model_slot(const pt_model *m, weight_slot s, int layer, const float **data, int64_t shape[2]);
int model_slot_per_layer(weight_slot s);
// Whether slot s holds a linear layer's weight (what a Conv1D family stores transposed).
int model_slot_is_linear(weight_slot s);

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
