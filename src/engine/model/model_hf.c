// model_hf.c - a model from a Hugging Face folder: config.json (read with
// cJSON), *.safetensors (sharded or not; F32/F16/BF16), tokenizer.json, and
// the chat template from chat_template.jinja or tokenizer_config.json.
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "io/dequant.h"
#include "io/mapped_file.h"
#include "model/model_internal.h"
#include "io/safetensors.h"

typedef struct {
    st_set set;
    const char *dir;
    const char *prefix;  // the family's base-model prefix, which some checkpoints leave out
} hf_ctx;

// Tensor `name`, or the same name without the base-model prefix
// (bigscience/bloom-560m stores "h.0...." for "transformer.h.0....").
static const st_tensor *hf_find(const hf_ctx *h, const char *name) {
    const st_tensor *t = st_set_find(&h->set, name);
    size_t n = h->prefix ? strlen(h->prefix) : 0;
    if (!t && n && !strncmp(name, h->prefix, n))
        t = st_set_find(&h->set, name + n);
    return t;
}

static int hf_check(void *ctx, const char *name, int nd, const int64_t *shape, pt_err *err) {
    const hf_ctx *h = ctx;
    const st_tensor *t = hf_find(h, name);
    if (!t)
        return pt_fail(err, PT_ERR_FORMAT, "%s: missing tensor %s", h->dir, name);
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
        return pt_fail(err, PT_ERR_UNSUPPORTED,
                       "%s: tensor %s has dtype %s, which peftui cannot load (supported: F32, F16, BF16)",
                       h->dir, name, t->dtype_name);
    int same = t->n_dims == nd;
    for (int i = 0; same && i < nd; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        char hs[128] = "", ws[128] = "";
        size_t n = 0;
        for (int i = 0; i < t->n_dims && n < sizeof hs; i++)
            n += (size_t)snprintf(hs + n, sizeof hs - n, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        n = 0;
        for (int i = 0; i < nd && n < sizeof ws; i++)
            n += (size_t)snprintf(ws + n, sizeof ws - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
        return pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s has shape [%s], expected [%s]", h->dir, name, hs, ws);
    }
    return PT_OK;
}

static int hf_read(void *ctx, const char *name, float *dst, int n_head, pt_err *err) {
    const hf_ctx *h = ctx;
    const st_tensor *t = hf_find(h, name); // checked in pass 1
    const unsigned char *p = t->data;
    if (t->dtype == ST_F32) {
        memcpy(dst, p, t->nbytes);
        return PT_OK;
    }
    uint64_t n = t->nbytes / 2;
    for (uint64_t i = 0; i < n; i++) {
        uint16_t v = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
        dst[i] = t->dtype == ST_F16 ? fp16_to_f32(v) : bf16_to_f32(v);
    }
    return PT_OK;
}

// config.json values; null counts as absent.
static const cJSON *cfg_item(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNull(v) ? NULL : v;
}

static int cfg_int(const cJSON *o, const char *key, int required, int def, int *out,
                   const char *path, pt_err *err) {
    const cJSON *v = cfg_item(o, key);
    if (!v) {
        if (required)
            return pt_fail(err, PT_ERR_FORMAT, "%s: config.json lacks %s", path, key);
        *out = def;
        return PT_OK;
    }
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || d != floor(d) || d < INT_MIN || d > INT_MAX)
        return pt_fail(err, PT_ERR_FORMAT, "%s: config.json %s is not an integer", path, key);
    *out = (int)d;
    return PT_OK;
}

static int cfg_float(const cJSON *o, const char *key, double def, float *out, const char *path, pt_err *err) {
    const cJSON *v = cfg_item(o, key);
    if (v && !cJSON_IsNumber(v))
        return pt_fail(err, PT_ERR_FORMAT, "%s: config.json %s is not a number", path, key);
    *out = (float)(v ? v->valuedouble : def);
    return PT_OK;
}

static int cfg_bool(const cJSON *o, const char *key) {
    return cJSON_IsTrue(cfg_item(o, key));
}

// RoPE: rope_theta at the top (transformers 4) or in rope_parameters (5);
// only plain RoPE is implemented, so any scaling type is refused.
static int read_rope(pt_config *c, const cJSON *root, const char *path, pt_err *err) {
    const cJSON *rp = cfg_item(root, "rope_parameters");
    const cJSON *sc = cfg_item(root, "rope_scaling");
    int rc = cfg_float(root, "rope_theta", 10000.0, &c->rope_theta, path, err);
    if (!rc && cJSON_IsObject(rp) && !cfg_item(root, "rope_theta"))
        rc = cfg_float(rp, "rope_theta", 10000.0, &c->rope_theta, path, err);
    if (rc)
        return rc;
    const cJSON *objs[2] = {rp, sc};
    for (int i = 0; i < 2; i++) {
        if (!cJSON_IsObject(objs[i]))
            continue;
        const char *type = cJSON_GetStringValue(cfg_item(objs[i], "rope_type"));
        if (!type)
            type = cJSON_GetStringValue(cfg_item(objs[i], "type"));
        if (type && strcmp(type, "default"))
            return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: RoPE scaling '%s' is not supported", path, type);
    }
    return PT_OK;
}

// model_type names the family; architectures[0], when given, must be its class.
static int read_arch(pt_config *c, const cJSON *root, const char *path, pt_err *err) {
    const char *type = cJSON_GetStringValue(cfg_item(root, "model_type"));
    const cJSON *archs = cfg_item(root, "architectures");
    const char *cls = cJSON_IsArray(archs) ? cJSON_GetStringValue(cJSON_GetArrayItem(archs, 0)) : NULL;
    const pt_arch *a = type ? arch_find(type) : NULL;
    if (!type && cls) {  // no model_type: find the family by its class
        static const char *const TYPES[] = {"llama", "mistral", "qwen2", "bloom", "gpt2", "gpt_neox", "gpt_bigcode", "mpt"};
        for (size_t i = 0; !a && i < sizeof TYPES / sizeof TYPES[0]; i++)
            if (!strcmp(arch_find(TYPES[i])->hf_class, cls)) a = arch_find(TYPES[i]);
    }
    if (!a)
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: architecture %s is not supported (%s are)", path,
                       type ? type : cls ? cls : "(none given)", arch_list());
    if (cls && strcmp(cls, a->hf_class))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: %s is not supported (a %s model loads as %s)", path, cls, a->type,
                       a->hf_class);
    return model_set_arch(c, a->type, path, err);
}

