// cmd_info.c - `peftui info`: what a model is (architecture, sizes,
// tokenizer, chat template), how it is stored (each tensor's type and shape,
// per-layer tensors grouped), and what a LoRA could target in it.
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define LORA_RANK 8

// The distinct targetable modules (one per short name, layer 0's dims).
static int module_kinds(pt_ws *ws, pt_module_info *out, int cap) {
    int total = pt_ws_modules(ws, NULL, 0), n = 0;
    pt_module_info *all = calloc((size_t)(total ? total : 1), sizeof *all);
    if (!all) return 0;
    pt_ws_modules(ws, all, total);
    for (int i = 0; i < total; i++) {
        int seen = 0;
        for (int k = 0; k < n && !seen; k++) seen = !strcmp(out[k].short_name, all[i].short_name);
        if (!seen && n < cap) out[n++] = all[i];
    }
    free(all);
    return n;
}

// A tensor name with its layer number replaced by '*' ("blk.*.attn_q.weight");
// returns the layer number or -1 for a tensor outside the layers.
static int layer_pattern(const char *name, char *pat, size_t cap) {
    static const char *const prefixes[] = {"blk.", "model.layers.", "transformer.h.", "layers."};
    if (!strncmp(name, "h.", 2) && name[2] >= '0' && name[2] <= '9') {   // BLOOM without its "transformer." prefix
        const char *d = name + 2;
        int layer = atoi(d);
        while (*d >= '0' && *d <= '9') d++;
        snprintf(pat, cap, "h.*%.*s", (int)(cap > 4 ? cap - 4 : 0), d);
        return layer;
    }
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
    snprintf(pat, cap, "%.*s", (int)(cap > 0 ? cap - 1 : 0), name);
    return -1;
}

