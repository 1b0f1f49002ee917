// adapter_io.c - a LoRA adapter folder in PEFT's layout, read and written:
//   adapter_config.json        PEFT's LoraConfig (every field)
//   adapter_model.safetensors  base_model.model.<module>.lora_A.weight (r, in)
//                              base_model.model.<module>.lora_B.weight (out, r)
//                              base_model.model.model.embed_tokens.weight (V, C) and
//                              base_model.model.lm_head.weight (V, C): modules_to_save
//   peftui.json                {"base_name", "base_fingerprint", "template",
//                               "peftui_version"}; absent in PEFT-made folders
// Saving writes every file under a temporary name first and renames them into
// place only when all three are complete: a failed save leaves the folder as
// it was.
#include "lora/lora.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "io/dequant.h"
#include "lora/export.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"

#define PEFTUI_ADAPTER_VERSION "0.1"

static const char *const FILES[3] = {"adapter_model.safetensors", "adapter_config.json", "peftui.json"};

// PEFT's key for module (layer, slot), A (ab 0) or B (ab 1).
static void tensor_key(char *buf, size_t cap, const pt_arch *arch, int layer, int slot, int ab) {
    char mod[128];
    lora_module_name(mod, sizeof mod, arch, layer, (pt_linear)slot);
    snprintf(buf, cap, "base_model.model.%s.lora_%c.weight", mod, ab ? 'B' : 'A');
}

// A trained bias (bias "all" / "lora_only"): PEFT saves the module's own
// tensor, under base_layer when LoRA wraps the module.
static void bias_key(char *buf, size_t cap, const pt_arch *arch, int layer, int slot, int wrapped) {
    char mod[128];
    lora_module_name(mod, sizeof mod, arch, layer, (pt_linear)slot);
    snprintf(buf, cap, "base_model.model.%.120s.%sbias", mod, wrapped ? "base_layer." : "");
}

// modules_to_save tensors: PEFT's keys on disk (its in-memory
// ".modules_to_save.default" is dropped when it saves)
static const char *const SAVE_KEYS[2] = {"base_model.model.model.embed_tokens.weight", "base_model.model.lm_head.weight"};

// 0 embed_tokens, 1 lm_head, -1 neither
static int save_key_index(const char *key) {
    static const char *const ALT[2] = {"base_model.model.model.embed_tokens.modules_to_save.default.weight",
                                       "base_model.model.lm_head.modules_to_save.default.weight"};
    for (int i = 0; i < 2; i++)
        if (!strcmp(key, SAVE_KEYS[i]) || !strcmp(key, ALT[i]) || !strcmp(key, SAVE_KEYS[i] + 17)) return i;
    return -1;
}

static char *peftui_json(const pt_adapter *a) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "base_name", a->base_name);
    cJSON_AddStringToObject(o, "base_fingerprint", a->base_fingerprint);
    cJSON_AddStringToObject(o, "template", a->template_name);
    cJSON_AddStringToObject(o, "peftui_version", PEFTUI_ADAPTER_VERSION);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

