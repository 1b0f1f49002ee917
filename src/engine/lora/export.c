// export.c - an adapter out as a PEFT folder, as a merged Hugging Face model,
// or as a llama.cpp GGUF LoRA (see export.h for what each holds), and the
// warnings that say what a target would get wrong.
#include "lora/export.h"
#include "core/floatfmt.h"
#include "core/fileio.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "io/gguf_writer.h"
#include "io/mapped_file.h"
#include "model/model_internal.h"
#include "io/safetensors.h"

// Files written as NAME.new, renamed to NAME together at the end (core/fileio.h).
typedef struct {
    pt_staged st;
    char tmp[1120];  // the last name pending_add gave out
} pending;

static const char *pending_add(pending *p, const char *dir, const char *name) {
    return pt_staged_add(&p->st, dir, name, p->tmp, sizeof p->tmp);
}

// ---------------------------------------------------------------- formats

static const char *const FORMAT_NAMES[] = {"peft", "merged", "gguf-lora"};

int export_format_parse(const char *name, pt_export_format *out, pt_err *err) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, FORMAT_NAMES[i])) {
            *out = (pt_export_format)i;
            return PT_OK;
        }
    return pt_fail(err, PT_ERR_ARG, "unknown export format '%s' (peft, merged, gguf-lora)", name);
}

const char *export_format_name(pt_export_format f) {
    return (unsigned)f < 3 ? FORMAT_NAMES[f] : "?";
}

__attribute__((format(printf, 2, 3))) static void warn(pt_export_warnings *w, const char *fmt, ...) {
    if (!w || w->n >= PT_EXPORT_MAX_WARNINGS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg[w->n++], sizeof w->msg[0], fmt, ap);
    va_end(ap);
}

// The architecture name llama.cpp gives this base (convert_hf_to_gguf.py): the
// family's (arch.h: GPT-BigCode is "starcoder"); a Hugging Face Mistral converts
// to "llama"; a GGUF SmolLM keeps its own name.
static const char *gguf_arch(const pt_model *m) {
    if (!strcmp(m->cfg.arch, "smollm")) return "smollm";
    if (m->source != PT_SRC_GGUF && !strcmp(m->cfg.arch, "mistral")) return "llama";
    return arch_gguf_type(m->cfg.desc);
}

// Factor llama.cpp's alpha/r misses for module mod: its scale times the user
// scale over alpha / r.
static double fold_factor(const pt_adapter *a, const pt_lora_module *mod, float scale) {
    return (double)mod->scale * scale * mod->r / a->cfg.lora_alpha;
}

static int base_is_quantised(const pt_model *m) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].type, "F32")) return 1;
    return 0;
}

