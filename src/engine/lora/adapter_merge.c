// adapter_merge.c - folding a LoRA adapter into the model's float32 weights
// and taking it out again: W (out, in) += sign * scale * user_scale * B (out, r) @ A (r, in).
// While merged, the forward pass skips the adapter in linear() (a->merged) and
// reads only the float32 weights (m->n_merged > 0: the quantised copies made
// at load no longer match them).
#include "lora/lora.h"

#include <cblas.h>
#include <math.h>
#include <stddef.h>

// The model's weight (out, in) for module (layer, slot).
static float *module_weight(pt_model *m, int l, int s, const pt_lora_module *mod) {
    float *base = NULL;
    switch ((pt_linear)s) {
    case PT_LIN_Q: base = m->w.wq; break;
    case PT_LIN_K: base = m->w.wk; break;
    case PT_LIN_V: base = m->w.wv; break;
    case PT_LIN_O: base = m->w.wo; break;
    case PT_LIN_GATE: base = m->w.w_gate; break;
    case PT_LIN_UP: base = m->w.w_up; break;
    case PT_LIN_DOWN: base = m->w.w_down; break;
    case PT_LIN_QKV: base = m->w.wqkv; break;
    default: return NULL;
    }
    return base ? base + (size_t)l * (size_t)mod->out * (size_t)mod->in : NULL;
}

static int apply(pt_adapter *a, pt_model *m, float sign, float user_scale, pt_err *err) {
    if (a->n_layer != m->cfg.n_layer)
        return pt_fail(err, PT_ERR_ARG, "adapter %s has %d layers, the model %d", a->name, a->n_layer, m->cfg.n_layer);
    if (!isfinite(user_scale)) return pt_fail(err, PT_ERR_ARG, "merge scale must be a finite number");
    for (int l = 0; l < a->n_layer; l++)
        for (int s = 0; s < PT_LIN_COUNT; s++) {
            const pt_lora_module *mod = &a->mods[l * PT_LIN_COUNT + s];
            if (!mod->A) continue;
            float *W = module_weight(m, l, s, mod);
            if (!W) return pt_fail(err, PT_ERR_INTERNAL, "model has no weight for module slot %d", s);
            // W (out, in) += alpha * B (out, r) @ A (r, in)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mod->out, mod->in, mod->r,
                        sign * mod->scale * user_scale, mod->B, mod->r, mod->A, mod->in, 1.0f, W, mod->in);
        }
    return PT_OK;
}

int adapter_merge(pt_adapter *a, pt_model *m, float user_scale, pt_err *err) {
    if (a->merged) return pt_fail(err, PT_ERR_ARG, "adapter %s is already merged", a->name);
    if (a->save_embed || a->save_head)  // the base may tie them: one slice cannot take two copies
        return pt_fail(err, PT_ERR_UNSUPPORTED, "adapter %s saves whole modules (modules_to_save), which cannot be merged "
                       "into the loaded base in memory; use it unmerged, or write a merged copy with "
                       "`peftui export --format merged`", a->name);
    for (int i = 0; i < a->n_layer * PT_LIN_COUNT; i++)
        if (a->mods[i].bias)  // unmerging would need the base's bias back
            return pt_fail(err, PT_ERR_UNSUPPORTED, "adapter %s trains biases (bias=\"%s\"), which cannot be merged into "
                           "the loaded base in memory; use it unmerged, or write a merged copy with `peftui export "
                           "--format merged`", a->name, a->cfg.bias == PT_BIAS_ALL ? "all" : "lora_only");
    int rc = apply(a, m, 1.0f, user_scale, err);
    if (rc) return rc;
    a->merged = 1;
    m->n_merged++;
    return PT_OK;
}

int adapter_unmerge(pt_adapter *a, pt_model *m, float user_scale, pt_err *err) {
    if (!a->merged) return pt_fail(err, PT_ERR_ARG, "adapter %s is not merged", a->name);
    int rc = apply(a, m, -1.0f, user_scale, err);
    if (rc) return rc;
    a->merged = 0;
    if (m->n_merged > 0) m->n_merged--;
    return PT_OK;
}
