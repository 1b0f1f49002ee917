// lora.c - the choice of targeted modules exactly as PEFT makes it, and
// binding a config (lora_config.c) to a loaded model: one (A, B) pair per
// targeted linear layer, plus the modules_to_save copies.
//
// Matching mirrors peft/tuners/tuners_utils.py check_target_module_exists:
//   1. exclude_modules wins (a string: regex over the whole name; a list:
//      the name itself or a ".suffix");
//   2. target_modules as a string: regex over the whole name ("all-linear":
//      every linear layer of the blocks, not the output head);
//   3. as a list: the name itself (layers_to_transform then NOT applied, as
//      in PEFT), else a ".suffix" match filtered by layers_to_transform, the
//      layer index taken as PEFT does (first numbered segment, or the one
//      after layers_pattern).
// rank_pattern / alpha_pattern: the first key (in file order) with
// re.match("(.*\.)?(key)$", name) gives the module's r / alpha.
// Regexes run on PCRE2 with Python's patterns, anchored as re.match /
// re.fullmatch anchor them.
#include "lora/lora.h"
#include "lora/lora_internal.h"
#include "core/hash.h"
#include "core/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

const char *const pt_linear_names[PT_LIN_COUNT] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                   "gate_proj", "up_proj", "down_proj"};
const char *const pt_linear_parents[PT_LIN_COUNT] = {"self_attn", "self_attn", "self_attn", "self_attn",
                                                     "mlp", "mlp", "mlp"};

// ---------------------------------------------------------------- targets

void lora_module_name(char *buf, size_t cap, int layer, pt_linear slot) {
    snprintf(buf, cap, "model.layers.%d.%s.%s", layer, pt_linear_parents[slot], pt_linear_names[slot]);
}

static int in_list_or_suffix(char *const *list, int n, const char *name) {
    size_t ln = strlen(name);
    for (int i = 0; i < n; i++) {
        size_t k = strlen(list[i]);
        if (!strcmp(list[i], name)) return 1;
        if (ln > k && name[ln - k - 1] == '.' && !strcmp(name + ln - k, list[i])) return 1;
    }
    return 0;
}

// PEFT's layer index of a module name, or -1.
static int layer_index(const pt_lora_config *c, const char *name) {
    char idx[16], rx[160];
    int m;
    if (!c->layers_pattern[0])
        m = lora_re_match("(?:.*?\\.[^.]*\\.)(\\d+)\\.", name, PCRE2_ANCHORED, idx, sizeof idx, NULL);
    else {
        snprintf(rx, sizeof rx, "(?:^|.*?\\.)(?:%s)\\.(\\d+)\\.", c->layers_pattern);
        m = lora_re_match(rx, name, PCRE2_ANCHORED, idx, sizeof idx, NULL);
    }
    return m > 0 && idx[0] ? atoi(idx) : -1;
}

// 1 when PEFT would put a LoRA on module `name`; is_linear: a linear layer
// of the blocks (what all-linear covers).
int lora_saves_module(const pt_lora_config *c, const char *name) {
    size_t n = strlen(name);
    for (int i = 0; i < c->n_modules_to_save; i++) {
        const char *e = c->modules_to_save[i];
        size_t k = strlen(e);
        if (k <= n && !strcmp(name + n - k, e) && (k == n || name[n - k - 1] == '.')) return 1;
    }
    return 0;
}

