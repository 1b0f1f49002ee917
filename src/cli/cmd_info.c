// cmd_info.c - `peftui info`: what a model is (architecture, sizes,
// tokenizer, chat template), how it is stored (each tensor's type and shape,
// per-layer tensors grouped), and what a LoRA could target in it.
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model/weights_dev.h"
#include "text/tokenizer.h"

#define LORA_RANK 8

// in/out features of a LoRA-targetable linear module (HF short names).
static int linear_dims(const pt_config *c, const char *name, int *in, int *out) {
    int q = c->n_head * c->head_dim, kv = c->n_head_kv * c->head_dim;
    if (!strcmp(name, "q_proj")) { *in = c->n_embd; *out = q; }
    else if (!strcmp(name, "k_proj") || !strcmp(name, "v_proj")) { *in = c->n_embd; *out = kv; }
    else if (!strcmp(name, "o_proj")) { *in = q; *out = c->n_embd; }
    else if (!strcmp(name, "gate_proj") || !strcmp(name, "up_proj")) { *in = c->n_embd; *out = c->n_ff; }
    else if (!strcmp(name, "down_proj")) { *in = c->n_ff; *out = c->n_embd; }
    else return -1;
    return 0;
}

// A tensor name with its layer number replaced by '*' ("blk.*.attn_q.weight");
// returns the layer number or -1 for a tensor outside the layers.
static int layer_pattern(const char *name, char *pat, size_t cap) {
    static const char *const prefixes[] = {"blk.", "model.layers.", "layers."};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        const char *p = strstr(name, prefixes[i]);
        if (!p) continue;
        const char *digits = p + strlen(prefixes[i]), *d = digits;
        if (*d < '0' || *d > '9') continue;
        int layer = atoi(d);
        while (*d >= '0' && *d <= '9') d++;
        snprintf(pat, cap, "%.*s*%s", (int)(digits - name), name, d);
        return layer;
    }
    snprintf(pat, cap, "%s", name);
    return -1;
}

static void shape_str(const pt_tensor_desc *t, char *buf, size_t cap) {
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int d = 0; d < t->n_dims && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

typedef struct {
    char pattern[128];
    char type[64];      // "Q4_1", or "Q4_1/Q8_0" when the layers differ
    char shape[64];     // "" when the layers differ
    int count;
} tensor_group;

// Groups per-layer tensors by name pattern, keeping first-seen order.
static int group_tensors(const pt_model *m, tensor_group *g, int cap) {
    int n = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const pt_tensor_desc *t = &m->tensors[i];
        char pat[128], shape[64];
        layer_pattern(t->name, pat, sizeof pat);
        shape_str(t, shape, sizeof shape);
        int k = 0;
        while (k < n && strcmp(g[k].pattern, pat)) k++;
        if (k == n) {
            if (n == cap) continue;
            memset(&g[n], 0, sizeof g[n]);
            snprintf(g[n].pattern, sizeof g[n].pattern, "%s", pat);
            snprintf(g[n].type, sizeof g[n].type, "%s", t->type);
            snprintf(g[n].shape, sizeof g[n].shape, "%s", shape);
            n++;
        } else {
            if (strcmp(g[k].shape, shape)) g[k].shape[0] = '\0';
            // add the type to the list if it is new
            char *hit = strstr(g[k].type, t->type);
            size_t tl = strlen(t->type);
            int seen = hit && (hit == g[k].type || hit[-1] == '/') && (hit[tl] == '\0' || hit[tl] == '/');
            if (!seen && strlen(g[k].type) + tl + 2 < sizeof g[k].type) {
                strcat(g[k].type, "/");
                strcat(g[k].type, t->type);
            }
        }
        g[k].count++;
    }
    return n;
}

static const char *tok_kind_name(pt_tok_kind k) {
    return k == PT_TOK_BPE_BYTELEVEL ? "byte-level BPE" : k == PT_TOK_BPE_SPM ? "SentencePiece BPE (byte fallback)" : "?";
}

static const char *piece_or(const pt_tokenizer *t, int id) {
    const char *p = id >= 0 ? tokenizer_piece(t, id) : NULL;
    return p ? p : "";
}

