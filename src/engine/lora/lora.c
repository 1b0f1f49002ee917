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
#include "model/model_internal.h"
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

// ---------------------------------------------------------------- targets

void lora_module_name(char *buf, size_t cap, const pt_arch *a, int layer, pt_linear slot) {
    if (a->modules[slot])
        snprintf(buf, cap, "%s.%d.%s", a->layers, layer, a->modules[slot]);
    else if (cap)
        buf[0] = 0;
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
    static const int IN_IS_C[PT_LIN_COUNT] = {1, 1, 1, 0, 1, 1, 0, 1};
    *in = IN_IS_C[s] ? C : s == PT_LIN_O ? Q : F;
    switch (s) {
    case PT_LIN_Q: *out = Q; break;
    case PT_LIN_K: case PT_LIN_V: *out = KV; break;
    case PT_LIN_O: case PT_LIN_DOWN: *out = C; break;
    case PT_LIN_QKV: *out = Q + 2 * KV; break;
    default: *out = F; break;
    }
    return PT_OK;
}

// The checks that need the model, and c with PEFT's default targets filled in
// when it names none (into *out, owned by the caller).
static int resolve_config(pt_lora_config *out, const pt_model *m, const pt_lora_config *cfg, pt_err *err) {
    const pt_config *mc = &m->cfg;
    memset(out, 0, sizeof *out);
    int rc = lora_config_validate(cfg, err);
    if (rc) return rc;
    for (int i = 0; i < cfg->n_modules_to_save; i++) {  // only the embedding and the head can be saved whole
        const char *e = cfg->modules_to_save[i];
        pt_lora_config one = {.modules_to_save = (char **)&e, .n_modules_to_save = 1};
        if (!lora_saves_module(&one, "lm_head") && !lora_saves_module(&one, "model.embed_tokens"))
            return pt_fail(err, PT_ERR_UNSUPPORTED, "modules_to_save entry '%s' is not supported: peftui trains whole "
                           "copies of lm_head and embed_tokens only", e);
    }
    if (cfg->bias == PT_BIAS_ALL && mc->desc->hf[W_ATTN_NORM_B])
        return pt_fail(err, PT_ERR_UNSUPPORTED, "bias=\"all\" on %s also trains its LayerNorm biases, which is not "
                       "implemented yet; use bias=\"lora_only\" (the targeted layers' biases) or \"none\"", mc->arch);
    if (cfg->n_modules_to_save && strcmp(mc->desc->layers, "model.layers"))
        return pt_fail(err, PT_ERR_UNSUPPORTED, "modules_to_save on a %s model is not implemented yet (LLaMA-family "
                       "models have it)", mc->arch);
    if ((rc = lora_config_copy(out, cfg, err))) return rc;
    out->fan_in_fan_out = mc->desc->conv1d;   // PEFT sets it from the layer type, warning when told otherwise
    if (!out->n_target_modules && !out->target_regex && !out->target_all_linear) {
        const char *names[8];
        const char *type = !strcmp(mc->arch, "smollm") ? "llama" : mc->arch;  // SmolLM is a LlamaForCausalLM
        int n = lora_default_targets(type, names, 8);
        if (!n) {
            lora_config_free(out);
            return pt_fail(err, PT_ERR_ARG, "no target_modules given and PEFT has no default for model type %s; "
                           "name them (e.g. q_proj, v_proj)", mc->arch);
        }
        out->target_modules = calloc((size_t)n, sizeof(char *));
        for (int i = 0; out->target_modules && i < n; i++)
            if ((out->target_modules[out->n_target_modules] = strdup(names[i]))) out->n_target_modules++;
        if (out->n_target_modules != n) {
            lora_config_free(out);
            return pt_fail(err, PT_ERR_NOMEM, "out of memory");
        }
    }
    // modules peftui cannot adapt: PEFT would put a LoRA on them
    static const char *const OTHER[] = {"lm_head", "model.embed_tokens"};
    for (int i = 0; i < 2; i++)
        if (target_matches(out, OTHER[i], 0)) {
            lora_config_free(out);
            return pt_fail(err, PT_ERR_UNSUPPORTED, "target_modules matches %s: LoRA on the %s is not implemented yet "
                           "(the linear layers of the blocks are)", OTHER[i], i ? "token embedding" : "output head");
        }
    return PT_OK;
}