static void shape_str(const pt_tensor_info *t, char *buf, size_t cap) {
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
static int group_tensors(pt_ws *ws, int n_tensors, tensor_group *g, int cap) {
    int n = 0;
    for (int i = 0; i < n_tensors; i++) {
        pt_tensor_info ti, *t = &ti;
        pt_ws_tensor(ws, i, t);
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

static const char *piece_or(pt_ws *ws, int id, char *buf, size_t cap) {
    pt_token_info ti;
    snprintf(buf, cap, "%s", id >= 0 && pt_ws_token(ws, id, &ti) == PT_OK ? ti.piece : "");
    return buf;
}

static int print_json(pt_ws *ws, const pt_model_info *m, const pt_module_info *lin, int n_lin) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "path", m->path);
    cJSON_AddStringToObject(root, "source", m->from_gguf ? "gguf" : "hf");
    cJSON_AddStringToObject(root, "architecture", m->arch);
    cJSON_AddStringToObject(root, "name", m->name);
    cJSON_AddNumberToObject(root, "parameters", (double)m->n_params);
    cJSON *cfg = cJSON_AddObjectToObject(root, "config");
    cJSON_AddNumberToObject(cfg, "context_length", m->max_ctx);
    cJSON_AddNumberToObject(cfg, "layers", m->n_layer);
    cJSON_AddNumberToObject(cfg, "hidden", m->n_embd);
    cJSON_AddNumberToObject(cfg, "heads", m->n_head);
    cJSON_AddNumberToObject(cfg, "kv_heads", m->n_head_kv);
    cJSON_AddNumberToObject(cfg, "head_dim", m->head_dim);
    cJSON_AddNumberToObject(cfg, "ff", m->n_ff);
    cJSON_AddNumberToObject(cfg, "vocab", m->vocab_size);
    cJSON_AddNumberToObject(cfg, "rope_theta", m->rope_theta);
    cJSON_AddNumberToObject(cfg, "rms_eps", m->rms_eps);
    cJSON_AddBoolToObject(cfg, "tied_embeddings", m->tied_embeddings);
    cJSON_AddBoolToObject(cfg, "qkv_bias", m->qkv_bias);
    cJSON_AddNumberToObject(cfg, "sliding_window", m->sliding_window);
    cJSON *tok = cJSON_AddObjectToObject(root, "tokenizer");
    cJSON_AddStringToObject(tok, "kind", strstr(m->tokenizer, "SentencePiece") ? "spm" : "bytelevel");
    cJSON_AddNumberToObject(tok, "vocab", m->tok_vocab);
    cJSON_AddNumberToObject(tok, "bos", m->bos);
    cJSON_AddNumberToObject(tok, "eos", m->eos);
    cJSON *eog = cJSON_AddArrayToObject(tok, "end_of_generation");
    for (int i = 0; i < m->tok_vocab; i++) {
        pt_token_info ti;
        if (pt_ws_token(ws, i, &ti) == PT_OK && ti.end_of_generation) cJSON_AddItemToArray(eog, cJSON_CreateNumber(i));
    }
    cJSON *ct = cJSON_AddObjectToObject(root, "chat_template");
    cJSON_AddStringToObject(ct, "name", m->template_name);
    if (m->default_system[0]) cJSON_AddStringToObject(ct, "default_system", m->default_system);
    cJSON_AddBoolToObject(ct, "from_model", m->has_template);
    cJSON *ts = cJSON_AddArrayToObject(root, "tensors");
    for (int i = 0; i < m->n_tensors; i++) {
        pt_tensor_info ti;
        pt_ws_tensor(ws, i, &ti);
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "name", ti.name);
        cJSON_AddStringToObject(t, "type", ti.type);
        cJSON *sh = cJSON_AddArrayToObject(t, "shape");
        for (int d = 0; d < ti.n_dims; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)ti.shape[d]));
        cJSON_AddItemToArray(ts, t);
    }
    cJSON *lo = cJSON_AddArrayToObject(root, "lora_targets");
    for (int i = 0; i < n_lin; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "module", lin[i].short_name);
        cJSON_AddNumberToObject(t, "in_features", lin[i].in);
        cJSON_AddNumberToObject(t, "out_features", lin[i].out);
        cJSON_AddNumberToObject(t, "lora_r8_params_per_layer", (double)LORA_RANK * (lin[i].in + lin[i].out));
        cJSON_AddBoolToObject(t, "peft_default", lin[i].default_target);
        cJSON_AddItemToArray(lo, t);
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s) return cli_error(CLI_ERR, "out of memory");
    puts(s);
    cJSON_free(s);
    return CLI_OK;
}