int export_check(const pt_adapter *a, const pt_model *m, pt_export_format f, float scale, pt_export_warnings *w,
                 pt_err *err) {
    if (w) w->n = 0;
    if ((unsigned)f > PT_EXPORT_GGUF_LORA) return pt_fail(err, PT_ERR_ARG, "unknown export format");
    if (!isfinite(scale)) return pt_fail(err, PT_ERR_ARG, "export scale must be a finite number");
    if (a->n_layer != m->cfg.n_layer)
        return pt_fail(err, PT_ERR_ARG, "adapter %s has %d layers, the model %d", a->name, a->n_layer, m->cfg.n_layer);
    int nmods = 0, folded = 0;
    for (int i = 0; i < a->n_layer * PT_LIN_COUNT; i++) {
        const pt_lora_module *mod = &a->mods[i];
        if (!mod->A) continue;
        nmods++;
        if (fabs(fold_factor(a, mod, scale) - 1.0) > 1e-6) folded++;
    }
    int n_bias = 0;
    for (int i = 0; i < a->n_layer * PT_LIN_COUNT; i++) n_bias += a->mods[i].bias != NULL;
    if (n_bias && f == PT_EXPORT_GGUF_LORA)
        warn(w, "llama.cpp's LoRA file has no place for biases: the %d trained biases (bias=\"%s\") are not carried; "
             "use --format merged or peft to keep them", n_bias, a->cfg.bias == PT_BIAS_ALL ? "all" : "lora_only");
    if ((a->save_embed || a->save_head) && f == PT_EXPORT_GGUF_LORA)  // never dropped silently
        warn(w, "llama.cpp's LoRA file has no place for whole modules: the trained copies of %s%s%s "
             "(modules_to_save) are not carried; use --format merged or peft to keep them",
             a->save_embed ? "embed_tokens" : "", a->save_embed && a->save_head ? " and " : "",
             a->save_head ? "lm_head" : "");
    if (f == PT_EXPORT_PEFT && scale != 1.0f)
        warn(w, "PEFT has no user scale: the scale %g is folded into every lora_B (the file is no longer the trained "
             "adapter)", scale);
    if (f == PT_EXPORT_GGUF_LORA && folded) {
        const char *why = a->cfg.use_rslora ? "use_rslora (alpha/sqrt(r))"
                          : a->cfg.n_alpha_pattern ? "alpha_pattern" : "the user scale";
        warn(w, "llama.cpp scales every module by alpha/r with one alpha (%g): %d of %d modules differ (%s), so their "
             "scale ratio is folded into lora_b; --lora-scaled still scales linearly", a->cfg.lora_alpha, folded, nmods,
             why);
    }
    if (f == PT_EXPORT_MERGED) {
        if (base_is_quantised(m))
            warn(w, "the base is stored quantised (%s); the merged model is float32 of the dequantised weights "
                 "(%.0f MiB), not the original file's precision", m->n_tensors ? m->tensors[0].type : "?",
                 (double)m->n_params * 4 / 1048576.0);
        int others = m->n_merged - (a->merged ? 1 : 0);
        if (others > 0)
            warn(w, "%d other adapter(s) are merged into the model and are part of the export", others);
        if (a->merged && scale != 1.0f)
            warn(w, "the adapter is already merged into the model at its own scale; the scale %g is not applied again",
                 scale);
    }
    return PT_OK;
}

// ---------------------------------------------------------------- peft

static int export_peft(const pt_adapter *a, const pt_model *m, float scale, const char *out, pt_err *err) {
    if (scale == 1.0f) return adapter_save(a, m, out, err);
    pt_adapter c = *a;  // shallow: same config; own params with B scaled
    c.params = malloc(a->n_params * sizeof(float));
    c.mods = malloc(sizeof *c.mods * (size_t)a->n_layer * PT_LIN_COUNT);
    int rc;
    if (!c.params || !c.mods) {
        rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", out);
        goto done;
    }
    memcpy(c.params, a->params, a->n_params * sizeof(float));
    memcpy(c.mods, a->mods, sizeof *c.mods * (size_t)a->n_layer * PT_LIN_COUNT);
    for (int i = 0; i < a->n_layer * PT_LIN_COUNT; i++) {
        pt_lora_module *mod = &c.mods[i];
        if (!mod->A) continue;
        mod->A = c.params + (a->mods[i].A - a->params);
        mod->B = c.params + (a->mods[i].B - a->params);
        for (size_t k = 0; k < (size_t)mod->out * mod->r; k++) mod->B[k] *= scale;
    }
    rc = adapter_save(&c, m, out, err);
done:
    free(c.params);
    free(c.mods);
    return rc;
}

// ---------------------------------------------------------------- merged