// Which modules the resolved config c targets, with each one's r, scale and
// dims in mods (L * PT_LIN_COUNT; r 0 for the others). Returns the count;
// *n_params gets A and B's floats (the saved modules not included).
static int match_modules(const pt_lora_config *c, const pt_model *m, pt_lora_module *mods, size_t *n_params) {
    const pt_config *mc = &m->cfg;
    int count = 0;
    size_t total = 0;
    char name[128];
    for (int l = 0; l < mc->n_layer; l++)
        for (int s = 0; s < PT_LIN_COUNT; s++) {
            pt_lora_module *mod = &mods[l * PT_LIN_COUNT + s];
            memset(mod, 0, sizeof *mod);
            model_dims(mc, (pt_linear)s, &mod->in, &mod->out);
            if (!mc->desc->modules[s]) continue;   // the family has no such layer
            lora_module_name(name, sizeof name, mc->desc, l, (pt_linear)s);
            int targeted = target_matches(c, name, 1);
            const float *bb;
            int64_t sh[2];
            int has_bias = model_slot(m, arch_bias_slot((pt_linear)s), l, &bb, sh) > 0;
            mod->trains_bias = has_bias && (c->bias == PT_BIAS_ALL || (c->bias == PT_BIAS_LORA_ONLY && targeted));
            if (mod->trains_bias) total += (size_t)mod->out;
            if (!targeted) continue;
            const pt_pattern *rp = lora_pattern_for(c->rank_pattern, c->n_rank_pattern, name);
            const pt_pattern *ap = lora_pattern_for(c->alpha_pattern, c->n_alpha_pattern, name);
            mod->r = rp ? (int)rp->value : c->r;
            double alpha = ap ? ap->value : c->lora_alpha;
            mod->scale = (float)(c->use_rslora ? alpha / sqrt((double)mod->r) : alpha / mod->r);
            total += (size_t)mod->r * (size_t)(mod->in + mod->out);
            count++;
        }
    *n_params = total;
    return count;
}

static int no_match(const pt_lora_config *c, const pt_arch *a, int L, pt_err *err) {
    char t[200], mods[200] = "", full[160] = "";
    size_t n = 0;
    lora_describe_targets(c, t, sizeof t);
    for (int s = 0; s < PT_LIN_COUNT && n < sizeof mods; s++)
        if (a->modules[s]) {
            n += (size_t)snprintf(mods + n, sizeof mods - n, "%s%s", n ? ", " : "", arch_module_short(a, (pt_linear)s));
            if (!full[0]) lora_module_name(full, sizeof full, a, 0, (pt_linear)s);
        }
    return pt_fail(err, PT_ERR_ARG, "target_modules %s%s%s matches no module of this model; its modules are "
                   "%s (full names like %s, layers 0-%d)", t,
                   c->n_layers_to_transform ? " with layers_to_transform" : "",
                   c->n_exclude_modules || c->exclude_regex ? " less exclude_modules" : "", mods, full, L - 1);
}

int lora_match(const pt_model *m, const pt_lora_config *cfg, pt_lora_module *mods, int *n_matched, size_t *n_params,
               pt_err *err) {
    pt_lora_config c;
    size_t nm = (size_t)m->cfg.n_layer * PT_LIN_COUNT;
    int rc = resolve_config(&c, m, cfg, err);
    if (rc) return rc;
    pt_lora_module *own = mods ? NULL : calloc(nm ? nm : 1, sizeof *own);
    if (!mods && !own) {
        lora_config_free(&c);
        return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    }
    size_t total = 0;
    int count = match_modules(&c, m, mods ? mods : own, &total);
    size_t VC = (size_t)m->cfg.vocab_size * m->cfg.n_embd;
    total += (size_t)(lora_saves_module(&c, "model.embed_tokens") + lora_saves_module(&c, "lm_head")) * VC;
    if (n_matched) *n_matched = count;
    if (n_params) *n_params = total;
    if (!count) rc = no_match(&c, m->cfg.desc, m->cfg.n_layer, err);
    free(own);
    lora_config_free(&c);
    return rc;
}