// The first of several spellings of one field that the config has (BLOOM's
// own names next to the common ones); keys[0] when none.
static const char *first_key(const cJSON *o, const char *const *keys, int n) {
    for (int i = 0; i < n; i++)
        if (cfg_item(o, keys[i])) return keys[i];
    return keys[0];
}

// BloomConfig: hidden_size (n_embed in older files), n_layer, n_head,
// layer_norm_epsilon; the MLP is 4 * hidden; ALiBi has no trained length.
static int read_bloom(pt_config *c, const cJSON *root, const char *path, pt_err *err) {
    static const char *const HID[] = {"hidden_size", "n_embed"}, *const LAY[] = {"n_layer", "num_hidden_layers"},
                             *const HEAD[] = {"n_head", "num_attention_heads"};
    int rc;
    if ((rc = cfg_int(root, first_key(root, HID, 2), 1, 0, &c->n_embd, path, err)) ||
        (rc = cfg_int(root, first_key(root, LAY, 2), 1, 0, &c->n_layer, path, err)) ||
        (rc = cfg_int(root, first_key(root, HEAD, 2), 1, 0, &c->n_head, path, err)) ||
        (rc = cfg_int(root, "vocab_size", 1, 0, &c->vocab_size, path, err)) ||
        (rc = cfg_int(root, "seq_length", 0, 2048, &c->max_ctx, path, err)) ||
        (rc = cfg_float(root, "layer_norm_epsilon", 1e-5, &c->rms_eps, path, err)))
        return rc;
    if (cfg_bool(root, "apply_residual_connection_post_layernorm"))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: apply_residual_connection_post_layernorm is not supported", path);
    if (cfg_bool(root, "slow_but_exact"))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: slow_but_exact (tensor-parallel rounding) is not supported", path);
    if (c->n_embd > (1 << 20))
        return pt_fail(err, PT_ERR_FORMAT, "%s: bad hidden size %d", path, c->n_embd);
    c->n_ff = 4 * c->n_embd;
    c->n_head_kv = c->n_head;
    c->head_dim = c->n_head > 0 ? c->n_embd / c->n_head : 0;
    if (c->head_dim * c->n_head != c->n_embd)
        return pt_fail(err, PT_ERR_FORMAT, "%s: %d heads do not divide hidden size %d", path, c->n_head, c->n_embd);
    c->rope_theta = 10000.0f;  // unused: ALiBi
    const cJSON *tie = cfg_item(root, "tie_word_embeddings");
    c->tied_embeddings = tie ? cJSON_IsTrue(tie) : 1;  // BloomConfig's default
    return PT_OK;
}