static char *hf_config_json(const pt_model *m, int tied) {
    const pt_config *c = &m->cfg;
    int qwen = !strcmp(c->arch, "qwen2"), mistral = !strcmp(c->arch, "mistral");
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON *archs = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(archs, cJSON_CreateString(qwen ? "Qwen2ForCausalLM" : mistral ? "MistralForCausalLM"
                                                                                      : "LlamaForCausalLM"));
    cJSON_AddStringToObject(o, "model_type", qwen ? "qwen2" : mistral ? "mistral" : "llama");
    cJSON_AddNumberToObject(o, "hidden_size", c->n_embd);
    cJSON_AddNumberToObject(o, "intermediate_size", c->n_ff);
    cJSON_AddNumberToObject(o, "num_hidden_layers", c->n_layer);
    cJSON_AddNumberToObject(o, "num_attention_heads", c->n_head);
    cJSON_AddNumberToObject(o, "num_key_value_heads", c->n_head_kv);
    cJSON_AddNumberToObject(o, "head_dim", c->head_dim);
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_ctx);
    cJSON_AddNumberToObject(o, "rms_norm_eps", pt_float_shortest(c->rms_eps));
    // transformers 4 reads rope_theta, 5 rope_parameters; both are written
    cJSON_AddNumberToObject(o, "rope_theta", pt_float_shortest(c->rope_theta));
    cJSON *rp = cJSON_AddObjectToObject(o, "rope_parameters");
    cJSON_AddNumberToObject(rp, "rope_theta", pt_float_shortest(c->rope_theta));
    cJSON_AddStringToObject(rp, "rope_type", "default");
    cJSON_AddStringToObject(o, "hidden_act", "silu");
    cJSON_AddBoolToObject(o, "tie_word_embeddings", tied);
    if (!qwen) {
        cJSON_AddBoolToObject(o, "attention_bias", c->has_qkv_bias);
        cJSON_AddBoolToObject(o, "mlp_bias", 0);
    }
    if (qwen) cJSON_AddBoolToObject(o, "use_sliding_window", 0);
    if (mistral) {
        if (c->sliding_window > 0) cJSON_AddNumberToObject(o, "sliding_window", c->sliding_window);
        else cJSON_AddNullToObject(o, "sliding_window");
    }
    int bos = m->tok ? tokenizer_bos(m->tok) : -1, eos = m->tok ? tokenizer_eos(m->tok) : -1;
    if (bos >= 0) cJSON_AddNumberToObject(o, "bos_token_id", bos);
    if (eos >= 0) cJSON_AddNumberToObject(o, "eos_token_id", eos);
    cJSON_AddStringToObject(o, "torch_dtype", "float32");
    cJSON_AddStringToObject(o, "dtype", "float32");
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

// The linear layer whose weight is in slot s, or PT_LIN_COUNT.
static pt_linear linear_of_slot(weight_slot s) {
    for (int i = 0; i < PT_LIN_COUNT; i++)
        if (arch_weight_slot((pt_linear)i) == s) return (pt_linear)i;
    return PT_LIN_COUNT;
}

// The linear layer whose bias is in slot s, or PT_LIN_COUNT.
static pt_linear linear_of_bias(weight_slot s) {
    for (int i = 0; i < PT_LIN_COUNT; i++)
        if (arch_bias_slot((pt_linear)i) == s) return (pt_linear)i;
    return PT_LIN_COUNT;
}

// config.json of the merged model: a Hugging Face base's own (every flag of
// its family kept), float32 and tied as written; a GGUF base's made up.
static int merged_config_json(const pt_model *m, int tied, char **out, pt_err *err) {
    *out = NULL;
    if (m->source != PT_SRC_HF) {
        *out = hf_config_json(m, tied);
        return *out ? PT_OK : pt_fail(err, PT_ERR_NOMEM, "out of memory");
    }
    char src[1200], *text = NULL;
    snprintf(src, sizeof src, "%s/config.json", m->path);
    int rc = pt_read_file(src, &text, NULL, err);
    if (rc) return rc;
    cJSON *o = cJSON_Parse(text);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        free(text);
        return pt_fail(err, PT_ERR_FORMAT, "%s: no longer a JSON object; the merged model needs the base's config", src);
    }
    // Nothing to change (the head stays as tied as the base's, no quantization
    // config): the base's own text, byte for byte. cJSON would print 1.0 as
    // 1, which strict configs (MPT's embedding_fraction) refuse.
    if (tied == m->cfg.tied_embeddings && !cJSON_GetObjectItemCaseSensitive(o, "quantization_config")) {
        cJSON_Delete(o);
        *out = text;
        return PT_OK;
    }
    free(text);
    cJSON_DeleteItemFromObject(o, "quantization_config");
    cJSON_DeleteItemFromObject(o, "tie_word_embeddings");
    cJSON_AddBoolToObject(o, "tie_word_embeddings", tied);
    cJSON_DeleteItemFromObject(o, "torch_dtype");
    cJSON_DeleteItemFromObject(o, "dtype");
    cJSON_AddStringToObject(o, "torch_dtype", "float32");
    cJSON_AddStringToObject(o, "dtype", "float32");
    *out = cJSON_Print(o);
    cJSON_Delete(o);
    return *out ? PT_OK : pt_fail(err, PT_ERR_NOMEM, "out of memory");
}
// (*out is freed with cJSON_free either way: no cJSON hooks are set, so that is free)