static int print_json(const pt_model *m, const char *tmpl_name, const char *def_sys, const char **lin, int n_lin) {
    const pt_config *c = &m->cfg;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "path", m->path);
    cJSON_AddStringToObject(root, "source", m->source == PT_SRC_HF ? "hf" : "gguf");
    cJSON_AddStringToObject(root, "architecture", c->arch);
    cJSON_AddStringToObject(root, "name", c->name);
    cJSON_AddNumberToObject(root, "parameters", (double)m->n_params);
    cJSON *cfg = cJSON_AddObjectToObject(root, "config");
    cJSON_AddNumberToObject(cfg, "context_length", c->max_ctx);
    cJSON_AddNumberToObject(cfg, "layers", c->n_layer);
    cJSON_AddNumberToObject(cfg, "hidden", c->n_embd);
    cJSON_AddNumberToObject(cfg, "heads", c->n_head);
    cJSON_AddNumberToObject(cfg, "kv_heads", c->n_head_kv);
    cJSON_AddNumberToObject(cfg, "head_dim", c->head_dim);
    cJSON_AddNumberToObject(cfg, "ff", c->n_ff);
    cJSON_AddNumberToObject(cfg, "vocab", c->vocab_size);
    cJSON_AddNumberToObject(cfg, "rope_theta", c->rope_theta);
    cJSON_AddNumberToObject(cfg, "rms_eps", c->rms_eps);
    cJSON_AddBoolToObject(cfg, "tied_embeddings", c->tied_embeddings);
    cJSON_AddBoolToObject(cfg, "qkv_bias", c->has_qkv_bias);
    cJSON_AddNumberToObject(cfg, "sliding_window", c->sliding_window);
    cJSON *tok = cJSON_AddObjectToObject(root, "tokenizer");
    cJSON_AddStringToObject(tok, "kind", tokenizer_kind(m->tok) == PT_TOK_BPE_SPM ? "spm" : "bytelevel");
    cJSON_AddNumberToObject(tok, "vocab", tokenizer_vocab_size(m->tok));
    cJSON_AddNumberToObject(tok, "bos", tokenizer_bos(m->tok));
    cJSON_AddNumberToObject(tok, "eos", tokenizer_eos(m->tok));
    cJSON *eog = cJSON_AddArrayToObject(tok, "end_of_generation");
    for (int i = 0; i < tokenizer_vocab_size(m->tok); i++)
        if (tokenizer_is_eog(m->tok, i)) cJSON_AddItemToArray(eog, cJSON_CreateNumber(i));
    cJSON *ct = cJSON_AddObjectToObject(root, "chat_template");
    cJSON_AddStringToObject(ct, "name", tmpl_name);
    if (def_sys) cJSON_AddStringToObject(ct, "default_system", def_sys);
    cJSON_AddBoolToObject(ct, "from_model", m->chat_template != NULL);
    cJSON *ts = cJSON_AddArrayToObject(root, "tensors");
    for (int i = 0; i < m->n_tensors; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "name", m->tensors[i].name);
        cJSON_AddStringToObject(t, "type", m->tensors[i].type);
        cJSON *sh = cJSON_AddArrayToObject(t, "shape");
        for (int d = 0; d < m->tensors[i].n_dims; d++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)m->tensors[i].shape[d]));
        cJSON_AddItemToArray(ts, t);
    }
    cJSON *lo = cJSON_AddArrayToObject(root, "lora_targets");
    for (int i = 0; i < n_lin; i++) {
        int in = 0, out = 0;
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "module", lin[i]);
        if (!linear_dims(c, lin[i], &in, &out)) {
            cJSON_AddNumberToObject(t, "in_features", in);
            cJSON_AddNumberToObject(t, "out_features", out);
            cJSON_AddNumberToObject(t, "lora_r8_params_per_layer", (double)LORA_RANK * (in + out));
        }
        cJSON_AddItemToArray(lo, t);
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s) return cli_error(CLI_ERR, "out of memory");
    puts(s);
    cJSON_free(s);
    return CLI_OK;
}

