// tui_form.c - the fields the workbench edits: every LoraConfig field the
// engine supports (PEFT's names and meanings), the training parameters
// (transformers' names) and the sampling settings (llama.cpp's). One table;
// each field parses typed text into the struct it belongs to, or says why not.
// The LoRA and Train screens draw from the table; the help lines come from it.
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tui/tui.h"

enum { TF_INT, TF_FLOAT, TF_BOOL, TF_ENUM, TF_STR, TF_LIST, TF_INTLIST, TF_PATTERN, TF_TARGETS, TF_U64, TF_DOUBLE };

#define L(field) FORM_LORA, offsetof(pt_lora_config, field)
#define T(field) FORM_TRAIN, offsetof(pt_train_params, field)
#define S(field) FORM_SAMPLING, offsetof(pt_sampling, field)

static const tui_field LORA_FIELDS[] = {
    {"r", "r", "rank of the update B@A: more capacity and parameters (8-16 general use; 32-64 narrow domain or private data)", TF_INT, L(r), NULL},
    {"lora_alpha", "lora_alpha", "the update is scaled by lora_alpha/r (lora_alpha/sqrt(r) with use_rslora); often 2*r", TF_FLOAT, L(lora_alpha), NULL},
    {"lora_dropout", "lora_dropout", "dropout on the LoRA branch's input while training, in [0, 1); 0.05-0.1 helps small datasets", TF_FLOAT, L(lora_dropout), NULL},
    {"target_modules", "target_modules", "which linear layers get an adapter: Enter opens the checklist; a list of names or suffixes, or all-linear", TF_TARGETS, L(target_modules), NULL},
    {"target_regex", "target_modules", "target_modules as one string: a regex that must match the whole module name (instead of the list)", TF_STR, L(target_regex), NULL},
    {"exclude_modules", "exclude_modules", "modules never adapted, even when targeted (names or suffixes)", TF_LIST, L(exclude_modules), NULL},
    {"layers_to_transform", "layers_to_transform", "only these layer indices get adapters (e.g. 0,1,2; empty: every layer)", TF_INTLIST, L(layers_to_transform), NULL},
    {"layers_pattern", "layers_pattern", "the name of the layer list layers_to_transform counts in (e.g. layers)", TF_STR, L(layers_pattern), NULL},
    {"bias", "bias", "which biases train too: none, all, or lora_only (LLaMA-family linears have none)", TF_ENUM, L(bias), "none|all|lora_only"},
    {"use_rslora", "use_rslora", "rank-stabilised LoRA: scale by alpha/sqrt(r), so a larger r keeps learning", TF_BOOL, L(use_rslora), NULL},
    {"init_lora_weights", "init_lora_weights", "true: Kaiming A, zero B (starts as the base); gaussian; false: both random (changes output at once)", TF_ENUM, L(init), "true|gaussian|false"},
    {"rank_pattern", "rank_pattern", "a different r for some modules: regex:r pairs, e.g. .*q_proj:16,.*v_proj:4", TF_PATTERN, L(rank_pattern), NULL},
    {"alpha_pattern", "alpha_pattern", "a different lora_alpha for some modules: regex:alpha pairs", TF_PATTERN, L(alpha_pattern), NULL},
    {"modules_to_save", "modules_to_save", "whole modules trained and saved besides LoRA (e.g. lm_head,embed_tokens): costly", TF_LIST, L(modules_to_save), NULL},
    {"fan_in_fan_out", "fan_in_fan_out", "set from the layers as PEFT does: true for GPT-2's Conv1D, false for nn.Linear", TF_BOOL, L(fan_in_fan_out), NULL},
};