// GPT2Config: n_embd, n_layer, n_head, n_inner (null: 4 n_embd), n_positions
// (the learned position table's rows), layer_norm_epsilon; only the defaults
// of the attention's variants are implemented. GPTBigCodeConfig has the same
// names, and multi_query (one key and value head; the only form implemented).
static int read_gpt2(pt_config *c, const cJSON *root, const char *path, pt_err *err) {
    int rc;
    const char *act = cJSON_GetStringValue(cfg_item(root, "activation_function"));
    int bigcode = !strcmp(c->desc->type, "gpt_bigcode");
    const cJSON *mq = cfg_item(root, "multi_query");
    if (bigcode && mq && !cJSON_IsTrue(mq))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: GPT-BigCode without multi_query is not supported", path);
    if (act && strcmp(act, "gelu_new") && strcmp(act, "gelu_pytorch_tanh"))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: activation %s is not supported (gelu_new is)", path, act);
    const cJSON *sc = cfg_item(root, "scale_attn_weights");
    if (sc && !cJSON_IsTrue(sc))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: scale_attn_weights false is not supported", path);
    if (cfg_bool(root, "scale_attn_by_inverse_layer_idx") || cfg_bool(root, "add_cross_attention"))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: scale_attn_by_inverse_layer_idx and cross-attention are not "
                       "supported", path);
    if ((rc = cfg_int(root, "n_embd", 1, 0, &c->n_embd, path, err)) ||
        (rc = cfg_int(root, "n_layer", 1, 0, &c->n_layer, path, err)) ||
        (rc = cfg_int(root, "n_head", 1, 0, &c->n_head, path, err)) ||
        (rc = cfg_int(root, "vocab_size", 1, 0, &c->vocab_size, path, err)) ||
        (rc = cfg_int(root, "n_positions", 0, 1024, &c->max_ctx, path, err)) ||
        (rc = cfg_float(root, "layer_norm_epsilon", 1e-5, &c->rms_eps, path, err)))
        return rc;
    if (c->n_embd > (1 << 20))
        return pt_fail(err, PT_ERR_FORMAT, "%s: bad hidden size %d", path, c->n_embd);
    if ((rc = cfg_int(root, "n_inner", 0, 4 * c->n_embd, &c->n_ff, path, err))) return rc;
    if (c->max_ctx > (1 << 20))
        return pt_fail(err, PT_ERR_FORMAT, "%s: bad n_positions %d", path, c->max_ctx);
    c->n_head_kv = bigcode ? 1 : c->n_head;
    c->head_dim = c->n_head > 0 ? c->n_embd / c->n_head : 0;
    if (c->head_dim * c->n_head != c->n_embd)
        return pt_fail(err, PT_ERR_FORMAT, "%s: %d heads do not divide hidden size %d", path, c->n_head, c->n_embd);
    c->rope_theta = 10000.0f;  // unused: learned positions
    const cJSON *tie = cfg_item(root, "tie_word_embeddings");
    c->tied_embeddings = tie ? cJSON_IsTrue(tie) : 1;  // GPT2Config's default
    return PT_OK;
}