static void print_text(pt_ws *ws, const pt_model_info *m, const tensor_group *g, int n_groups, const pt_module_info *lin,
                       int n_lin) {
    char pb[256];
    printf("model         %s\n", m->path);
    printf("name          %s\n", m->name[0] ? m->name : "(none)");
    printf("architecture  %s (%s)\n", m->arch, m->from_gguf ? "GGUF" : "Hugging Face folder");
    printf("parameters    %zu (%.1fM)\n", m->n_params, m->n_params / 1e6);
    printf("context       %d tokens\n", m->max_ctx);
    printf("layers %d, hidden %d, heads %d, kv heads %d, head_dim %d, ff %d, vocab %d\n",
           m->n_layer, m->n_embd, m->n_head, m->n_head_kv, m->head_dim, m->n_ff, m->vocab_size);
    printf("block         %s\n", m->block);
    if (strstr(m->block, "RoPE")) printf("rope theta %g, ", m->rope_theta);
    printf("norm eps %g, tied embeddings %s, qkv bias %s", m->rms_eps, m->tied_embeddings ? "yes" : "no",
           m->qkv_bias || strstr(m->block, "biases") ? "yes" : "no");
    if (m->sliding_window) printf(", sliding window %d", m->sliding_window);
    printf("\n\ntokenizer     %s, %d tokens\n", m->tokenizer, m->tok_vocab);
    printf("bos           %d '%s'\n", m->bos, piece_or(ws, m->bos, pb, sizeof pb));
    printf("eos           %d '%s'\nend of generation:", m->eos, piece_or(ws, m->eos, pb, sizeof pb));
    int n_ctrl = 0, n_user = 0, shown = 0;
    for (int i = 0; i < m->tok_vocab; i++) {
        pt_token_info ti;
        if (pt_ws_token(ws, i, &ti) != PT_OK) continue;
        if (ti.end_of_generation) printf(" %d '%s'", i, ti.piece);
        n_ctrl += ti.kind == PT_TOKEN_CONTROL;
        n_user += ti.kind == PT_TOKEN_ADDED;
    }
    printf("\nspecial       %d control tokens, %d added tokens:", n_ctrl, n_user);
    for (int i = 0; i < m->tok_vocab && shown <= 24; i++) {
        pt_token_info ti;
        if (pt_ws_token(ws, i, &ti) != PT_OK || ti.kind == PT_TOKEN_NORMAL) continue;
        if (shown++ == 24) printf(" ...");
        else printf(" %d '%s'", i, ti.piece);
    }
    printf("\n");
    printf("chat template %s (%s)\n", m->template_name, m->has_template ? "guessed from the model's template" : "the model has none");
    if (m->default_system[0]) printf("system        \"%s\"\n", m->default_system);

    printf("\ntensors (%d, as stored; '*' is the layer number):\n", m->n_tensors);
    for (int i = 0; i < n_groups; i++) {
        char count[16] = "";
        if (g[i].count > 1) snprintf(count, sizeof count, "x%d", g[i].count);
        printf("  %-44s %-10s %-16s %s\n", g[i].pattern, g[i].type, g[i].shape[0] ? g[i].shape : "(varies)", count);
    }

    printf("\nLoRA targets (PEFT target_modules names; * PEFT's default), rank-%d parameters per layer:\n", LORA_RANK);
    long long total = 0;
    for (int i = 0; i < n_lin; i++) {
        long long p = (long long)LORA_RANK * (lin[i].in + lin[i].out);
        total += p;
        printf("  %-16s%c in %-6d out %-6d %lld\n", lin[i].short_name, lin[i].default_target ? '*' : ' ', lin[i].in,
               lin[i].out, p);
    }
    printf("  all of them: %lld per layer, %lld in all (%.2f%% of the model)\n", total, total * m->n_layer,
           m->n_params ? 100.0 * (double)total * m->n_layer / (double)m->n_params : 0.0);
}

// The device the workspace runs on, and whether the base fits there.
static void print_device(const pt_model_info *m) {
    printf("\ndevice        %s\n", m->device);
    if (!m->device_host) {
        printf("base weights  %.1f MiB as %s", m->base_bytes / 1048576.0, m->weight_dtype);
        if (m->device_free != SIZE_MAX) printf("; %.0f MiB free there", m->device_free / 1048576.0);
        printf("\n");
    }
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

    pt_ws *ws = NULL;
    if ((rc = cli_ws_open(&ws, &c)) != CLI_OK) return rc;
    pt_model_info m;
    pt_err err = {0};
    pt_ws_model_info(ws, &m, &err);
    pt_module_info lin[16];
    int n_lin = module_kinds(ws, lin, 16);
    tensor_group *g = calloc((size_t)(m.n_tensors > 0 ? m.n_tensors : 1), sizeof *g);
    if (!g) {
        rc = cli_error(CLI_ERR, "out of memory");
    } else {
        int n_groups = group_tensors(ws, m.n_tensors, g, m.n_tensors);
        if (json) rc = print_json(ws, &m, lin, n_lin);
        else print_text(ws, &m, g, n_groups, lin, n_lin);
    }
    if (rc == CLI_OK && !json) print_device(&m);
    free(g);
    pt_ws_destroy(ws);
    return rc;
}