static const tui_field TRAIN_FIELDS[] = {
    {"learning_rate", "lr", "peak learning rate; LoRA takes larger ones than full fine-tuning (1e-4 .. 1e-3)", TF_FLOAT, T(lr), NULL},
    {"num_train_epochs", "epochs", "passes over the training rows (used when max_steps is 0)", TF_INT, T(epochs), NULL},
    {"max_steps", "max_steps", "optimizer steps in all; 0: num_train_epochs decides", TF_INT, T(max_steps), NULL},
    {"per_device_train_batch_size", "batch", "sequences per micro-batch: memory grows with it", TF_INT, T(batch), NULL},
    {"gradient_accumulation_steps", "grad_accum", "micro-batches per optimizer step (a larger effective batch at no memory cost)", TF_INT, T(grad_accum), NULL},
    {"max_seq_len", "max_seq_len", "rows are cut at this many tokens (0: no limit); activations grow with it", TF_INT, T(max_seq_len), NULL},
    {"lr_scheduler_type", "sched", "how the learning rate moves after warm-up", TF_ENUM, T(sched), "constant|linear|cosine"},
    {"warmup_steps", "warmup_steps", "steps the learning rate ramps up from 0", TF_INT, T(warmup_steps), NULL},
    {"weight_decay", "weight_decay", "AdamW's decoupled weight decay on the LoRA parameters", TF_FLOAT, T(weight_decay), NULL},
    {"max_grad_norm", "max_grad_norm", "gradients are clipped to this norm (0: off)", TF_FLOAT, T(max_grad_norm), NULL},
    {"eval_steps", "eval_every", "evaluate (and answer the probe) every this many steps (0: only at the end)", TF_INT, T(eval_every), NULL},
    {"eval_fraction", "eval_frac", "share of the rows held out for the eval loss, in [0, 1)", TF_DOUBLE, T(eval_frac), NULL},
    {"save_steps", "save_every", "a checkpoint every this many steps (0: only at the end)", TF_INT, T(save_every), NULL},
    {"seed", "seed", "shuffling, initialisation and dropout", TF_U64, T(seed), NULL},
    {"output_dir", "out_dir", "the run folder: checkpoint-N folders and the final adapter (empty: adapters/<dataset>)", TF_STR, T(out_dir), NULL},
};

static const tui_field SAMPLING_FIELDS[] = {
    {"temperature", "temp", "randomness: 0 always takes the likeliest token", TF_FLOAT, S(temp), NULL},
    {"top_k", "top_k", "sample among the k likeliest tokens (0: off)", TF_INT, S(top_k), NULL},
    {"top_p", "top_p", "sample among the likeliest tokens covering this probability (1: off)", TF_FLOAT, S(top_p), NULL},
    {"min_p", "min_p", "drop tokens less likely than min_p times the likeliest (0: off)", TF_FLOAT, S(min_p), NULL},
    {"repeat_penalty", "repeat_penalty", "penalise tokens already said (1: off)", TF_FLOAT, S(repeat_penalty), NULL},
    {"seed", "seed", "the sampler's seed: the same seed gives the same answer", TF_U64, S(seed), NULL},
};

#undef L
#undef T
#undef S

int tui_form_count(int form) {
    switch (form) {
    case FORM_LORA: return (int)(sizeof LORA_FIELDS / sizeof LORA_FIELDS[0]);
    case FORM_TRAIN: return (int)(sizeof TRAIN_FIELDS / sizeof TRAIN_FIELDS[0]);
    case FORM_SAMPLING: return (int)(sizeof SAMPLING_FIELDS / sizeof SAMPLING_FIELDS[0]);
    default: return 0;
    }
}

const tui_field *tui_form_field(int form, int i) {
    if (i < 0 || i >= tui_form_count(form)) return NULL;
    return form == FORM_LORA ? &LORA_FIELDS[i] : form == FORM_TRAIN ? &TRAIN_FIELDS[i] : &SAMPLING_FIELDS[i];
}

static char *base_of(tui_app *a, int form) {
    return form == FORM_LORA ? (char *)&a->cfg : form == FORM_TRAIN ? (char *)&a->tp : (char *)&a->sampling;
}

// ---- text of a value -------------------------------------------------------------

static void join_list(char **v, int n, char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < n && o < cap; i++) o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? "," : "", v[i]);
}

static void pattern_text(const pt_pattern *p, int n, char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < n && o < cap; i++) o += (size_t)snprintf(buf + o, cap - o, "%s%s:%g", i ? "," : "", p[i].key, p[i].value);
}