// GPTNeoXConfig: the common names, layer_norm_eps, RoPE's base and partial
// rotary in rope_parameters (transformers 5) or rotary_emb_base / rotary_pct
// (4), use_parallel_residual (default true), attention_bias (default true).
static int read_neox(pt_config *c, const cJSON *root, const char *path, pt_err *err) {
    int rc;
    const char *act = cJSON_GetStringValue(cfg_item(root, "hidden_act"));
    if (act && strcmp(act, "gelu"))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: activation %s is not supported (gelu is)", path, act);
    const cJSON *ab = cfg_item(root, "attention_bias");
    if (ab && !cJSON_IsTrue(ab))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: attention_bias false is not supported", path);
    if ((rc = cfg_int(root, "num_hidden_layers", 1, 0, &c->n_layer, path, err)) ||
        (rc = cfg_int(root, "hidden_size", 1, 0, &c->n_embd, path, err)) ||
        (rc = cfg_int(root, "intermediate_size", 1, 0, &c->n_ff, path, err)) ||
        (rc = cfg_int(root, "num_attention_heads", 1, 0, &c->n_head, path, err)) ||
        (rc = cfg_int(root, "vocab_size", 1, 0, &c->vocab_size, path, err)) ||
        (rc = cfg_int(root, "max_position_embeddings", 0, 2048, &c->max_ctx, path, err)) ||
        (rc = cfg_float(root, "layer_norm_eps", 1e-5, &c->rms_eps, path, err)))
        return rc;
    const cJSON *rp = cfg_item(root, "rope_parameters");
    float pct = 1.0f;
    if (cJSON_IsObject(rp)) {
        const char *type = cJSON_GetStringValue(cfg_item(rp, "rope_type"));
        if (type && strcmp(type, "default"))
            return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: RoPE scaling '%s' is not supported", path, type);
        if ((rc = cfg_float(rp, "rope_theta", 10000.0, &c->rope_theta, path, err)) ||
            (rc = cfg_float(rp, "partial_rotary_factor", 1.0, &pct, path, err)))
            return rc;
    } else if ((rc = cfg_float(root, "rotary_emb_base", 10000.0, &c->rope_theta, path, err)) ||
               (rc = cfg_float(root, "rotary_pct", 1.0, &pct, path, err))) {
        return rc;
    }
    if (c->n_embd > (1 << 20) || c->n_head < 1 || c->n_embd % c->n_head)
        return pt_fail(err, PT_ERR_FORMAT, "%s: %d heads do not divide hidden size %d", path, c->n_head, c->n_embd);
    c->n_head_kv = c->n_head;
    c->head_dim = c->n_embd / c->n_head;
    if (!(pct > 0.0f && pct <= 1.0f))
        return pt_fail(err, PT_ERR_FORMAT, "%s: partial rotary factor %g is not in (0, 1]", path, pct);
    c->rope_dims = (int)(c->head_dim * pct);   // int(head_size * rotary_pct), as transformers
    if (c->rope_dims < 2 || c->rope_dims % 2)
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: RoPE on %d dims of each head is not supported (an even number)",
                       path, c->rope_dims);
    const cJSON *par = cfg_item(root, "use_parallel_residual");
    c->parallel_residual = par ? cJSON_IsTrue(par) : 1;
    c->tied_embeddings = cfg_bool(root, "tie_word_embeddings");
    return PT_OK;
}