static int target_matches(const pt_lora_config *c, const char *name, int is_linear) {
    if (c->exclude_regex && lora_re_match(c->exclude_regex, name, PCRE2_ANCHORED | PCRE2_ENDANCHORED, NULL, 0, NULL) > 0)
        return 0;
    if (in_list_or_suffix(c->exclude_modules, c->n_exclude_modules, name)) return 0;
    for (int i = 0; i < c->n_modules_to_save; i++) {  // PEFT never adapts a module it saves whole
        char rx[300];
        snprintf(rx, sizeof rx, "(^|.*\\.)%s($|\\..*)", c->modules_to_save[i]);
        if (lora_re_match(rx, name, PCRE2_ANCHORED, NULL, 0, NULL) > 0) return 0;
    }
    if (c->target_all_linear) return is_linear;
    if (c->target_regex) return lora_re_match(c->target_regex, name, PCRE2_ANCHORED | PCRE2_ENDANCHORED, NULL, 0, NULL) > 0;
    for (int i = 0; i < c->n_target_modules; i++)
        if (!strcmp(c->target_modules[i], name)) return 1;  // an exact name skips the layer filter
    if (!in_list_or_suffix(c->target_modules, c->n_target_modules, name)) return 0;
    if (!c->n_layers_to_transform) return 1;
    int li = layer_index(c, name);
    for (int i = 0; li >= 0 && i < c->n_layers_to_transform; i++)
        if (c->layers_to_transform[i] == li) return 1;
    return 0;
}

void lora_describe_targets(const pt_lora_config *c, char *buf, size_t cap) {
    if (c->target_all_linear) { snprintf(buf, cap, "all-linear"); return; }
    if (c->target_regex) { snprintf(buf, cap, "\"%s\"", c->target_regex); return; }
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < c->n_target_modules && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", c->target_modules[i]);
}

// ---------------------------------------------------------------- binding

static int model_dims(const pt_config *mc, pt_linear s, int *in, int *out) {
    int C = mc->n_embd, F = mc->n_ff, Q = mc->n_head * mc->head_dim, KV = mc->n_head_kv * mc->head_dim;
    static const int IN_IS_C[PT_LIN_COUNT] = {1, 1, 1, 0, 1, 1, 0};
    *in = IN_IS_C[s] ? C : s == PT_LIN_O ? Q : F;
    switch (s) {
    case PT_LIN_Q: *out = Q; break;
    case PT_LIN_K: case PT_LIN_V: *out = KV; break;
    case PT_LIN_O: case PT_LIN_DOWN: *out = C; break;
    default: *out = F; break;
    }
    return PT_OK;
}