static int export_merged(const pt_adapter *a, const pt_model *m, float scale, const char *out, pt_err *err) {
    const pt_config *c = &m->cfg;
    const pt_weights *w = &m->w;
    size_t C = c->n_embd, V = c->vocab_size, L = c->n_layer;
    pending pend = {0};
    st_write_tensor *ts = NULL;
    char (*names)[128] = NULL;
    float *merged = NULL;
    char *cfg_json = NULL;
    int rc, n = 0;
    if ((rc = pt_mkdir_p(out, err))) return rc;
    // the targeted weights with B @ A added, in one block (the model is not touched)
    // (a Conv1D family: every linear weight, written back as (in, out))
    size_t total = 0;
    for (int s = 0; s < W_COUNT; s++) {
        if (!c->desc->hf[s] || !model_slot_is_linear((weight_slot)s)) continue;
        pt_linear lin = linear_of_slot((weight_slot)s);
        for (int l = 0; l < (int)L; l++) {
            const float *data;
            int64_t shape[2];
            if (!model_slot(m, (weight_slot)s, l, &data, shape)) continue;
            if (c->desc->conv1d || (a->mods[(size_t)l * PT_LIN_COUNT + lin].A && !a->merged))
                total += (size_t)shape[0] * (size_t)shape[1];
        }
    }
    size_t max_t = (size_t)W_COUNT * L + 4;
    ts = calloc(max_t, sizeof *ts);
    names = calloc(max_t, sizeof *names);
    size_t nb = 0;   // trained biases, written as base + scale (trained - base)
    for (int i = 0; i < a->n_layer * PT_LIN_COUNT; i++) nb += a->mods[i].bias ? (size_t)a->mods[i].out : 0;
    float *biases = nb ? malloc(nb * sizeof(float)) : NULL, *biasbuf = biases;
    merged = total ? malloc(total * sizeof(float)) : NULL;
    if (!ts || !names || (total && !merged) || (nb && !biases)) {
        rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory for the merged weights", out);
        goto fail;
    }
#define ADD(nm, ptr, d0, d1) do { \
        snprintf(names[n], sizeof names[n], "%s", nm); \
        ts[n].name = names[n]; ts[n].data = (ptr); ts[n].n_dims = (d1) ? 2 : 1; \
        ts[n].shape[0] = (int64_t)(d0); ts[n].shape[1] = (int64_t)(d1); n++; } while (0)
    char nm[128];
    float *mp = merged;
    // modules_to_save copies replace their modules; either one unties a tied base
    int tied = c->tied_embeddings && !a->save_embed && !a->save_head;
    // every tensor of the family under its Hugging Face name (arch.h)
    for (int s = 0; s < W_COUNT; s++) {
        const char *fmt = c->desc->hf[s];
        if (!fmt) continue;
        if (s == W_TOK_EMBD) {
            ADD(fmt, a->save_embed ? a->save_embed : w->tok_embd, V, C);
            continue;
        }
        if (s == W_LM_HEAD) {
            if (!tied) ADD(fmt, a->save_head ? a->save_head : w->lm_head, V, C);
            continue;
        }
        pt_linear lin = linear_of_slot((weight_slot)s), blin = linear_of_bias((weight_slot)s);
        int nl = model_slot_per_layer((weight_slot)s) ? (int)L : 1;
        for (int l = 0; l < nl; l++) {
            const float *data;
            int64_t shape[2];
            if (!model_slot(m, (weight_slot)s, l, &data, shape)) continue;
            const pt_lora_module *mod = lin < PT_LIN_COUNT ? &a->mods[(size_t)l * PT_LIN_COUNT + lin] : NULL;
            const pt_lora_module *bmod = blin < PT_LIN_COUNT ? &a->mods[(size_t)l * PT_LIN_COUNT + blin] : NULL;
            if (bmod && bmod->bias) {   // a trained bias: base + scale (trained - base), the base itself at scale 0
                for (int k = 0; k < bmod->out; k++) biasbuf[(size_t)k] = data[k] + scale * (bmod->bias[k] - data[k]);
                snprintf(nm, sizeof nm, fmt, l);
                float *keep = biasbuf;
                biasbuf += bmod->out;
                ADD(nm, keep, shape[0], shape[1]);
                continue;
            }
            int adapted = mod && mod->A && !a->merged, conv = c->desc->conv1d && lin < PT_LIN_COUNT;
            size_t sz = (size_t)shape[0] * (size_t)(shape[1] ? shape[1] : 1);
            if (adapted) {
                memcpy(mp, data, sz * sizeof(float));
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mod->out, mod->in, mod->r, mod->scale * scale,
                            mod->B, mod->r, mod->A, mod->in, 1.0f, mp, mod->in);
            }
            if (conv) {   // (out, in) -> Conv1D's (in, out), in place of the copy when there is one
                size_t rows = (size_t)shape[0], cols = (size_t)shape[1];
                float *t = malloc(sz * sizeof(float));
                if (!t) {
                    rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", out);
                    goto fail;
                }
                const float *src = adapted ? mp : data;
                for (size_t i = 0; i < rows; i++)
                    for (size_t j = 0; j < cols; j++) t[j * rows + i] = src[i * cols + j];
                memcpy(mp, t, sz * sizeof(float));
                free(t);
                int64_t tmp = shape[0];
                shape[0] = shape[1];
                shape[1] = tmp;
            }
            if (adapted || conv) {
                data = mp;
                mp += sz;
            }
            snprintf(nm, sizeof nm, fmt, l);
            ADD(nm, data, shape[0], shape[1]);
        }
    }