// MptConfig: d_model, n_heads, n_layers, expansion_ratio, max_seq_len,
// layer_norm_epsilon, and attn_config; only what mpt-7b/30b use is
// implemented (ALiBi with alibi_bias_max 8 over a power-of-two head count,
// where its slopes are BLOOM's; no clip_qkv, qk_ln, softmax_scale or prefix_lm).
static int read_mpt(pt_config *c, const cJSON *root, const char *path, pt_err *err) {
    int rc, ratio = 4;
    const cJSON *ac = cfg_item(root, "attn_config");
    if (cJSON_IsObject(ac)) {
        const cJSON *al = cfg_item(ac, "alibi"), *mx = cfg_item(ac, "alibi_bias_max");
        if ((al && !cJSON_IsTrue(al)) || (mx && (!cJSON_IsNumber(mx) || mx->valuedouble != 8)) ||
            cfg_item(ac, "clip_qkv") || cfg_bool(ac, "qk_ln") || cfg_item(ac, "softmax_scale") || cfg_bool(ac, "prefix_lm"))
            return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: this MPT attn_config (no ALiBi, alibi_bias_max other than 8, "
                           "clip_qkv, qk_ln, softmax_scale or prefix_lm) is not supported", path);
    }
    const cJSON *nb = cfg_item(root, "no_bias");
    if ((nb && !cJSON_IsTrue(nb)) || cfg_item(root, "logit_scale"))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: MPT with biases or a logit_scale is not supported", path);
    if ((rc = cfg_int(root, "d_model", 1, 0, &c->n_embd, path, err)) ||
        (rc = cfg_int(root, "n_heads", 1, 0, &c->n_head, path, err)) ||
        (rc = cfg_int(root, "n_layers", 1, 0, &c->n_layer, path, err)) ||
        (rc = cfg_int(root, "expansion_ratio", 0, 4, &ratio, path, err)) ||
        (rc = cfg_int(root, "vocab_size", 1, 0, &c->vocab_size, path, err)) ||
        (rc = cfg_int(root, "max_seq_len", 0, 2048, &c->max_ctx, path, err)) ||
        (rc = cfg_float(root, "layer_norm_epsilon", 1e-5, &c->rms_eps, path, err)))
        return rc;
    if (c->n_embd > (1 << 20) || c->n_head < 1 || c->n_embd % c->n_head || ratio < 1 || ratio > 64)
        return pt_fail(err, PT_ERR_FORMAT, "%s: bad sizes (d_model %d, n_heads %d, expansion_ratio %d)", path,
                       c->n_embd, c->n_head, ratio);
    if (c->n_head & (c->n_head - 1))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: MPT's ALiBi slopes for %d heads (not a power of two) differ from "
                       "BLOOM's and are not implemented", path, c->n_head);
    c->n_ff = ratio * c->n_embd;
    c->n_head_kv = c->n_head;
    c->head_dim = c->n_embd / c->n_head;
    c->rope_theta = 10000.0f;   // unused: ALiBi
    const cJSON *tie = cfg_item(root, "tie_word_embeddings");
    c->tied_embeddings = tie ? cJSON_IsTrue(tie) : 1;
    return PT_OK;
}

// LlamaConfig and the configs that share its field names (Mistral, Qwen2).
static int read_llama(pt_config *c, const cJSON *root, const char *path, pt_err *err) {
    int rc;
    const char *act = cJSON_GetStringValue(cfg_item(root, "hidden_act"));
    if (act && strcmp(act, "silu"))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: activation %s is not supported (silu is)", path, act);
    if (cfg_bool(root, "mlp_bias"))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: MLP biases are not supported", path);
    if ((rc = cfg_int(root, "num_hidden_layers", 1, 0, &c->n_layer, path, err)) ||
        (rc = cfg_int(root, "hidden_size", 1, 0, &c->n_embd, path, err)) ||
        (rc = cfg_int(root, "intermediate_size", 1, 0, &c->n_ff, path, err)) ||
        (rc = cfg_int(root, "num_attention_heads", 1, 0, &c->n_head, path, err)) ||
        (rc = cfg_int(root, "num_key_value_heads", 0, c->n_head, &c->n_head_kv, path, err)) ||
        (rc = cfg_int(root, "vocab_size", 1, 0, &c->vocab_size, path, err)) ||
        (rc = cfg_int(root, "max_position_embeddings", 0, 2048, &c->max_ctx, path, err)) ||
        (rc = cfg_int(root, "head_dim", 0, c->n_head > 0 ? c->n_embd / c->n_head : 0, &c->head_dim, path, err)) ||
        (rc = cfg_float(root, "rms_norm_eps", 1e-6, &c->rms_eps, path, err)) ||
        (rc = read_rope(c, root, path, err)))
        return rc;
    if (!strcmp(c->arch, "mistral") && (rc = cfg_int(root, "sliding_window", 0, 0, &c->sliding_window, path, err)))
        return rc;
    c->tied_embeddings = cfg_bool(root, "tie_word_embeddings"); // LlamaConfig's default is false
    c->has_qkv_bias = !strcmp(c->arch, "qwen2") || cfg_bool(root, "attention_bias");
    return PT_OK;
}