int adapter_bind(pt_adapter *a, const pt_model *m, const pt_lora_config *cfg, pt_err *err) {
    memset(a, 0, sizeof *a);
    const pt_config *mc = &m->cfg;
    int rc = lora_config_validate(cfg, err);
    if (rc) return rc;
    for (int i = 0; i < cfg->n_modules_to_save; i++) {  // only the embedding and the head can be saved whole
        const char *e = cfg->modules_to_save[i];
        pt_lora_config one = {.modules_to_save = (char **)&e, .n_modules_to_save = 1};
        if (!lora_saves_module(&one, "lm_head") && !lora_saves_module(&one, "model.embed_tokens"))
            return pt_fail(err, PT_ERR_UNSUPPORTED, "modules_to_save entry '%s' is not supported: peftui trains whole "
                           "copies of lm_head and embed_tokens only", e);
    }
    if (cfg->bias != PT_BIAS_NONE && mc->has_qkv_bias)
        return pt_fail(err, PT_ERR_UNSUPPORTED, "bias=\"%s\" on a model with biases (%s) is not implemented yet; use "
                       "bias=\"none\"", cfg->bias == PT_BIAS_ALL ? "all" : "lora_only", mc->arch);
    if ((rc = lora_config_copy(&a->cfg, cfg, err))) return rc;
    pt_lora_config *c = &a->cfg;
    if (!c->n_target_modules && !c->target_regex && !c->target_all_linear) {
        const char *names[8];
        const char *type = !strcmp(mc->arch, "smollm") ? "llama" : mc->arch;  // SmolLM is a LlamaForCausalLM
        int n = lora_default_targets(type, names, 8);
        if (!n) {
            rc = pt_fail(err, PT_ERR_ARG, "no target_modules given and PEFT has no default for model type %s; "
                         "name them (e.g. q_proj, v_proj)", mc->arch);
            goto fail;
        }
        c->target_modules = calloc((size_t)n, sizeof(char *));
        if (!c->target_modules) goto nomem;
        for (int i = 0; i < n; i++)
            if (!(c->target_modules[c->n_target_modules++] = strdup(names[i]))) goto nomem;
    }
    // modules peftui cannot adapt: PEFT would put a LoRA on them
    static const char *const OTHER[] = {"lm_head", "model.embed_tokens"};
    for (int i = 0; i < 2; i++)
        if (target_matches(c, OTHER[i], 0)) {
            rc = pt_fail(err, PT_ERR_UNSUPPORTED, "target_modules matches %s: LoRA on the %s is not implemented yet "
                         "(the linear layers of the blocks are)", OTHER[i], i ? "token embedding" : "output head");
            goto fail;
        }
    int L = mc->n_layer, count = 0;
    a->n_layer = L;
    a->mods = calloc((size_t)L * PT_LIN_COUNT, sizeof *a->mods);
    if (!a->mods) goto nomem;
    size_t total = 0;
    char name[128];
    for (int l = 0; l < L; l++)
        for (int s = 0; s < PT_LIN_COUNT; s++) {
            pt_lora_module *mod = &a->mods[l * PT_LIN_COUNT + s];
            model_dims(mc, (pt_linear)s, &mod->in, &mod->out);
            lora_module_name(name, sizeof name, l, (pt_linear)s);
            if (!target_matches(c, name, 1)) continue;
            const pt_pattern *rp = lora_pattern_for(c->rank_pattern, c->n_rank_pattern, name);
            const pt_pattern *ap = lora_pattern_for(c->alpha_pattern, c->n_alpha_pattern, name);
            mod->r = rp ? (int)rp->value : c->r;
            double alpha = ap ? ap->value : c->lora_alpha;
            mod->scale = (float)(c->use_rslora ? alpha / sqrt((double)mod->r) : alpha / mod->r);
            total += (size_t)mod->r * (size_t)(mod->in + mod->out);
            count++;
        }
    if (!count) {
        char t[200];
        lora_describe_targets(c, t, sizeof t);
        rc = pt_fail(err, PT_ERR_ARG, "target_modules %s%s%s matches no module of this model; its modules are "
                     "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj (full names like "
                     "model.layers.0.self_attn.q_proj, layers 0-%d)", t,
                     c->n_layers_to_transform ? " with layers_to_transform" : "",
                     c->n_exclude_modules || c->exclude_regex ? " less exclude_modules" : "", L - 1);
        goto fail;
    }
    size_t VC = (size_t)mc->vocab_size * mc->n_embd;
    int save_embed = lora_saves_module(c, "model.embed_tokens"), save_head = lora_saves_module(c, "lm_head");
    total += (size_t)(save_embed + save_head) * VC;
    a->params = calloc(total, sizeof(float));
    if (!a->params) goto nomem;
    a->n_params = total;
    float *p = a->params;
    for (int i = 0; i < L * PT_LIN_COUNT; i++) {  // each module's A then its B
        pt_lora_module *mod = &a->mods[i];
        if (!mod->r) continue;
        mod->A = p;
        p += (size_t)mod->r * mod->in;
        mod->B = p;
        p += (size_t)mod->out * mod->r;
    }
    if (save_embed) { a->save_embed = p; p += VC; }
    if (save_head) a->save_head = p;
    snprintf(a->base_name, sizeof a->base_name, "%s", mc->name);
    model_fingerprint(m, a->base_fingerprint, sizeof a->base_fingerprint);
    return PT_OK;
nomem:
    rc = pt_fail(err, PT_ERR_NOMEM, "out of memory for the adapter");
fail:
    adapter_free(a);
    return rc;
}

