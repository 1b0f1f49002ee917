// adapter_gguf.c - a llama.cpp GGUF LoRA (what `llama-cli --lora` reads and
// export.c's export_gguf_lora writes) loaded onto a base model as a
// pt_adapter, the exporter's inverse:
//   general.type "adapter", adapter.type "lora", general.architecture,
//   adapter.lora.alpha (f32; absent or 0: llama.cpp scales by 1, i.e. alpha = r)
//   blk.N.<lin>.weight.lora_a  ne [in, r]   = PEFT's A (r, in), same bytes
//   blk.N.<lin>.weight.lora_b  ne [r, out]  = PEFT's B (out, r); for
//       llama-style archs the q/k rows in the GGUF base's RoPE row order
//   <lin>: attn_q attn_k attn_v attn_output ffn_gate ffn_up ffn_down
// The file has one alpha and a rank per module; the LoraConfig made from it
// has the most common rank as r, rank_pattern for the others, and targets
// that give exactly the modules present. F32, F16 and BF16 tensors load.
#include "lora/lora.h"

#include <math.h>
#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/dequant.h"
#include "io/gguf.h"
#include "model/model_internal.h"

#define MAX_RANK 1000000  // as lora_config.c bounds rank_pattern values

static const char *const GGUF_LIN[PT_LIN_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                                   "ffn_gate", "ffn_up", "ffn_down", "attn_qkv"};

// One module's tensors as found in the file: lora_a (t[0]) and lora_b (t[1]).
typedef struct {
    const gguf_tensor *t[2];
    int r;
} gguf_pair;

// The architecture names a LoRA for m may carry: llama.cpp's for this base
// (export.c's gguf_arch: a GGUF base's own; a Hugging Face base converts to
// "qwen2" or "llama") and the base's own name.
static int arch_matches(const pt_model *m, const char *arch) {
    const char *want = m->source == PT_SRC_GGUF ? m->cfg.arch : !strcmp(m->cfg.arch, "qwen2") ? "qwen2" : "llama";
    return !strcmp(arch, want) || !strcmp(arch, m->cfg.arch);
}

// A tensor name for messages: at most 200 bytes of a string from the file
// (not NUL-terminated there).
#define NAME_ARG(s) (int)((s).len > 200 ? 200 : (s).len), (s).ptr

// Parses "blk.N.<lin>.weight.lora_a|lora_b". Returns 1 with *layer, *slot,
// *ab (0 lora_a, 1 lora_b) set, or 0. N is digits only, at most 9 of them
// (so it fits an int; the caller checks it against the model's layers).
static int parse_name(gguf_str s, int *layer, int *slot, int *ab) {
    char buf[96];
    if (s.len >= sizeof buf) return 0;
    memcpy(buf, s.ptr, (size_t)s.len);
    buf[s.len] = 0;
    if (strlen(buf) != s.len || strncmp(buf, "blk.", 4)) return 0;  // an embedded NUL is no name of ours
    const char *p = buf + 4;
    int n = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 9) n = n * 10 + (*p++ - '0'), digits++;
    if (!digits || *p != '.') return 0;
    p++;
    for (int sl = 0; sl < PT_LIN_COUNT; sl++) {
        size_t k = strlen(GGUF_LIN[sl]);
        if (strncmp(p, GGUF_LIN[sl], k)) continue;
        const char *rest = p + k;
        if (strcmp(rest, ".weight.lora_a") && strcmp(rest, ".weight.lora_b")) continue;
        *layer = n;
        *slot = sl;
        *ab = rest[13] == 'b';
        return 1;
    }
    return 0;
}