static int read_config(pt_model *m, const char *dir, pt_err *err) {
    pt_config *c = &m->cfg;
    char path[1100];
    char *text = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = pt_read_file(path, &text, &len, err);
    if (rc)
        return rc;
    root = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(root)) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    if ((rc = read_arch(c, root, path, err)))
        goto done;
    const char *type = c->desc->type;
    if ((rc = !strcmp(type, "bloom") ? read_bloom(c, root, path, err)
            : !strcmp(type, "gpt2") || !strcmp(type, "gpt_bigcode") ? read_gpt2(c, root, path, err)
            : !strcmp(type, "gpt_neox") ? read_neox(c, root, path, err)
            : !strcmp(type, "mpt")      ? read_mpt(c, root, path, err)
                                     : read_llama(c, root, path, err)))
        goto done;
    const char *nm = cJSON_GetStringValue(cfg_item(root, "_name_or_path"));
    if (nm && *nm) {
        snprintf(c->name, sizeof c->name, "%s", nm);
    } else {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
            n--;
        size_t b = n;
        while (b > 0 && dir[b - 1] != '/')
            b--;
        snprintf(c->name, sizeof c->name, "%.*s", (int)(n - b), dir + b);
    }
    rc = model_check_config(c, path, err);
done:
    cJSON_Delete(root);
    free(text);
    return rc;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

// tokenizer_config.json "chat_template": a string, or a list of
// {name, template} of which "default" is the one used.
static int template_from_config(char **out, const char *path, pt_err *err) {
    char *text = NULL;
    size_t len = 0;
    int rc = pt_read_file(path, &text, &len, err);
    if (rc)
        return rc;
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(root)) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: not a JSON object", path);
        goto done;
    }
    const cJSON *ct = cfg_item(root, "chat_template"), *e;
    const char *tmpl = cJSON_GetStringValue(ct);
    if (cJSON_IsArray(ct)) {
        cJSON_ArrayForEach(e, ct) {
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
            if (name && !strcmp(name, "default"))
                tmpl = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "template"));
        }
    }
    if (tmpl && !(*out = strdup(tmpl)))
        rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
done:
    cJSON_Delete(root);
    free(text);
    return rc;
}

static int read_chat_template(pt_model *m, const char *dir, pt_err *err) {
    char path[1100];
    // transformers 5 writes chat_template.jinja and prefers it when present
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    if (file_exists(path))
        return pt_read_file(path, &m->chat_template, NULL, err);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (file_exists(path)) {
        int rc = template_from_config(&m->chat_template, path, err);
        if (rc || m->chat_template)
            return rc;
    }
    snprintf(path, sizeof path, "%s/chat_template.json", dir);
    if (file_exists(path))
        return template_from_config(&m->chat_template, path, err);
    return PT_OK;
}

int model_load_hf(pt_model *m, const char *dir, pt_err *err) {
    hf_ctx h = {.dir = dir};
    char path[1100];
    int rc;
    if ((rc = read_config(m, dir, err)))
        return rc;
    if ((rc = st_set_open_dir(&h.set, dir, err)))
        return rc;
    h.prefix = m->cfg.desc->hf_prefix;
    model_source src = {&h, PT_SRC_HF, 0, hf_check, hf_read};
    if ((rc = model_load_weights(m, &src, err)))
        goto done;
    for (int f = 0; f < h.set.n_files; f++)
        for (int i = 0; i < h.set.files[f].n_tensors; i++) {
            const st_tensor *t = &h.set.files[f].tensors[i];
            if ((rc = model_add_desc(m, t->name, t->dtype_name, t->n_dims, t->shape, err)))
                goto done;
        }
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if ((rc = tokenizer_load_json(&m->tok, path, err)))
        goto done;
    rc = read_chat_template(m, dir, err);
done:
    st_set_close(&h.set);
    return rc;
}