static void print_text(const pt_model *m, const char *tmpl_name, const char *def_sys,
                       const tensor_group *g, int n_groups, const char **lin, int n_lin) {
    const pt_config *c = &m->cfg;
    const pt_tokenizer *t = m->tok;
    printf("model         %s\n", m->path);
    printf("name          %s\n", c->name[0] ? c->name : "(none)");
    printf("architecture  %s (%s)\n", c->arch, m->source == PT_SRC_HF ? "Hugging Face folder" : "GGUF");
    printf("parameters    %zu (%.1fM)\n", m->n_params, m->n_params / 1e6);
    printf("context       %d tokens\n", c->max_ctx);
    printf("layers %d, hidden %d, heads %d, kv heads %d, head_dim %d, ff %d, vocab %d\n",
           c->n_layer, c->n_embd, c->n_head, c->n_head_kv, c->head_dim, c->n_ff, c->vocab_size);
    printf("rope theta %g, rms eps %g, tied embeddings %s, qkv bias %s", c->rope_theta, c->rms_eps,
           c->tied_embeddings ? "yes" : "no", c->has_qkv_bias ? "yes" : "no");
    if (c->sliding_window) printf(", sliding window %d", c->sliding_window);
    printf("\n\ntokenizer     %s, %d tokens\n", tok_kind_name(tokenizer_kind(t)), tokenizer_vocab_size(t));
    int bos = tokenizer_bos(t), eos = tokenizer_eos(t);
    printf("bos           %d '%s'\neos           %d '%s'\nend of generation:", bos, piece_or(t, bos), eos, piece_or(t, eos));
    int n_ctrl = 0, n_user = 0;
    for (int i = 0; i < tokenizer_vocab_size(t); i++) {
        if (tokenizer_is_eog(t, i)) printf(" %d '%s'", i, piece_or(t, i));
        int ty = tokenizer_token_type(t, i);
        n_ctrl += ty == PT_TOKTYPE_CONTROL;
        n_user += ty == PT_TOKTYPE_USER;
    }
    printf("\nspecial       %d control tokens, %d added tokens:", n_ctrl, n_user);
    int shown = 0;
    for (int i = 0; i < tokenizer_vocab_size(t) && shown <= 24; i++) {
        int ty = tokenizer_token_type(t, i);
        if (ty != PT_TOKTYPE_CONTROL && ty != PT_TOKTYPE_USER) continue;
        if (shown++ == 24) printf(" ...");
        else printf(" %d '%s'", i, piece_or(t, i));
    }
    printf("\n");
    printf("chat template %s (%s)\n", tmpl_name, m->chat_template ? "guessed from the model's template" : "the model has none");
    if (def_sys) printf("system        \"%s\"\n", def_sys);

    printf("\ntensors (%d, as stored; '*' is the layer number):\n", m->n_tensors);
    for (int i = 0; i < n_groups; i++) {
        char count[16] = "";
        if (g[i].count > 1) snprintf(count, sizeof count, "x%d", g[i].count);
        printf("  %-44s %-10s %-16s %s\n", g[i].pattern, g[i].type, g[i].shape[0] ? g[i].shape : "(varies)", count);
    }

    printf("\nLoRA targets (PEFT target_modules names), rank-%d parameters per layer:\n", LORA_RANK);
    long long total = 0;
    for (int i = 0; i < n_lin; i++) {
        int in = 0, out = 0;
        if (linear_dims(c, lin[i], &in, &out)) {
            printf("  %-10s\n", lin[i]);
            continue;
        }
        long long p = (long long)LORA_RANK * (in + out);
        total += p;
        printf("  %-10s in %-6d out %-6d %lld\n", lin[i], in, out, p);
    }
    printf("  all of them: %lld per layer, %lld in all (%.2f%% of the model)\n", total, total * c->n_layer,
           m->n_params ? 100.0 * (double)total * c->n_layer / (double)m->n_params : 0.0);
}

// The device --device picks, and whether the base fits there.
static void print_device(const pt_model *m, const char *name, int threads) {
    pt_backend *be = NULL;
    pt_err err = {0};
    printf("\ndevice        ");
    if (backend_create(&be, name, threads, &err) != PT_OK) {
        printf("%s: %s\n", name ? name : "auto", err.msg);
        return;
    }
    char desc[256];
    be->ops->describe(be, desc, sizeof desc);
    printf("%s\n", desc);
    if (!be->ops->host_memory) {
        size_t need = bweights_bytes(m, be->ops->weight_dtype), avail = be->ops->mem_available(be);
        printf("base weights  %.1f MiB as %s", need / 1048576.0, be->ops->weight_dtype == PT_DT_BF16 ? "bf16" : "float32");
        if (avail != SIZE_MAX)
            printf("; %.0f MiB free there%s", avail / 1048576.0, need > avail ? " (does not fit: use --device cpu)" : "");
        printf("\n");
    }
    backend_destroy(be);
}

int cmd_info(int argc, char **argv) {
    cli_common c;
    cli_common_defaults(&c);
    int json = 0;
    cli_opt opts[] = {
        CLI_OPTS_MODEL(&c),
        {"json", 0, OPT_FLAG, &json, NULL, "machine-readable output", 0, 0},
    };
    cli_command_spec spec = {"info", "[-m PATH] [--json]",
                             "Shows the model's configuration, tokenizer, chat template, tensors and LoRA targets.",
                             opts, (int)(sizeof opts / sizeof opts[0])};
    char *pos[1];
    int n_pos, help, rc;
    if ((rc = cli_parse(&spec, argc, argv, pos, 0, &n_pos, &help)) != CLI_OK) return rc;
    if (help) { cli_print_help(&spec); return CLI_OK; }

    pt_model m;
    if ((rc = cli_model_load(&m, c.model, NULL)) != CLI_OK) return rc;
    const char *jinja = m.chat_template ? m.chat_template : tokenizer_chat_template(m.tok);
    const char *tmpl_name = template_guess(jinja);
    char *def_sys = template_jinja_default_system(jinja);
    const char *lin[32];
    int n_lin = model_linear_names(&m, lin, 32);
    if (n_lin > 32) n_lin = 32;
    tensor_group *g = calloc((size_t)(m.n_tensors > 0 ? m.n_tensors : 1), sizeof *g);
    if (!g) {
        rc = cli_error(CLI_ERR, "out of memory");
    } else {
        int n_groups = group_tensors(&m, g, m.n_tensors);
        if (json) rc = print_json(&m, tmpl_name, def_sys, lin, n_lin);
        else print_text(&m, tmpl_name, def_sys, g, n_groups, lin, n_lin);
    }
    if (rc == CLI_OK && !json) print_device(&m, c.backend, c.threads);
    free(g);
    free(def_sys);
    model_free(&m);
    return rc;
}