// "model\.layers\.(?:0|3)\.(?:self_attn\.q_proj|...)|..." (in one (?:...)):
// exactly the modules mask gives (per layer, bit s: slot s), layers grouped by the
// set of modules they have. malloc'd, or NULL when out of memory.
static char *exact_regex(const pt_arch *a, const unsigned char *mask, int L) {
    size_t cap = (size_t)L * (16 + 40 + PT_LIN_COUNT * 40) + 16, n = 0;
    char *rx = malloc(cap);
    unsigned char *done = calloc((size_t)L, 1);
    if (!rx || !done) {
        free(rx);
        free(done);
        return NULL;
    }
#define PUT(...) (n += (size_t)snprintf(rx + n, cap - n, __VA_ARGS__))
    PUT("(?:");
    int alts = 0;
    for (int l = 0; l < L; l++) {
        if (!mask[l] || done[l]) continue;
        PUT("%s", alts++ ? "|" : "");
        for (const char *c = a->layers; *c; c++) PUT(*c == '.' ? "\\." : "%c", *c);
        PUT("\\.(?:");
        int first = 1;
        for (int k = l; k < L; k++)
            if (mask[k] == mask[l]) {
                PUT("%s%d", first ? "" : "|", k);
                first = 0;
                done[k] = 1;
            }
        PUT(")\\.(?:");
        first = 1;
        for (int s = 0; s < PT_LIN_COUNT; s++)
            if (mask[l] & (1u << s)) {
                PUT("%s", first ? "" : "|");
                for (const char *c = a->modules[s]; *c; c++) PUT(*c == '.' ? "\\." : "%c", *c);
                first = 0;
            }
        PUT(")");
    }
    PUT(")");
#undef PUT
    free(done);
    return rx;  // cap holds the worst case: every layer its own group of all modules
}

// cfg's targets, ranks and alpha for the modules in pairs (L * PT_LIN_COUNT,
// r 0 where absent). alpha 0: llama.cpp's scale 1 per module (alpha = r).
static int build_config(pt_lora_config *cfg, const pt_arch *a, const gguf_pair *pairs, int L, float alpha, const char *path,
                        pt_err *err) {
    int n = L * PT_LIN_COUNT, rc = PT_OK;
    unsigned char *mask = calloc((size_t)L, 1);  // per layer: bit s set when slot s is present
    int *rank_v = malloc(sizeof(int) * (size_t)n), *rank_c = calloc((size_t)n, sizeof(int));
    char *rx = NULL;
    if (!mask || !rank_v || !rank_c) goto nomem;
    // the most common rank (ties: the smaller) is r
    int nr = 0, best = -1;
    for (int i = 0; i < n; i++) {
        if (!pairs[i].r) continue;
        mask[i / PT_LIN_COUNT] |= (unsigned char)(1u << (i % PT_LIN_COUNT));
        int k = 0;
        while (k < nr && rank_v[k] != pairs[i].r) k++;
        if (k == nr) rank_v[nr++] = pairs[i].r;
        rank_c[k]++;
    }
    for (int k = 0; k < nr; k++)
        if (best < 0 || rank_c[k] > rank_c[best] || (rank_c[k] == rank_c[best] && rank_v[k] < rank_v[best])) best = k;
    cfg->r = rank_v[best];
    cfg->lora_alpha = alpha > 0 ? alpha : (float)cfg->r;
    // targets: the short names, with layers_to_transform when that gives
    // exactly the modules present (every layer that has one has the same set)
    unsigned char slots = 0;
    int n_layers = 0, grid = 1;
    for (int l = 0; l < L; l++) {
        if (!mask[l]) continue;
        if (n_layers++ && mask[l] != slots) grid = 0;
        slots = mask[l];
    }
    if (grid) {
        int ns = 0;
        for (int s = 0; s < PT_LIN_COUNT; s++) ns += (slots >> s) & 1;
        if (!(cfg->target_modules = calloc((size_t)ns, sizeof(char *)))) goto nomem;
        for (int s = 0; s < PT_LIN_COUNT; s++)
            if ((slots >> s) & 1) {
                if (!(cfg->target_modules[cfg->n_target_modules] = strdup(arch_module_short(a, (pt_linear)s)))) goto nomem;
                cfg->n_target_modules++;
            }
        if (n_layers < L) {
            if (!(cfg->layers_to_transform = malloc(sizeof(int) * (size_t)n_layers))) goto nomem;
            for (int l = 0; l < L; l++)
                if (mask[l]) cfg->layers_to_transform[cfg->n_layers_to_transform++] = l;
        }
    } else {
        if (!(rx = exact_regex(a, mask, L))) goto nomem;
        cfg->target_regex = rx;
        rx = NULL;
    }
    // rank_pattern (and with no alpha in the file, alpha_pattern = r) by full
    // module name for the modules whose rank is not r
    int n_other = 0;
    for (int i = 0; i < n; i++) n_other += pairs[i].r && pairs[i].r != cfg->r;
    if (n_other) {
        cfg->rank_pattern = calloc((size_t)n_other, sizeof(pt_pattern));
        if (!cfg->rank_pattern) goto nomem;
        if (!(alpha > 0) && !(cfg->alpha_pattern = calloc((size_t)n_other, sizeof(pt_pattern)))) goto nomem;
        for (int i = 0; i < n; i++) {
            if (!pairs[i].r || pairs[i].r == cfg->r) continue;
            char name[128];
            lora_module_name(name, sizeof name, a, i / PT_LIN_COUNT, (pt_linear)(i % PT_LIN_COUNT));
            pt_pattern *p = &cfg->rank_pattern[cfg->n_rank_pattern];
            if (!(p->key = strdup(name))) goto nomem;
            p->value = (float)pairs[i].r;  // <= MAX_RANK: exact in a float
            cfg->n_rank_pattern++;
            if (cfg->alpha_pattern) {
                pt_pattern *q = &cfg->alpha_pattern[cfg->n_alpha_pattern];
                if (!(q->key = strdup(name))) goto nomem;
                q->value = (float)pairs[i].r;
                cfg->n_alpha_pattern++;
            }
        }
    }
    goto done;
nomem:
    rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
done:
    free(rx);
    free(mask);
    free(rank_v);
    free(rank_c);
    return rc;
}