int adapter_bind(pt_adapter *a, const pt_model *m, const pt_lora_config *cfg, pt_err *err) {
    memset(a, 0, sizeof *a);
    const pt_config *mc = &m->cfg;
    int rc = resolve_config(&a->cfg, m, cfg, err);
    if (rc) return rc;
    pt_lora_config *c = &a->cfg;
    int L = mc->n_layer;
    a->n_layer = L;
    a->mods = calloc((size_t)L * PT_LIN_COUNT, sizeof *a->mods);
    if (!a->mods) goto nomem;
    size_t total = 0;
    a->arch = mc->desc;
    if (!match_modules(c, m, a->mods, &total)) {
        rc = no_match(c, mc->desc, L, err);
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
    if (save_head) { a->save_head = p; p += VC; }
    for (int i = 0; i < L * PT_LIN_COUNT; i++) {   // trained biases last, each starting as the base's
        pt_lora_module *mod = &a->mods[i];
        const float *bb;
        int64_t sh[2];
        if (!mod->trains_bias || !model_slot(m, arch_bias_slot((pt_linear)(i % PT_LIN_COUNT)), i / PT_LIN_COUNT, &bb, sh))
            continue;
        mod->bias = p;
        memcpy(p, bb, sizeof(float) * (size_t)mod->out);
        p += mod->out;
    }
    snprintf(a->base_name, sizeof a->base_name, "%s", mc->name);
    model_fingerprint(m, a->base_fingerprint, sizeof a->base_fingerprint);
    return PT_OK;
nomem:
    rc = pt_fail(err, PT_ERR_NOMEM, "out of memory for the adapter");
fail:
    adapter_free(a);
    return rc;
}

int lora_check(const pt_model *m, const pt_lora_config *cfg, pt_problem *out, int cap) {
    int n = lora_config_problems(cfg, out, cap);
    const pt_config *mc = &m->cfg;
    int L = mc->n_layer;
    for (int i = 0; i < cfg->n_layers_to_transform; i++)
        if (cfg->layers_to_transform[i] >= L)
            pt_problem_add(out, cap, &n, "layers_to_transform", 0, "layers_to_transform: layer %d is past the last "
                           "layer (this model has layers 0-%d)", cfg->layers_to_transform[i], L - 1);
    for (int i = 0; i < cfg->n_modules_to_save; i++) {
        const char *e = cfg->modules_to_save[i];
        pt_lora_config one = {.modules_to_save = (char **)&e, .n_modules_to_save = 1};
        if (!lora_saves_module(&one, "lm_head") && !lora_saves_module(&one, "model.embed_tokens"))
            pt_problem_add(out, cap, &n, "modules_to_save", 0, "modules_to_save entry '%s' is not supported: peftui "
                           "trains whole copies of lm_head and embed_tokens only", e);
    }
    if (cfg->bias == PT_BIAS_ALL && mc->desc->hf[W_ATTN_NORM_B])
        pt_problem_add(out, cap, &n, "bias", 0, "bias=\"all\" on %s also trains its LayerNorm biases, which is not "
                       "implemented yet; use \"lora_only\" or \"none\"", mc->arch);
    if (n) return n;   // the rest needs a config that resolves
    pt_err err = {0};
    pt_lora_module *mods = calloc((size_t)L * PT_LIN_COUNT, sizeof *mods);
    int count = 0;
    if (!mods) return pt_problem_add(out, cap, &n, "target_modules", 0, "out of memory");
    if (lora_match(m, cfg, mods, &count, NULL, &err) != PT_OK)   // what is left: the targets
        pt_problem_add(out, cap, &n, "target_modules", 0, "%s", err.msg);
    int big = 0, r_big = 0, min_dim = 0;   // modules whose r is above their rank; the largest r, the smallest rank
    for (int i = 0; i < L * PT_LIN_COUNT; i++) {
        const pt_lora_module *mod = &mods[i];
        int d = mod->in < mod->out ? mod->in : mod->out;
        if (!mod->r || mod->r <= d) continue;
        if (!big++ || d < min_dim) min_dim = d;
        if (mod->r > r_big) r_big = mod->r;
    }
    if (big)
        pt_problem_add(out, cap, &n, "r", 1, "r=%d is more than %d module%s can use (rank at most %d there): the extra "
                       "rank only costs memory", r_big, big, big == 1 ? "" : "s", min_dim);
    char name[128];
    for (int k = 0; k < cfg->n_rank_pattern + cfg->n_alpha_pattern; k++) {   // keys that change nothing
        int is_rank = k < cfg->n_rank_pattern;
        const pt_pattern *pat = is_rank ? &cfg->rank_pattern[k] : &cfg->alpha_pattern[k - cfg->n_rank_pattern];
        int hit = 0;
        for (int i = 0; i < L * PT_LIN_COUNT && !hit; i++) {
            if (!mods[i].r) continue;
            lora_module_name(name, sizeof name, mc->desc, i / PT_LIN_COUNT, (pt_linear)(i % PT_LIN_COUNT));
            hit = lora_pattern_for(pat, 1, name) != NULL;
        }
        if (!hit)
            pt_problem_add(out, cap, &n, is_rank ? "rank_pattern" : "alpha_pattern", 1,
                           "%s key \"%s\" matches none of the targeted modules", is_rank ? "rank_pattern" : "alpha_pattern",
                           pat->key);
    }
    if (cfg->fan_in_fan_out != mc->desc->conv1d)
        pt_problem_add(out, cap, &n, "fan_in_fan_out", 1, "fan_in_fan_out=%s, but %s's layers are %s: PEFT sets it to %s, "
                       "and so does peftui", cfg->fan_in_fan_out ? "true" : "false", mc->arch,
                       mc->desc->conv1d ? "Conv1D (stored in, out)" : "nn.Linear", mc->desc->conv1d ? "true" : "false");
    free(mods);
    return n;
}

int adapter_touches_cache(const pt_adapter *a) {
    if (!a) return 0;
    if (a->save_embed) return 1;
    for (int l = 0; l < a->n_layer; l++)
        for (int s = 0; s < PT_LIN_COUNT; s++) {
            if (!a->mods[l * PT_LIN_COUNT + s].A && !a->mods[l * PT_LIN_COUNT + s].bias) continue;
            // every module of an earlier layer feeds the later layers' keys
            // and values; in the last layer only k_proj, v_proj (or a fused qkv) do
            if (l < a->n_layer - 1 || s == PT_LIN_K || s == PT_LIN_V || s == PT_LIN_QKV) return 1;
        }
    return 0;
}

// ||scale * B A||_F from r x r products: ||BA||^2 = sum_ij (B^T B)_ij (A A^T)_ij.
void adapter_norms(const pt_adapter *a, float user_scale, float *out) {
    for (int i = 0; i < a->n_layer * PT_LIN_COUNT; i++) {
        const pt_lora_module *mod = &a->mods[i];
        out[i] = -1.0f;
        if (!mod->A) continue;
        int r = mod->r;
        double sum = 0.0;
        for (int x = 0; x < r; x++)
            for (int y = x; y < r; y++) {
                double bb = 0.0, aa = 0.0;
                for (int o = 0; o < mod->out; o++) bb += (double)mod->B[(size_t)o * r + x] * mod->B[(size_t)o * r + y];
                for (int k = 0; k < mod->in; k++) aa += (double)mod->A[(size_t)x * mod->in + k] * mod->A[(size_t)y * mod->in + k];
                sum += (x == y ? 1.0 : 2.0) * bb * aa;   // both triangles
            }
        out[i] = (float)(fabs((double)mod->scale * user_scale) * sqrt(sum > 0 ? sum : 0));
    }
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
        // the other families' tensors (NULL, so no change to a LLaMA's fingerprint)
        {w->wqkv, L * (Q + 2 * KV) * C}, {w->bqkv, L * (Q + 2 * KV)}, {w->bo, L * C}, {w->b_up, L * F},
        {w->b_down, L * C}, {w->emb_norm, C}, {w->attn_norm_b, L * C}, {w->ffn_norm_b, L * C}, {w->out_norm_b, C},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        h = hash_sample(h, T[i].p, T[i].n);
    snprintf(buf, cap, "fnv1a64:%016llx", (unsigned long long)h);
}