static void choice(const char *choices, int k, char *buf, size_t cap) {
    const char *s = choices;
    for (int i = 0; i < k && s; i++) {
        s = strchr(s, '|');
        if (s) s++;
    }
    if (!s) s = "?";
    size_t n = strcspn(s, "|");
    snprintf(buf, cap, "%.*s", (int)n, s);
}

static int n_choices(const char *choices) {
    int n = 1;
    for (const char *s = choices; *s; s++) n += *s == '|';
    return n;
}

void tui_field_get(tui_app *a, const tui_field *f, char *buf, size_t cap) {
    char *p = base_of(a, f->form) + f->off;
    pt_lora_config *c = &a->cfg;
    switch (f->kind) {
    case TF_INT: snprintf(buf, cap, "%d", *(int *)p); break;
    case TF_FLOAT: snprintf(buf, cap, "%g", *(float *)p); break;
    case TF_DOUBLE: snprintf(buf, cap, "%g", *(double *)p); break;
    case TF_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(uint64_t *)p); break;
    case TF_BOOL: snprintf(buf, cap, "%s", *(int *)p ? "true" : "false"); break;
    case TF_ENUM: choice(f->choices, *(int *)p, buf, cap); break;
    case TF_STR:
        if (p == (char *)&c->target_regex) snprintf(buf, cap, "%s", c->target_regex ? c->target_regex : "");
        else snprintf(buf, cap, "%s", p);
        break;
    case TF_TARGETS:
        if (c->target_all_linear) snprintf(buf, cap, "all-linear");
        else if (c->target_regex) snprintf(buf, cap, "(regex below)");
        else if (!c->n_target_modules) snprintf(buf, cap, "(PEFT's default for this model)");
        else join_list(c->target_modules, c->n_target_modules, buf, cap);
        break;
    case TF_LIST: {
        char ***v = (char ***)p;
        int *n = (int *)(p == (char *)&c->exclude_modules ? &c->n_exclude_modules : &c->n_modules_to_save);
        join_list(*v, *n, buf, cap);
        break;
    }
    case TF_INTLIST: {
        size_t o = 0;
        buf[0] = 0;
        for (int i = 0; i < c->n_layers_to_transform && o < cap; i++)
            o += (size_t)snprintf(buf + o, cap - o, "%s%d", i ? "," : "", c->layers_to_transform[i]);
        break;
    }
    case TF_PATTERN:
        if (p == (char *)&c->rank_pattern) pattern_text(c->rank_pattern, c->n_rank_pattern, buf, cap);
        else pattern_text(c->alpha_pattern, c->n_alpha_pattern, buf, cap);
        break;
    }
}

// ---- parsing ---------------------------------------------------------------------

static int parse_long(const char *s, long lo, long hi, long *out, char *why, size_t cap) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    while (*end == ' ') end++;
    if (!*s || *end || errno) return snprintf(why, cap, "'%s' is not a whole number", s), -1;
    if (v < lo || v > hi) return snprintf(why, cap, "%ld is out of range (%ld..%ld)", v, lo, hi), -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out, char *why, size_t cap) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ') end++;
    if (!*s || *end || errno || !isfinite(v)) return snprintf(why, cap, "'%s' is not a number", s), -1;
    *out = v;
    return 0;
}

static void free_list(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

// "a, b,c" -> strdup'd items (empty items skipped)
static int split_list(const char *s, char ***out, int *n_out, char *why, size_t cap) {
    char **v = NULL;
    int n = 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        size_t len = strcspn(p, ",");
        while (len && p[len - 1] == ' ') len--;
        char **nv = realloc(v, (size_t)(n + 1) * sizeof *v);
        if (!nv || !(nv[n] = strndup(p, len))) {
            free_list(nv ? nv : v, n);
            return snprintf(why, cap, "out of memory"), -1;
        }
        v = nv;
        n++;
        p += strcspn(p, ",");
    }
    *out = v;
    *n_out = n;
    return 0;
}