int adapter_save(const pt_adapter *a, const pt_model *m, const char *dir, pt_err *err) {
    char tmp[3][1120];
    pt_staged st = {0};
    st_write_tensor *ts = NULL;
    char (*keys)[160] = NULL;
    char *cfg_json = NULL, *meta_json = NULL;
    pt_lora_config cfg = {0};
    int rc, n = 0;
    for (int i = 0; i < 3; i++) pt_staged_add(&st, dir, FILES[i], tmp[i], sizeof tmp[i]);
    if ((rc = pt_mkdir_p(dir, err))) return rc;
    int nmod = 0;
    for (int i = 0; i < a->n_layer * PT_LIN_COUNT; i++) nmod += a->mods[i].A != NULL || a->mods[i].bias != NULL;
    ts = calloc((size_t)(3 * nmod + 3), sizeof *ts);
    keys = calloc((size_t)(3 * nmod + 3), sizeof *keys);
    if (!ts || !keys) goto nomem;
    for (int l = 0; l < a->n_layer; l++)
        for (int s = 0; s < PT_LIN_COUNT; s++) {
            const pt_lora_module *mod = &a->mods[l * PT_LIN_COUNT + s];
            if (mod->bias) {
                bias_key(keys[n], sizeof keys[n], a->arch, l, s, mod->A != NULL);
                ts[n].name = keys[n];
                ts[n].data = mod->bias;
                ts[n].n_dims = 1;
                ts[n].shape[0] = mod->out;
                n++;
            }
            if (!mod->A) continue;
            for (int ab = 0; ab < 2; ab++, n++) {
                tensor_key(keys[n], sizeof keys[n], a->arch, l, s, ab);
                ts[n].name = keys[n];
                ts[n].data = ab ? mod->B : mod->A;
                ts[n].n_dims = 2;
                ts[n].shape[0] = ab ? mod->out : mod->r;
                ts[n].shape[1] = ab ? mod->r : mod->in;
            }
        }
    for (int i = 0; i < 2; i++) {
        const float *w = i ? a->save_head : a->save_embed;
        if (!w) continue;
        snprintf(keys[n], sizeof keys[n], "%s", SAVE_KEYS[i]);
        ts[n].name = keys[n];
        ts[n].data = w;
        ts[n].n_dims = 2;
        ts[n].shape[0] = m->cfg.vocab_size;
        ts[n].shape[1] = m->cfg.n_embd;
        n++;
    }
    // the config as PEFT saves it: inference_mode true, targets resolved
    if ((rc = lora_config_copy(&cfg, &a->cfg, err))) goto fail;
    cfg.inference_mode = 1;
    if (!cfg.base_model[0]) snprintf(cfg.base_model, sizeof cfg.base_model, "%s", a->base_name[0] ? a->base_name : m->cfg.name);
    cfg_json = lora_config_to_json(&cfg);
    meta_json = peftui_json(a);
    if (!cfg_json || !meta_json) goto nomem;
    if ((rc = st_write_f32(tmp[0], ts, n, "{\"format\": \"pt\"}", err))) goto fail;
    if ((rc = pt_write_file_atomic(tmp[1], cfg_json, strlen(cfg_json), err))) goto fail;
    if ((rc = pt_write_file_atomic(tmp[2], meta_json, strlen(meta_json), err))) goto fail;
    rc = pt_staged_commit(&st, err);
    goto done;
nomem:
    rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory saving the adapter", dir);
fail:
    pt_staged_abort(&st);
done:
    lora_config_free(&cfg);
    free(ts);
    free(keys);
    cJSON_free(cfg_json);
    cJSON_free(meta_json);
    return rc;
}

// Parses a PEFT tensor key: [base_model.model.]<layers>.L.<module>.lora_{A,B}[.default].weight,
// or a trained bias <module>.[base_layer.]bias (ab 2)
// with family arch's names ("model.layers", "self_attn.q_proj").
// Returns 1 with *layer, *slot, *ab set, or 0.
static int parse_key(const pt_arch *arch, const char *key, int *layer, int *slot, int *ab) {
    const char *p = key;
    size_t nl = strlen(arch->layers);
    if (!strncmp(p, "base_model.model.", 17)) p += 17;
    if (strncmp(p, arch->layers, nl) || p[nl] != '.') return 0;
    p += nl + 1;
    char *end;
    long l = strtol(p, &end, 10);
    if (end == p || *end != '.' || l < 0 || l > 100000) return 0;
    p = end + 1;
    for (int s = 0; s < PT_LIN_COUNT; s++) {
        const char *mod = arch->modules[s];
        size_t nm = mod ? strlen(mod) : 0;
        if (!mod || strncmp(p, mod, nm) || p[nm] != '.')
            continue;
        const char *rest = p + nm + 1;
        static const char *const TAILS[6] = {"lora_A.weight", "lora_A.default.weight", "lora_B.weight",
                                             "lora_B.default.weight", "base_layer.bias", "bias"};
        for (int t = 0; t < 6; t++)
            if (!strcmp(rest, TAILS[t])) {
                *layer = (int)l;
                *slot = s;
                *ab = t / 2;   // 0 A, 1 B, 2 a trained bias
                return 1;
            }
        return 0;
    }
    return 0;
}

static void shape_str(char *buf, size_t cap, const int64_t *shape, int nd) {
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < nd && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
}

static int read_tensor(const st_tensor *t, float *dst, const char *dir, pt_err *err) {
    uint64_t n = 1;
    for (int d = 0; d < t->n_dims; d++) n *= (uint64_t)t->shape[d];
    if (t->dtype == ST_F32) {
        memcpy(dst, t->data, n * sizeof(float));
    } else if (t->dtype == ST_F16 || t->dtype == ST_BF16) {
        const unsigned char *p = t->data;
        for (uint64_t i = 0; i < n; i++) {
            uint16_t v = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            dst[i] = t->dtype == ST_F16 ? fp16_to_f32(v) : bf16_to_f32(v);
        }
    } else {
        return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: tensor %s has dtype %s (F32, F16 and BF16 are supported)", dir,
                       t->name, t->dtype_name);
    }
    return PT_OK;
}