#undef ADD
    if ((rc = st_write_f32(pending_add(&pend, out, "model.safetensors"), ts, n, "{\"format\": \"pt\"}", err)))
        goto fail;
    if ((rc = merged_config_json(m, tied, &cfg_json, err))) goto fail;
    if ((rc = pt_write_file_atomic(pending_add(&pend, out, "config.json"), cfg_json, strlen(cfg_json), err)))
        goto fail;
    int copied_tok = 0, copied_cfg = 0;
    if (m->source == PT_SRC_HF) {
        static const char *const TOK[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                          "chat_template.jinja", "generation_config.json"};
        for (size_t i = 0; i < sizeof TOK / sizeof TOK[0]; i++) {
            char src[1200];
            struct stat st;
            snprintf(src, sizeof src, "%s/%s", m->path, TOK[i]);
            if (stat(src, &st) != 0) continue;
            char *text = NULL;
            size_t len = 0;
            if ((rc = pt_read_file(src, &text, &len, err))) goto fail;
            rc = pt_write_file_atomic(pending_add(&pend, out, TOK[i]), text, len, err);
            free(text);
            if (rc) goto fail;
            copied_tok |= i == 0;
            copied_cfg |= i == 1;
        }
    }
    // a GGUF base: the tokenizer it was loaded with, written out (model_load and transformers need tokenizer.json)
    if (!copied_tok && m->tok) {
        if ((rc = tokenizer_save_json(m->tok, pending_add(&pend, out, "tokenizer.json"), err))) goto fail;
        if (!copied_cfg &&
            (rc = tokenizer_save_config_json(m->tok, m->chat_template, pending_add(&pend, out, "tokenizer_config.json"),
                                             err)))
            goto fail;
    }
    if ((rc = pt_staged_commit(&pend.st, err))) goto fail;
    rc = PT_OK;
    goto done;
fail:
    pt_staged_abort(&pend.st);
done:
    cJSON_free(cfg_json);
    free(biases);
    free(merged);
    free(ts);
    free(names);
    return rc;
}

// ---------------------------------------------------------------- gguf-lora

static const char *const GGUF_LIN[PT_LIN_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                                   "ffn_gate", "ffn_up", "ffn_down", "attn_qkv"};