// Our generator: splitmix64 (core/rng.h, seeded, no global state). PyTorch's
// exact stream is not reproduced; the distributions are PEFT's.
static void fill_uniform(float *x, size_t n, double bound, uint64_t *s) {
    for (size_t i = 0; i < n; i++) x[i] = (float)((2.0 * pt_rng_u01(s) - 1.0) * bound);
}
static void fill_normal(float *x, size_t n, double std, uint64_t *s) {
    for (size_t i = 0; i < n; i++) {  // Box-Muller, one value per pair
        double u1 = 1.0 - pt_rng_u01(s), u2 = pt_rng_u01(s);
        x[i] = (float)(std * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
}

int adapter_create(pt_adapter *a, const pt_model *m, const pt_lora_config *cfg, uint64_t seed, pt_err *err) {
    int rc = adapter_bind(a, m, cfg, err);
    if (rc) return rc;
    size_t VC = (size_t)m->cfg.vocab_size * m->cfg.n_embd;  // saved modules start as the base's own
    if (a->save_embed) memcpy(a->save_embed, m->w.tok_embd, VC * sizeof(float));
    if (a->save_head) memcpy(a->save_head, m->w.lm_head, VC * sizeof(float));
    uint64_t s = seed ^ 0x5DEECE66Dull;
    for (int i = 0; i < a->n_layer * PT_LIN_COUNT; i++) {
        pt_lora_module *mod = &a->mods[i];
        if (!mod->A) continue;
        size_t na = (size_t)mod->r * mod->in, nb = (size_t)mod->out * mod->r;
        // PEFT reset_lora_parameters / update_layer:
        //   true:       A kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(in)), B = 0
        //   "gaussian": A ~ N(0, (1/r)^2), B = 0
        //   false:      nn.Linear's own init for both: A U(+-1/sqrt(in)), B U(+-1/sqrt(r))
        if (a->cfg.init == PT_INIT_GAUSSIAN)
            fill_normal(mod->A, na, 1.0 / mod->r, &s);
        else
            fill_uniform(mod->A, na, 1.0 / sqrt((double)mod->in), &s);
        if (a->cfg.init == PT_INIT_ZERO_A)
            fill_uniform(mod->B, nb, 1.0 / sqrt((double)mod->r), &s);
        else
            memset(mod->B, 0, nb * sizeof(float));
    }
    return PT_OK;
}

void adapter_free(pt_adapter *a) {
    lora_config_free(&a->cfg);
    free(a->mods);
    free(a->params);
    memset(a, 0, sizeof *a);
}

// ---------------------------------------------------------------- fingerprint


// Up to 4096 evenly strided floats of each weight tensor (bit patterns).
static uint64_t hash_sample(uint64_t h, const float *x, size_t n) {
    if (!x || !n) return h;
    size_t stride = n > 4096 ? n / 4096 : 1;
    for (size_t i = 0; i < n; i += stride)
        h = pt_fnv1a(h, &x[i], sizeof(float));
    return pt_fnv1a(h, &n, sizeof n);
}

void model_fingerprint(const pt_model *m, char *buf, size_t cap) {
    const pt_config *c = &m->cfg;
    const pt_weights *w = &m->w;
    uint64_t h = PT_FNV1A_INIT;
    int32_t dims[] = {c->n_layer, c->n_embd, c->n_ff, c->n_head, c->n_head_kv, c->head_dim, c->vocab_size,
                      c->tied_embeddings};
    h = pt_fnv1a(h, dims, sizeof dims);
    size_t L = c->n_layer, C = c->n_embd, F = c->n_ff, V = c->vocab_size;
    size_t Q = (size_t)c->n_head * c->head_dim, KV = (size_t)c->n_head_kv * c->head_dim;
    const struct { const float *p; size_t n; } T[] = {
        {w->tok_embd, V * C}, {w->attn_norm, L * C}, {w->wq, L * Q * C}, {w->wk, L * KV * C}, {w->wv, L * KV * C},
        {w->bq, L * Q}, {w->bk, L * KV}, {w->bv, L * KV}, {w->wo, L * C * Q}, {w->ffn_norm, L * C},
        {w->w_gate, L * F * C}, {w->w_up, L * F * C}, {w->w_down, L * C * F}, {w->out_norm, C},
        {c->tied_embeddings ? NULL : w->lm_head, V * C},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        h = hash_sample(h, T[i].p, T[i].n);
    snprintf(buf, cap, "fnv1a64:%016llx", (unsigned long long)h);
}