static int set_pattern(pt_pattern **pp, int *pn, const char *s, int integer, char *why, size_t cap) {
    char **items;
    int n;
    if (split_list(s, &items, &n, why, cap)) return -1;
    pt_pattern *v = n ? calloc((size_t)n, sizeof *v) : NULL;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        char *colon = strrchr(items[i], ':');
        double d;
        if (!colon || colon == items[i]) {
            rc = -1;
            snprintf(why, cap, "'%s': write it as regex:value", items[i]);
            break;
        }
        *colon = 0;
        if (parse_double(colon + 1, &d, why, cap)) rc = -1;
        else if (integer && (d < 1 || d != floor(d))) rc = -1, snprintf(why, cap, "%s: a rank must be a positive whole number", items[i]);
        else if (!(d > 0)) rc = -1, snprintf(why, cap, "%s: must be positive", items[i]);
        else if (!(v[i].key = strdup(items[i]))) rc = -1, snprintf(why, cap, "out of memory");
        v[i].value = (float)d;
    }
    free_list(items, n);
    if (rc) {
        for (int i = 0; i < n; i++) free(v[i].key);
        free(v);
        return -1;
    }
    for (int i = 0; i < *pn; i++) free((*pp)[i].key);
    free(*pp);
    *pp = v;
    *pn = n;
    return 0;
}

static int set_choice(const char *choices, const char *s, int *out, char *why, size_t cap) {
    int n = n_choices(choices);
    for (int k = 0; k < n; k++) {
        char c[32];
        choice(choices, k, c, sizeof c);
        if (!strcasecmp(c, s)) {
            *out = k;
            return 0;
        }
    }
    snprintf(why, cap, "'%s': one of %s", s, choices);
    return -1;
}