static int export_gguf_lora(const pt_adapter *a, const pt_model *m, float scale, const char *out, pt_err *err) {
    const char *arch = gguf_arch(m);
    // as model_gguf.c: llama-style archs store q/k permuted; a per-head fused
    // projection (BLOOM's) is stored q | k | v
    int permute = m->cfg.desc->qkv == PT_QKV_SPLIT && strcmp(arch, "qwen2") != 0;
    int heads = m->cfg.desc->qkv == PT_QKV_HEADS;
    size_t NH = (size_t)m->cfg.n_head;
    float *bmem = NULL;
    gguf_writer gw;
    gguf_writer_init(&gw);
    size_t nb = 0;
    for (int i = 0; i < a->n_layer * PT_LIN_COUNT; i++)
        if (a->mods[i].A) nb += (size_t)a->mods[i].out * a->mods[i].r;
    bmem = malloc(nb * sizeof(float));
    if (!bmem) return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", out);
    gguf_writer_add_str(&gw, "general.architecture", arch);
    gguf_writer_add_str(&gw, "general.type", "adapter");
    gguf_writer_add_str(&gw, "general.name", a->name[0] ? a->name : "peftui LoRA");
    gguf_writer_add_str(&gw, "adapter.type", "lora");
    gguf_writer_add_f32(&gw, "adapter.lora.alpha", a->cfg.lora_alpha);
    float *bp = bmem;
    int hd = m->cfg.head_dim;
    for (int l = 0; l < a->n_layer; l++)
        for (int s = 0; s < PT_LIN_COUNT; s++) {
            const pt_lora_module *mod = &a->mods[l * PT_LIN_COUNT + s];
            if (!mod->A) continue;
            float f = (float)fold_factor(a, mod, scale);
            int perm = permute && (s == PT_LIN_Q || s == PT_LIN_K), regroup = heads && s == PT_LIN_QKV;
            // GGUF row g of B holds HF row model_unpermute_row(g) (the converter's q/k order), or, for
            // q | k | v rows g = j*C + h*HD + d, HF's per-head row (h*3 + j)*HD + d
            for (int g = 0; g < mod->out; g++) {
                size_t j = (size_t)g / (NH * (size_t)hd), h = (size_t)g / (size_t)hd % NH, d = (size_t)g % (size_t)hd;
                int src = perm ? (int)model_unpermute_row(g, hd) : regroup ? (int)((h * 3 + j) * (size_t)hd + d) : g;
                for (int k = 0; k < mod->r; k++) bp[(size_t)g * mod->r + k] = mod->B[(size_t)src * mod->r + k] * f;
            }
            char name[96];
            uint64_t ne_a[2] = {(uint64_t)mod->in, (uint64_t)mod->r}, ne_b[2] = {(uint64_t)mod->r, (uint64_t)mod->out};
            snprintf(name, sizeof name, "blk.%d.%s.weight.lora_a", l, GGUF_LIN[s]);
            gguf_writer_add_tensor_f32(&gw, name, 2, ne_a, mod->A);
            snprintf(name, sizeof name, "blk.%d.%s.weight.lora_b", l, GGUF_LIN[s]);
            gguf_writer_add_tensor_f32(&gw, name, 2, ne_b, bp);
            bp += (size_t)mod->out * mod->r;
        }
    int rc = gguf_writer_write(&gw, out, err);
    gguf_writer_free(&gw);
    free(bmem);
    return rc;
}

int export_adapter(const pt_adapter *a, const pt_model *m, pt_export_format f, float scale, const char *out,
                   pt_export_warnings *w, pt_err *err) {
    int rc = export_check(a, m, f, scale, w, err);
    if (rc) return rc;
    switch (f) {
    case PT_EXPORT_PEFT: return export_peft(a, m, scale, out, err);
    case PT_EXPORT_MERGED: return export_merged(a, m, scale, out, err);
    case PT_EXPORT_GGUF_LORA: return export_gguf_lora(a, m, scale, out, err);
    }
    return pt_fail(err, PT_ERR_ARG, "unknown export format");
}