// peftui.json into a (base name, fingerprint, template); a missing file is fine.
static int read_meta(pt_adapter *a, const char *dir, int *present, pt_err *err) {
    char path[1200], *text = NULL;
    snprintf(path, sizeof path, "%s/peftui.json", dir);
    struct stat st;
    *present = stat(path, &st) == 0;
    if (!*present) return PT_OK;
    int rc = pt_read_file(path, &text, NULL, err);
    if (rc) return rc;
    cJSON *o = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return pt_fail(err, PT_ERR_FORMAT, "%s: not a JSON object", path);
    }
    const char *s;
    if ((s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "base_name"))))
        snprintf(a->base_name, sizeof a->base_name, "%s", s);
    if ((s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "base_fingerprint"))))
        snprintf(a->base_fingerprint, sizeof a->base_fingerprint, "%s", s);
    if ((s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "template"))))
        snprintf(a->template_name, sizeof a->template_name, "%s", s);
    cJSON_Delete(o);
    return PT_OK;
}

int adapter_load(pt_adapter *a, const pt_model *m, const char *dir, char *warning, size_t wcap, pt_err *err) {
    char path[1200];
    char *text = NULL;
    pt_lora_config cfg;
    st_file f = {0};
    int have_cfg = 0, have_st = 0, rc;
    char *seen = NULL;
    memset(a, 0, sizeof *a);
    if (warning && wcap) warning[0] = 0;
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return pt_fail(err, PT_ERR_IO, "%s: not an adapter folder (%s)", dir, stat(dir, &st) ? strerror(errno) : "not a folder");
    if (stat(path, &st) != 0)
        return pt_fail(err, PT_ERR_IO, "%s: no adapter_config.json: not a PEFT adapter folder", dir);
    if ((rc = pt_read_file(path, &text, NULL, err))) return rc;
    rc = lora_config_from_json(&cfg, text, path, err);
    free(text);
    if (rc) return rc;
    have_cfg = 1;
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    if (stat(path, &st) != 0) {
        char bin[1200];
        snprintf(bin, sizeof bin, "%s/adapter_model.bin", dir);
        rc = stat(bin, &st) == 0
                 ? pt_fail(err, PT_ERR_UNSUPPORTED, "%s: adapter_model.bin (a pickle) is not supported; save the adapter "
                           "with safetensors (PEFT's default)", dir)
                 : pt_fail(err, PT_ERR_IO, "%s: no adapter_model.safetensors", dir);
        goto fail;
    }
    if ((rc = st_open(&f, path, err))) goto fail;
    have_st = 1;
    if ((rc = adapter_bind(a, m, &cfg, err))) {
        char inner[PT_ERR_MSG_LEN];
        snprintf(inner, sizeof inner, "%s", err ? err->msg : "");
        rc = pt_fail(err, (pt_status)rc, "%s: %s", dir, inner);
        goto fail;
    }
    int L = m->cfg.n_layer;
    seen = calloc((size_t)L * PT_LIN_COUNT * 3, 1);
    if (!seen) {
        rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", dir);
        goto fail;
    }
    int saved_seen[2] = {0, 0};
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        int l, s, ab, si = save_key_index(t->name);
        if (si >= 0) {  // a module saved whole
            float *dst = si ? a->save_head : a->save_embed;
            if (!dst) {
                rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s is not in adapter_config.json's modules_to_save", path,
                             t->name);
                goto fail;
            }
            if (t->n_dims != 2 || t->shape[0] != m->cfg.vocab_size || t->shape[1] != m->cfg.n_embd) {
                char hs[64];
                shape_str(hs, sizeof hs, t->shape, t->n_dims);
                rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s has shape [%s], this base model needs [%d, %d] (an "
                             "adapter made for another base model?)", path, t->name, hs, m->cfg.vocab_size, m->cfg.n_embd);
                goto fail;
            }
            if (saved_seen[si]++) {
                rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s given twice", path, t->name);
                goto fail;
            }
            if ((rc = read_tensor(t, dst, path, err))) goto fail;
            continue;
        }
        if (!parse_key(m->cfg.desc, t->name, &l, &s, &ab)) {
            rc = pt_fail(err, PT_ERR_UNSUPPORTED, "%s: tensor %s is not a LoRA A/B matrix of a linear layer nor a "
                         "saved lm_head/embed_tokens (DoRA, lora_bias and other parts are not implemented)", path,
                         t->name);
            goto fail;
        }
        if (l >= L) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s is for layer %d, the base model has %d layers (an adapter "
                         "made for another base model?)", path, t->name, l, L);
            goto fail;
        }
        pt_lora_module *mod = &a->mods[l * PT_LIN_COUNT + s];
        if (ab == 2) {   // a trained bias: the config's bias must say so
            if (!mod->bias) {
                rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s is a trained bias, and adapter_config.json's bias (\"%s\") "
                             "does not train this one", path, t->name,
                             a->cfg.bias == PT_BIAS_ALL ? "all" : a->cfg.bias == PT_BIAS_LORA_ONLY ? "lora_only" : "none");
                goto fail;
            }
            if (seen[(l * PT_LIN_COUNT + s) * 3 + 2]++) {
                rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s given twice", path, t->name);
                goto fail;
            }
            if (t->n_dims != 1 || t->shape[0] != mod->out) {
                char hs[64];
                shape_str(hs, sizeof hs, t->shape, t->n_dims);
                rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s has shape [%s], this base model needs [%d]", path, t->name,
                             hs, mod->out);
                goto fail;
            }
            if ((rc = read_tensor(t, mod->bias, path, err))) goto fail;
            continue;
        }
        if (!mod->A) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s belongs to a module adapter_config.json does not target",
                         path, t->name);
            goto fail;
        }
        if (seen[(l * PT_LIN_COUNT + s) * 3 + ab]++) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s given twice", path, t->name);
            goto fail;
        }
        int64_t want[2] = {ab ? mod->out : mod->r, ab ? mod->r : mod->in};
        if (t->n_dims != 2 || t->shape[0] != want[0] || t->shape[1] != want[1]) {
            char hs[64], ws[64];
            shape_str(hs, sizeof hs, t->shape, t->n_dims);
            shape_str(ws, sizeof ws, want, 2);
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s has shape [%s], this base model and adapter_config.json "
                         "need [%s] (an adapter made for another base model?)", path, t->name, hs, ws);
            goto fail;
        }
        if ((rc = read_tensor(t, ab ? mod->B : mod->A, path, err))) goto fail;
    }
    for (int i = 0; i < L * PT_LIN_COUNT * 3; i++)   // (a trained bias PEFT left out keeps the base's, as PEFT loads it)
        if (i % 3 < 2 && a->mods[i / 3].A && !seen[i]) {
            char key[160];
            tensor_key(key, sizeof key, a->arch, i / 3 / PT_LIN_COUNT, i / 3 % PT_LIN_COUNT, i % 3);
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: missing tensor %s", path, key);
            goto fail;
        }
    for (int i = 0; i < 2; i++)
        if ((i ? a->save_head : a->save_embed) && !saved_seen[i]) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: missing tensor %s (named in modules_to_save)", path, SAVE_KEYS[i]);
            goto fail;
        }
    // where it came from: peftui.json, else PEFT's base_model_name_or_path
    char here[80];
    snprintf(here, sizeof here, "%s", a->base_fingerprint);  // adapter_bind put the loaded model's there
    a->base_fingerprint[0] = 0;
    snprintf(a->base_name, sizeof a->base_name, "%.255s", cfg.base_model);
    int present;
    if ((rc = read_meta(a, dir, &present, err))) goto fail;
    if (present && a->base_fingerprint[0] && strcmp(a->base_fingerprint, here) && warning && wcap)
        snprintf(warning, wcap, "adapter %s was trained on %s (%s); the loaded base %s is %s: its output may be wrong",
                 dir, a->base_name[0] ? a->base_name : "another base", a->base_fingerprint, m->cfg.name, here);
    const char *b = dir + strlen(dir);
    while (b > dir && b[-1] == '/') b--;
    const char *e = b;
    while (b > dir && b[-1] != '/') b--;
    snprintf(a->name, sizeof a->name, "%.*s", (int)(e - b), b);
    rc = PT_OK;
    goto done;
fail:
    adapter_free(a);
done:
    free(seen);
    if (have_st) st_close(&f);
    if (have_cfg) lora_config_free(&cfg);
    return rc;
}
