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
} hf_ctx;

static int hf_check(void *ctx, const char *name, int nd, const int64_t *shape, pt_err *err) {
    const hf_ctx *h = ctx;
    const st_tensor *t = st_set_find(&h->set, name);
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
    const st_tensor *t = st_set_find(&h->set, name); // checked in pass 1
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

static const struct {
    const char *cls, *type;
} ARCHS[] = {
    {"LlamaForCausalLM", "llama"}, {"MistralForCausalLM", "mistral"}, {"Qwen2ForCausalLM", "qwen2"},
};

static int read_arch(pt_config *c, const cJSON *root, const char *path, pt_err *err) {
    const char *type = cJSON_GetStringValue(cfg_item(root, "model_type"));
    const cJSON *archs = cfg_item(root, "architectures");
    const char *cls = cJSON_IsArray(archs) ? cJSON_GetStringValue(cJSON_GetArrayItem(archs, 0)) : NULL;
    int n = (int)(sizeof ARCHS / sizeof ARCHS[0]), k = n;
    for (int i = 0; i < n; i++)
        if ((type && !strcmp(type, ARCHS[i].type)) || (!type && cls && !strcmp(cls, ARCHS[i].cls)))
            k = i;
    if (k == n)
        return pt_fail(err, PT_ERR_UNSUPPORTED,
                       "%s: architecture %s is not supported (llama, mistral, qwen2 are)", path,
                       type ? type : cls ? cls : "(none given)");
    if (cls && strcmp(cls, ARCHS[k].cls))
        return pt_fail(err, PT_ERR_UNSUPPORTED,
                       "%s: architecture %s is not supported (LlamaForCausalLM, MistralForCausalLM, "
                       "Qwen2ForCausalLM are)", path, cls);
    snprintf(c->arch, sizeof c->arch, "%s", ARCHS[k].type);
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
    const char *act = cJSON_GetStringValue(cfg_item(root, "hidden_act"));
    if (act && strcmp(act, "silu")) {
        rc = pt_fail(err, PT_ERR_UNSUPPORTED, "%s: activation %s is not supported (silu is)", path, act);
        goto done;
    }
    if (cfg_bool(root, "mlp_bias")) {
        rc = pt_fail(err, PT_ERR_UNSUPPORTED, "%s: MLP biases are not supported", path);
        goto done;
    }
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
        goto done;
    if (!strcmp(c->arch, "mistral") && (rc = cfg_int(root, "sliding_window", 0, 0, &c->sliding_window, path, err)))
        goto done;
    c->tied_embeddings = cfg_bool(root, "tie_word_embeddings"); // LlamaConfig's default is false
    c->has_qkv_bias = !strcmp(c->arch, "qwen2") || cfg_bool(root, "attention_bias");
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