// Tensor t (ne [d0, d1]) into dst as d1 rows of d0 floats; perm_hd > 0:
// file row g goes to row model_unpermute_row(g, perm_hd) (undoing the
// exporter's q/k order: it wrote GGUF row g from HF row unpermute(g)).
static void read_rows(const gguf_tensor *t, float *dst, int perm_hd) {
    uint64_t d0 = t->ne[0], d1 = t->ne[1];
    uint64_t row_bytes = ggml_type_nbytes(t->type, d0);  // F32/F16/BF16: d0 * 4 or 2
    if (!perm_hd) {
        dequant_row(t->type, t->data, dst, d0 * d1);
        return;
    }
    for (uint64_t g = 0; g < d1; g++)
        dequant_row(t->type, t->data + g * row_bytes, dst + (uint64_t)model_unpermute_row((int64_t)g, perm_hd) * d0, d0);
}

int adapter_load_gguf(pt_adapter *a, const pt_model *m, const char *path, char *warning, size_t wcap, pt_err *err) {
    gguf_file g;
    pt_lora_config cfg;
    gguf_pair *pairs = NULL;
    int rc;
    char kind[64], arch[64];
    int found;
    memset(a, 0, sizeof *a);
    lora_config_defaults(&cfg);
    if (warning && wcap) warning[0] = 0;  // a GGUF LoRA names no base fingerprint to compare
    if ((rc = gguf_open(&g, path, err))) return rc;  // its messages name the file

    // what the file is: a LoRA adapter for this architecture
    if ((rc = gguf_get_str(&g, "general.type", kind, sizeof kind, &found, err))) goto fail;
    if (!found || strcmp(kind, "adapter")) {
        rc = found ? pt_fail(err, PT_ERR_FORMAT, "%s: not a LoRA adapter (general.type is '%s'); pass an adapter file",
                             path, kind)
                   : pt_fail(err, PT_ERR_FORMAT, "%s: not a LoRA adapter (no general.type); pass an adapter file", path);
        goto fail;
    }
    if ((rc = gguf_get_str(&g, "adapter.type", kind, sizeof kind, &found, err))) goto fail;
    if (!found || strcmp(kind, "lora")) {
        rc = found ? pt_fail(err, PT_ERR_UNSUPPORTED, "%s: adapter.type is '%s'; only LoRA adapters ('lora') are "
                             "supported", path, kind)
                   : pt_fail(err, PT_ERR_FORMAT, "%s: not a LoRA adapter (no adapter.type)", path);
        goto fail;
    }
    if ((rc = gguf_get_str(&g, "general.architecture", arch, sizeof arch, &found, err))) goto fail;
    if (!found) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: missing key general.architecture", path);
        goto fail;
    }
    if (!arch_matches(m, arch)) {
        rc = pt_fail(err, PT_ERR_ARG, "%s: a LoRA for architecture '%s'; the loaded model is '%s' (an adapter made for "
                     "another base model?)", path, arch, m->cfg.arch);
        goto fail;
    }
    double alpha = 0;
    if ((rc = gguf_get_f64(&g, "adapter.lora.alpha", &alpha, &found, err))) goto fail;
    if (found && (!isfinite(alpha) || alpha < 0 || alpha > FLT_MAX)) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: adapter.lora.alpha is %g; a LoRA needs a positive alpha", path, alpha);
        goto fail;
    }

    // the tensors, each checked by name, type and shape
    int L = m->cfg.n_layer;
    pairs = calloc((size_t)L * PT_LIN_COUNT, sizeof *pairs);
    if (!pairs) {
        rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const gguf_tensor *t = &g.tensors[i];
        int l, sl, ab;
        if (!parse_name(t->name, &l, &sl, &ab)) {
            rc = pt_fail(err, PT_ERR_UNSUPPORTED, "%s: tensor %.*s is not a LoRA matrix of a block's linear layer "
                         "(blk.N.attn_q ... ffn_down.weight.lora_a / lora_b)", path, NAME_ARG(t->name));
            goto fail;
        }
        if (!m->cfg.desc->modules[sl]) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %.*s is for a layer a %s model does not have (an adapter made "
                         "for another base model?)", path, NAME_ARG(t->name), m->cfg.arch);
            goto fail;
        }
        if (l >= L) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %.*s is for layer %d, the base model has %d layers (an "
                         "adapter made for another base model?)", path, NAME_ARG(t->name), l, L);
            goto fail;
        }
        if (t->type != GGML_TYPE_F32 && t->type != GGML_TYPE_F16 && t->type != GGML_TYPE_BF16) {
            rc = pt_fail(err, PT_ERR_UNSUPPORTED, "%s: tensor %.*s has type %s (F32, F16 and BF16 are supported)", path,
                         NAME_ARG(t->name), ggml_type_name(t->type));
            goto fail;
        }
        if (t->n_dims != 2 || t->ne[0] > INT_MAX || t->ne[1] > INT_MAX) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %.*s is not a matrix of int-sized dims (%u dims, ne [%llu, "
                         "%llu])", path, NAME_ARG(t->name), t->n_dims, (unsigned long long)t->ne[0],
                         (unsigned long long)t->ne[1]);
            goto fail;
        }
        gguf_pair *p = &pairs[l * PT_LIN_COUNT + sl];
        if (p->t[ab]) {  // gguf_open refuses duplicate names; kept in case a name parses two ways
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %.*s given twice", path, NAME_ARG(t->name));
            goto fail;
        }
        p->t[ab] = t;
    }
    int n_mods = 0;
    for (int i = 0; i < L * PT_LIN_COUNT; i++) {
        gguf_pair *p = &pairs[i];
        if (!p->t[0] && !p->t[1]) continue;
        char nm[96];
        snprintf(nm, sizeof nm, "blk.%d.%s.weight.lora_%c", i / PT_LIN_COUNT, GGUF_LIN[i % PT_LIN_COUNT],
                 p->t[0] ? 'b' : 'a');
        if (!p->t[0] || !p->t[1]) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: missing tensor %s (its pair is present)", path, nm);
            goto fail;
        }
        uint64_t ra = p->t[0]->ne[1], rb = p->t[1]->ne[0];  // lora_a ne [in, r], lora_b ne [r, out]
        if (ra != rb || ra < 1 || ra > MAX_RANK) {
            nm[strlen(nm) - 1] = 'a';
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s has rank %llu, its lora_b %llu (ne [in, r] and [r, out]; "
                         "a rank of 1 to %d)", path, nm, (unsigned long long)ra, (unsigned long long)rb, MAX_RANK);
            goto fail;
        }
        p->r = (int)ra;
        n_mods++;
    }
    if (!n_mods) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: no LoRA tensors (blk.N.*.weight.lora_a / lora_b)", path);
        goto fail;
    }

    // the config that gives these modules and ranks, bound to m
    if ((rc = build_config(&cfg, m->cfg.desc, pairs, L, (float)alpha, path, err))) goto fail;
    if ((rc = adapter_bind(a, m, &cfg, err))) {
        char inner[PT_ERR_MSG_LEN];
        snprintf(inner, sizeof inner, "%s", err ? err->msg : "");
        rc = pt_fail(err, (pt_status)rc, "%s: %s", path, inner);
        goto fail;
    }
    for (int i = 0; i < L * PT_LIN_COUNT; i++) {
        const pt_lora_module *mod = &a->mods[i];
        if ((mod->A != NULL) != (pairs[i].r != 0) || (mod->A && mod->r != pairs[i].r)) {
            char nm[128];
            lora_module_name(nm, sizeof nm, m->cfg.desc, i / PT_LIN_COUNT, (pt_linear)(i % PT_LIN_COUNT));
            rc = pt_fail(err, PT_ERR_INTERNAL, "%s: the LoRA config made from the file does not give module %s rank %d",
                         path, nm, pairs[i].r);
            goto fail;
        }
    }
    // shapes against the base, then the values
    int hd = m->cfg.head_dim, permute = strcmp(arch, "qwen2") != 0;  // as model_gguf.c: llama-style q/k permuted
    for (int i = 0; i < L * PT_LIN_COUNT; i++) {
        pt_lora_module *mod = &a->mods[i];
        if (!mod->A) continue;
        const gguf_pair *p = &pairs[i];
        uint64_t want[2][2] = {{(uint64_t)mod->in, (uint64_t)mod->r}, {(uint64_t)mod->r, (uint64_t)mod->out}};
        for (int ab = 0; ab < 2; ab++)
            if (p->t[ab]->ne[0] != want[ab][0] || p->t[ab]->ne[1] != want[ab][1]) {
                rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %.*s has ne [%llu, %llu], this base model needs [%llu, "
                             "%llu] (an adapter made for another base model?)", path, NAME_ARG(p->t[ab]->name),
                             (unsigned long long)p->t[ab]->ne[0], (unsigned long long)p->t[ab]->ne[1],
                             (unsigned long long)want[ab][0], (unsigned long long)want[ab][1]);
                goto fail;
            }
        int s = i % PT_LIN_COUNT, perm = permute && (s == PT_LIN_Q || s == PT_LIN_K);
        if (perm && (hd <= 0 || mod->out % hd)) {  // a base the loader accepted always has whole heads
            rc = pt_fail(err, PT_ERR_INTERNAL, "%s: rows %d are not whole heads of %d", path, mod->out, hd);
            goto fail;
        }
        read_rows(p->t[0], mod->A, 0);
        read_rows(p->t[1], mod->B, perm ? hd : 0);
    }

    // names: the file's, without folder and ".gguf"; the base is unknown
    // (no fingerprint in a GGUF LoRA), as for a PEFT folder without peftui.json
    a->base_fingerprint[0] = 0;
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t bl = strlen(b);
    if (bl > 5 && !strcasecmp(b + bl - 5, ".gguf")) bl -= 5;
    snprintf(a->name, sizeof a->name, "%.*s", (int)(bl < sizeof a->name ? bl : sizeof a->name - 1), b);
    rc = PT_OK;
    goto done;
fail:
    adapter_free(a);  // a was zeroed first: safe whatever failed
done:
    free(pairs);
    lora_config_free(&cfg);
    gguf_close(&g);
    return rc;
}