int tui_field_set(tui_app *a, const tui_field *f, const char *text, char *why, size_t cap) {
    char *p = base_of(a, f->form) + f->off;
    pt_lora_config *c = &a->cfg;
    while (*text == ' ') text++;
    long l;
    double d;
    why[0] = 0;
    switch (f->kind) {
    case TF_INT: {
        long lo = 0, hi = 1000000000;
        if (!strcmp(f->tag, "r")) lo = 1, hi = 65536;
        if (!strcmp(f->tag, "batch")) lo = 1, hi = 256;
        if (!strcmp(f->tag, "grad_accum")) lo = 1, hi = 65536;
        if (f->form == FORM_SAMPLING) hi = 1000000;
        if (parse_long(text, lo, hi, &l, why, cap)) return -1;
        *(int *)p = (int)l;
        return 0;
    }
    case TF_U64: {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        if (!*text || *end || errno || *text == '-') return snprintf(why, cap, "'%s' is not a whole number >= 0", text), -1;
        *(uint64_t *)p = v;
        return 0;
    }
    case TF_FLOAT:
    case TF_DOUBLE:
        if (parse_double(text, &d, why, cap)) return -1;
        if (!strcmp(f->tag, "lora_alpha") && !(d > 0)) return snprintf(why, cap, "lora_alpha must be positive"), -1;
        if (!strcmp(f->tag, "lora_dropout") && !(d >= 0 && d < 1)) return snprintf(why, cap, "lora_dropout must be in [0, 1)"), -1;
        if (!strcmp(f->tag, "eval_frac") && !(d >= 0 && d < 1)) return snprintf(why, cap, "eval_fraction must be in [0, 1)"), -1;
        if (!strcmp(f->tag, "lr") && !(d >= 0)) return snprintf(why, cap, "the learning rate must be >= 0"), -1;
        if (!strcmp(f->tag, "temp") && !(d >= 0)) return snprintf(why, cap, "temperature must be >= 0"), -1;
        if (f->kind == TF_FLOAT) *(float *)p = (float)d;
        else *(double *)p = d;
        return 0;
    case TF_BOOL:
        if (!strcasecmp(text, "true") || !strcmp(text, "1") || !strcasecmp(text, "yes")) *(int *)p = 1;
        else if (!strcasecmp(text, "false") || !strcmp(text, "0") || !strcasecmp(text, "no")) *(int *)p = 0;
        else return snprintf(why, cap, "'%s': true or false", text), -1;
        return 0;
    case TF_ENUM: return set_choice(f->choices, text, (int *)p, why, cap);
    case TF_STR:
        if (p == (char *)&c->target_regex) {
            char *dup = *text ? strdup(text) : NULL;
            if (*text && !dup) return snprintf(why, cap, "out of memory"), -1;
            free(c->target_regex);
            c->target_regex = dup;
            if (dup) {   // the string form replaces the list
                free_list(c->target_modules, c->n_target_modules);
                c->target_modules = NULL;
                c->n_target_modules = 0;
                c->target_all_linear = 0;
            }
        } else {
            size_t size = f->form == FORM_LORA ? sizeof c->layers_pattern : sizeof a->tp.out_dir;
            if (strlen(text) >= size) return snprintf(why, cap, "too long (at most %zu bytes)", size - 1), -1;
            snprintf(p, size, "%s", text);
        }
        return 0;
    case TF_TARGETS: {
        if (!strcmp(text, "all-linear")) {
            free_list(c->target_modules, c->n_target_modules);
            c->target_modules = NULL;
            c->n_target_modules = 0;
            c->target_all_linear = 1;
            free(c->target_regex);
            c->target_regex = NULL;
            return 0;
        }
        char **v;
        int n;
        if (split_list(text, &v, &n, why, cap)) return -1;
        free_list(c->target_modules, c->n_target_modules);
        c->target_modules = v;
        c->n_target_modules = n;
        c->target_all_linear = 0;
        if (n) {
            free(c->target_regex);
            c->target_regex = NULL;
        }
        return 0;
    }
    case TF_LIST: {
        char **v;
        int n;
        if (split_list(text, &v, &n, why, cap)) return -1;
        char ***lp = (char ***)p;
        int *np = p == (char *)&c->exclude_modules ? &c->n_exclude_modules : &c->n_modules_to_save;
        free_list(*lp, *np);
        *lp = v;
        *np = n;
        return 0;
    }
    case TF_INTLIST: {
        char **v;
        int n;
        if (split_list(text, &v, &n, why, cap)) return -1;
        int *iv = n ? calloc((size_t)n, sizeof *iv) : NULL;
        int rc = n && !iv ? (snprintf(why, cap, "out of memory"), -1) : 0;
        for (int i = 0; i < n && !rc; i++) {
            if (parse_long(v[i], 0, 100000, &l, why, cap)) rc = -1;
            else iv[i] = (int)l;
        }
        free_list(v, n);
        if (rc) {
            free(iv);
            return -1;
        }
        free(c->layers_to_transform);
        c->layers_to_transform = iv;
        c->n_layers_to_transform = n;
        return 0;
    }
    case TF_PATTERN:
        if (p == (char *)&c->rank_pattern) return set_pattern(&c->rank_pattern, &c->n_rank_pattern, text, 1, why, cap);
        return set_pattern(&c->alpha_pattern, &c->n_alpha_pattern, text, 0, why, cap);
    }
    return -1;
}

int tui_field_cycles(const tui_field *f) {
    return f->kind == TF_BOOL || f->kind == TF_ENUM;
}

int tui_field_is_targets(const tui_field *f) {
    return f->kind == TF_TARGETS;
}

void tui_field_cycle(tui_app *a, const tui_field *f, int dir) {
    int *p = (int *)(base_of(a, f->form) + f->off);
    int n = f->kind == TF_BOOL ? 2 : n_choices(f->choices);
    *p = ((*p + dir) % n + n) % n;
}

// The problem (from the engine's checks) tagged with this field, if any.
const pt_problem *tui_field_problem(const tui_app *a, const tui_field *f) {
    const pt_problem *warn = NULL;
    int form_of_tag = f->form;
    for (int i = 0; i < a->n_problems && i < (int)(sizeof a->problems / sizeof a->problems[0]); i++) {
        const pt_problem *p = &a->problems[i];
        if (strcmp(p->field, f->tag)) continue;
        // "seed" exists in two forms; the engine's problems are about LoRA and training
        if (form_of_tag == FORM_SAMPLING) continue;
        if (!p->warning) return p;
        if (!warn) warn = p;
    }
    return warn;
}
