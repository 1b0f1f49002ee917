// ws_files.c - what the workbench lists before it loads anything: models and
// adapters on disk, read from their headers and configs only (GGUF metadata
// and tensor infos, safetensors headers, config.json, adapter_config.json,
// trainer_state.json; the files are mapped, so no weight page is touched),
// a run's checkpoints, a chat appended to a dataset, and peftui's config folder.
// Nothing here needs a workspace: a front end calls it before one exists.
#define _GNU_SOURCE   // strverscmp: "checkpoint-10" sorts after "checkpoint-2"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "core/fileio.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "workspace/ws_internal.h"

#define PATH_CAP 1024

// ---- small path helpers ------------------------------------------------------------

// stat follows symbolic links: a Hugging Face hub snapshot is a folder of links into blobs/.
static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

// dir/name into buf (PATH_CAP); 0 when it does not fit (such a path is skipped).
static int join(char *buf, const char *dir, const char *name) {
    int n = snprintf(buf, PATH_CAP, "%s/%s", dir, name);
    return n > 0 && n < PATH_CAP;
}

// The last part of path (trailing slashes ignored) into buf.
static void last_part(const char *path, char *buf, size_t cap) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    snprintf(buf, cap, "%.*s", (int)(n - b), path + b);
}

// The part before the last one ("" when there is none).
static void parent_part(const char *path, char *buf, size_t cap) {
    char tmp[PATH_CAP];
    snprintf(tmp, sizeof tmp, "%s", path);
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/') tmp[--n] = 0;
    char *s = strrchr(tmp, '/');
    if (!s) {
        buf[0] = 0;
        return;
    }
    *s = 0;
    last_part(tmp, buf, cap);
}

// N of a folder named exactly "checkpoint-N" (so checkpoint-N.tmp, a save in progress, is not one); -1 otherwise.
static int checkpoint_step(const char *name) {
    if (strncmp(name, "checkpoint-", 11) || !name[11]) return -1;
    long v = 0;
    for (const char *p = name + 11; *p; p++) {
        if (*p < '0' || *p > '9' || v > INT_MAX / 10) return -1;
        v = v * 10 + (*p - '0');
    }
    return v <= INT_MAX ? (int)v : -1;
}

// ---- candidate lists: sorted by name, no duplicates by real path ----------------------

typedef struct {
    char (*p)[PATH_CAP];
    int n, cap;
} path_list;

static void list_add(path_list *l, const char *path) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        void *p = realloc(l->p, (size_t)cap * PATH_CAP);
        if (!p) return;   // a listing short of a few entries, rather than none
        l->p = p;
        l->cap = cap;
    }
    snprintf(l->p[l->n++], PATH_CAP, "%s", path);
}

static int cmp_version(const void *a, const void *b) { return strverscmp(a, b); }

static void real_or_same(const char *path, char *buf) {
    if (!realpath(path, buf)) snprintf(buf, PATH_MAX, "%s", path);
}

// l's paths, sorted, onto out after its n entries, skipping those whose real
// path is already there (a folder reached through a link, a scan run twice).
static int list_append(path_list *l, char (*out)[PATH_CAP], int n, int cap) {
    char (*real)[PATH_MAX] = n < cap ? malloc((size_t)cap * PATH_MAX) : NULL;
    if (l->n) qsort(l->p, (size_t)l->n, PATH_CAP, cmp_version);
    for (int i = 0; real && i < n; i++) real_or_same(out[i], real[i]);
    for (int k = 0; real && k < l->n && n < cap; k++) {
        real_or_same(l->p[k], real[n]);
        int dup = 0;
        for (int i = 0; i < n && !dup; i++) dup = !strcmp(real[i], real[n]);
        if (!dup) snprintf(out[n++], PATH_CAP, "%s", l->p[k]);
    }
    free(real);
    free(l->p);
    memset(l, 0, sizeof *l);
    return n;
}

// ---- tensor types by count ---------------------------------------------------------------

typedef struct {
    char name[16];
    int count;
} type_count;

#define MAX_TYPES 16

static void tally_add(type_count *t, int *n, const char *name) {
    char low[16];
    size_t i = 0;
    for (; name[i] && i < sizeof low - 1; i++) low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    low[i] = 0;
    for (int k = 0; k < *n; k++)
        if (!strcmp(t[k].name, low)) {
            t[k].count++;
            return;
        }
    if (*n == MAX_TYPES) return;   // a 17th type is left out of a one-line summary
    snprintf(t[*n].name, sizeof t[*n].name, "%s", low);
    t[(*n)++].count = 1;
}

static int cmp_count(const void *a, const void *b) {
    const type_count *x = a, *y = b;
    return x->count != y->count ? y->count - x->count : strcmp(x->name, y->name);
}

static void tally_format(type_count *t, int n, char *buf, size_t cap) {
    qsort(t, (size_t)n, sizeof *t, cmp_count);
    size_t len = 0;
    buf[0] = 0;
    for (int k = 0; k < n && len < cap; k++) len += (size_t)snprintf(buf + len, cap - len, "%s%s", k ? " " : "", t[k].name);
}

// The first four bytes are GGUF's magic: anything else gets a message that
// says what the path should be rather than which byte was wrong.
static int has_gguf_magic(const char *path) {
    char m[4] = {0};
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(m, 1, 4, f) : 0;
    if (f) fclose(f);
    return n == 4 && !memcmp(m, "GGUF", 4);
}

// ---- models ----------------------------------------------------------------------------------

// general.type, "" when absent (a model file usually says nothing or "model").
static void gguf_type(const gguf_file *g, char *buf, size_t cap) {
    int found = 0;
    if (gguf_get_str(g, "general.type", buf, cap, &found, NULL) || !found) buf[0] = 0;
}

// 1: path is a GGUF whose header parses and that says it is an adapter (want_adapter) or is not one.
static int gguf_is(const char *path, int want_adapter) {
    gguf_file g;
    if (gguf_open(&g, path, NULL)) return 0;
    char type[32];
    gguf_type(&g, type, sizeof type);
    gguf_close(&g);
    return !strcmp(type, "adapter") == !!want_adapter;
}

// A llama.cpp LoRA's layers as PEFT names them on a LLaMA-family model
// (a peek has no model to ask; PT_LIN_QKV is the fused attn_qkv).
static const char *const GGUF_LORA_TARGETS[PT_LIN_COUNT] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                            "up_proj", "down_proj", "qkv"};

static int arch_int(const gguf_file *g, const char *arch, const char *suffix, int *out, pt_err *err) {
    char key[128];
    int64_t v = 0;
    int found = 0;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = gguf_get_i64(g, key, &v, &found, err);
    if (!rc && found && v > 0 && v <= INT_MAX) *out = (int)v;
    return rc;
}

static int peek_gguf(const char *path, pt_model_peek *o, pt_err *err) {
    gguf_file g;
    int rc = gguf_open(&g, path, err), found = 0;
    if (rc) return rc;
    char type[32];
    gguf_type(&g, type, sizeof type);
    if (!strcmp(type, "adapter")) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: a LoRA adapter, not a model: load it as an adapter on a base model", path);
        goto done;
    }
    if ((rc = gguf_get_str(&g, "general.architecture", o->arch, sizeof o->arch, &found, err))) goto done;
    if (found && ((rc = arch_int(&g, o->arch, "context_length", &o->max_ctx, err)) ||
                  (rc = arch_int(&g, o->arch, "block_count", &o->n_layer, err))))
        goto done;
    if ((rc = gguf_get_str(&g, "general.name", o->name, sizeof o->name, &found, err))) goto done;
    if (!found || !o->name[0]) last_part(path, o->name, sizeof o->name);
    type_count t[MAX_TYPES];
    int nt = 0;
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const gguf_tensor *x = &g.tensors[i];
        size_t e = 1;
        // bounded: gguf_open checked that the tensor's bytes are in the file
        for (uint32_t d = 0; d < x->n_dims; d++) e *= (size_t)x->ne[d];
        o->n_params += e;
        tally_add(t, &nt, ggml_type_name(x->type));
    }
    tally_format(t, nt, o->types, sizeof o->types);
    o->from_gguf = 1;
done:
    gguf_close(&g);
    return rc;
}

// A safetensors file of a model folder (an adapter's weights beside it are not the model's).
static int is_weight_file(const char *name) {
    return ends_with(name, ".safetensors") && strncmp(name, "adapter_model", 13);
}

// config.json and at least one readable weight file.
static int is_model_dir(const char *dir) {
    char p[PATH_CAP];
    if (!join(p, dir, "config.json") || !is_file(p)) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d));)
        found = is_weight_file(e->d_name) && join(p, dir, e->d_name) && is_file(p);
    closedir(d);
    return found;
}

// "ORG/NAME" for a hub snapshot .../models--ORG--NAME/snapshots/HASH (else 0):
// its folder's own name is a commit hash, which says nothing.
static int hub_repo_name(const char *dir, char *buf, size_t cap) {
    char tmp[PATH_CAP], part[256];
    snprintf(tmp, sizeof tmp, "%s", dir);
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/') tmp[--n] = 0;
    char *s = strrchr(tmp, '/');
    if (!s) return 0;
    *s = 0;
    last_part(tmp, part, sizeof part);
    if (strcmp(part, "snapshots") || !(s = strrchr(tmp, '/'))) return 0;
    *s = 0;
    last_part(tmp, part, sizeof part);
    if (strncmp(part, "models--", 8)) return 0;
    char *sep = strstr(part + 8, "--");
    if (sep) ws_fmt(buf, cap, "%.*s/%s", (int)(sep - (part + 8)), part + 8, sep + 2);
    else ws_fmt(buf, cap, "%s", part + 8);
    return 1;
}

static int peek_hf(const char *dir, pt_model_peek *o, pt_err *err) {
    char p[PATH_CAP], *text = NULL;
    cJSON *root = NULL;
    DIR *d = NULL;
    int rc = PT_OK, n_files = 0;
    if (!join(p, dir, "config.json")) return pt_fail(err, PT_ERR_ARG, "%.200s...: path too long", dir);
    if (!is_file(p)) {
        char ac[PATH_CAP];
        if (join(ac, dir, "adapter_config.json") && is_file(ac))
            return pt_fail(err, PT_ERR_FORMAT, "%s: a PEFT adapter folder, not a model: "
                           "load it as an adapter on a base model", dir);
        return pt_fail(err, PT_ERR_FORMAT, "%s: no config.json: not a Hugging Face model folder "
                       "(pick a folder with config.json and *.safetensors, or a .gguf file)", dir);
    }
    if ((rc = pt_read_file(p, &text, NULL, err))) goto done;
    root = cJSON_Parse(text);
    if (!cJSON_IsObject(root)) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: not a JSON object: fix or replace the model's config", p);
        goto done;
    }
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "model_type"));
    const char *nm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "_name_or_path"));
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(root, "max_position_embeddings");
    const cJSON *nl = cJSON_GetObjectItemCaseSensitive(root, "num_hidden_layers");
    snprintf(o->arch, sizeof o->arch, "%s", type ? type : "");
    if (cJSON_IsNumber(ctx) && ctx->valuedouble > 0 && ctx->valuedouble <= INT_MAX) o->max_ctx = (int)ctx->valuedouble;
    if (cJSON_IsNumber(nl) && nl->valuedouble > 0 && nl->valuedouble <= INT_MAX) o->n_layer = (int)nl->valuedouble;
    if (nm && *nm) snprintf(o->name, sizeof o->name, "%s", nm);
    else if (!hub_repo_name(dir, o->name, sizeof o->name)) last_part(dir, o->name, sizeof o->name);

    type_count t[MAX_TYPES];
    int nt = 0;
    if (!(d = opendir(dir))) {
        rc = pt_fail(err, PT_ERR_IO, "%s: cannot read the folder: %s", dir, strerror(errno));
        goto done;
    }
    for (struct dirent *e; (e = readdir(d));) {
        struct stat st;
        if (!is_weight_file(e->d_name) || !join(p, dir, e->d_name) || stat(p, &st) || !S_ISREG(st.st_mode)) continue;
        st_file f;
        if ((rc = st_open(&f, p, err))) goto done;   // a bad shard: the model would not load either
        for (int i = 0; i < f.n_tensors; i++) {
            size_t el = 1;
            for (int k = 0; k < f.tensors[i].n_dims; k++) el *= (size_t)f.tensors[i].shape[k];
            o->n_params += el;
            tally_add(t, &nt, f.tensors[i].dtype_name);
        }
        st_close(&f);
        o->file_bytes += (size_t)st.st_size;
        n_files++;
    }
    if (!n_files) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: no *.safetensors weights in the folder (peftui reads safetensors, "
                     "not .bin or .pt)", dir);
        goto done;
    }
    tally_format(t, nt, o->types, sizeof o->types);
done:
    if (d) closedir(d);
    cJSON_Delete(root);
    free(text);
    return rc;
}

int pt_model_peek_path(const char *path, pt_model_peek *out, pt_err *err) {
    memset(out, 0, sizeof *out);
    if (!path || !*path) return pt_fail(err, PT_ERR_ARG, "no model path given");
    snprintf(out->path, sizeof out->path, "%s", path);
    struct stat st;
    if (stat(path, &st)) return pt_fail(err, PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return peek_hf(path, out, err);
    if (!S_ISREG(st.st_mode)) return pt_fail(err, PT_ERR_IO, "%s: not a regular file or folder", path);
    if (st.st_size == 0)
        return pt_fail(err, PT_ERR_FORMAT, "%s: empty file, not a model (a model is a .gguf file or a Hugging Face folder)",
                       path);
    if (!has_gguf_magic(path))
        return pt_fail(err, PT_ERR_FORMAT, "%s: not a model (a model is a .gguf file or a Hugging Face folder "
                       "with config.json and *.safetensors)", path);
    out->file_bytes = (size_t)st.st_size;
    return peek_gguf(path, out, err);
}

// Files and folders of one hub repo: in its newest snapshot (by mtime) that
// holds a model folder or model GGUFs (an older one may still be complete
// while a newer one downloads).
static void scan_hub_repo(const char *repo, path_list *l) {
    char snaps[PATH_CAP], p[PATH_CAP], best[PATH_CAP] = "";
    struct timespec best_t = {0, 0};
    if (!join(snaps, repo, "snapshots")) return;
    DIR *d = opendir(snaps);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        struct stat st;
        if (e->d_name[0] == '.' || !join(p, snaps, e->d_name) || stat(p, &st) || !S_ISDIR(st.st_mode)) continue;
        int useful = is_model_dir(p);
        DIR *s = useful ? NULL : opendir(p);
        for (struct dirent *f; s && !useful && (f = readdir(s));) {
            char q[PATH_CAP];
            useful = ends_with(f->d_name, ".gguf") && join(q, p, f->d_name) && is_file(q);
        }
        if (s) closedir(s);
        if (useful && (!best[0] || st.st_mtim.tv_sec > best_t.tv_sec ||
                       (st.st_mtim.tv_sec == best_t.tv_sec && st.st_mtim.tv_nsec > best_t.tv_nsec))) {
            snprintf(best, sizeof best, "%s", p);
            best_t = st.st_mtim;
        }
    }
    closedir(d);
    if (!best[0]) return;
    if (is_model_dir(best)) list_add(l, best);
    if (!(d = opendir(best))) return;
    for (struct dirent *e; (e = readdir(d));)
        if (ends_with(e->d_name, ".gguf") && join(p, best, e->d_name) && is_file(p) && gguf_is(p, 0)) list_add(l, p);
    closedir(d);
}

int pt_models_scan(const char *dir, char (*out)[1024], int n, int cap) {
    path_list l = {0};
    char p[PATH_CAP];
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) return n;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || !join(p, dir, e->d_name)) continue;
        if (!strncmp(e->d_name, "models--", 8) && is_dir(p)) scan_hub_repo(p, &l);
        else if (ends_with(e->d_name, ".gguf")) {
            if (is_file(p) && gguf_is(p, 0)) list_add(&l, p);
        } else if (is_dir(p) && is_model_dir(p)) {
            list_add(&l, p);
        }
    }
    closedir(d);
    return list_append(&l, out, n, cap);
}

// ---- adapters ------------------------------------------------------------------------------

// trainer_state.json (Hugging Face's, or peftui's superset of it): the step,
// the last training loss, and the best eval loss (best_metric, else the
// lowest logged). Only these fields: one from another trainer still reads.
static int read_trainer_state(const char *path, int *step, float *loss, float *eval_loss) {
    char *text = NULL;
    if (pt_read_file(path, &text, NULL, NULL)) return -1;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return -1;
    }
    const cJSON *gs = cJSON_GetObjectItemCaseSensitive(j, "global_step");
    const cJSON *bm = cJSON_GetObjectItemCaseSensitive(j, "best_metric");
    const cJSON *e;
    if (cJSON_IsNumber(gs) && gs->valuedouble >= 0 && gs->valuedouble <= INT_MAX) *step = (int)gs->valuedouble;
    float lowest = NAN;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "log_history")) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(e, "loss");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "eval_loss");
        if (cJSON_IsNumber(l)) *loss = (float)l->valuedouble;
        if (cJSON_IsNumber(v) && !((float)v->valuedouble >= lowest)) lowest = (float)v->valuedouble;
    }
    *eval_loss = cJSON_IsNumber(bm) ? (float)bm->valuedouble : lowest;
    cJSON_Delete(j);
    return 0;
}

static int peek_peft(const char *dir, pt_adapter_peek *o, pt_err *err) {
    char p[PATH_CAP], own[128], parent[128];
    if (!join(p, dir, "adapter_config.json")) return pt_fail(err, PT_ERR_ARG, "%.200s...: path too long", dir);
    if (!is_file(p))
        return pt_fail(err, PT_ERR_FORMAT, "%s: no adapter_config.json: not a PEFT adapter folder "
                       "(pick a folder with adapter_config.json, or a GGUF LoRA file)", dir);
    pt_lora_config c;
    int rc = pt_lora_config_read(&c, p, err);
    if (!rc) {
        ws_fmt(o->base, sizeof o->base, "%s", c.base_model);
        o->r = c.r;
        o->alpha = c.lora_alpha;
        pt_lora_config_describe_targets(&c, o->targets, sizeof o->targets);
    }
    lora_config_free(&c);
    if (rc) return rc;
    last_part(dir, own, sizeof own);
    int n = checkpoint_step(own);
    float eval = NAN;
    // A trainer_state.json that does not read leaves step and loss unknown:
    // the adapter beside it is still good.
    int has_state = join(p, dir, "trainer_state.json") && is_file(p);
    if (has_state) read_trainer_state(p, &o->step, &o->loss, &eval);
    if (o->step < 0 && n >= 0) o->step = n;
    o->is_checkpoint = has_state || n >= 0;
    parent_part(dir, parent, sizeof parent);
    if (o->is_checkpoint && parent[0]) ws_fmt(o->name, sizeof o->name, "%s/%s", parent, own);
    else snprintf(o->name, sizeof o->name, "%s", own);
    return PT_OK;
}

// llama.cpp's module names, in pt_linear order (adapter_gguf.c reads the same).
static const char *const GGUF_LIN[PT_LIN_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                                   "ffn_gate", "ffn_up", "ffn_down", "attn_qkv"};

static int peek_gguf_lora(const char *path, pt_adapter_peek *o, pt_err *err) {
    gguf_file g;
    int rc = gguf_open(&g, path, err), found = 0;
    if (rc) return rc;
    char type[32], atype[32] = "";
    gguf_type(&g, type, sizeof type);
    if (strcmp(type, "adapter")) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: a GGUF model, not a LoRA adapter (general.type is not \"adapter\"): "
                     "load it as the base model", path);
        goto done;
    }
    if ((rc = gguf_get_str(&g, "adapter.type", atype, sizeof atype, &found, err))) goto done;
    if (strcmp(atype, "lora")) {
        rc = pt_fail(err, PT_ERR_UNSUPPORTED, "%s: a GGUF adapter of type \"%s\", not a LoRA (adapter.type \"lora\")",
                     path, atype);
        goto done;
    }
    // r: the most common rank of the lora_a tensors (ne [in, r]), ties to the
    // smaller, as the loader picks it; the targets: the modules present.
    int ranks[32], counts[32], nr = 0;
    unsigned slots = 0;
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const gguf_tensor *t = &g.tensors[i];
        char name[128];
        if (t->name.len >= sizeof name) continue;
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        if (!ends_with(name, ".weight.lora_a") || t->n_dims != 2 || t->ne[1] < 1 || t->ne[1] > INT_MAX) continue;
        for (int s = 0; s < PT_LIN_COUNT; s++) {
            char mid[40];
            snprintf(mid, sizeof mid, ".%s.weight.lora_a", GGUF_LIN[s]);
            if (ends_with(name, mid)) slots |= 1u << s;
        }
        int r = (int)t->ne[1], k = 0;
        while (k < nr && ranks[k] != r) k++;
        if (k == nr && nr < 32) ranks[nr] = r, counts[nr++] = 0;
        if (k < nr) counts[k]++;
    }
    if (!nr) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: no LoRA tensors (blk.N.<module>.weight.lora_a) in it", path);
        goto done;
    }
    int best = 0;
    for (int k = 1; k < nr; k++)
        if (counts[k] > counts[best] || (counts[k] == counts[best] && ranks[k] < ranks[best])) best = k;
    o->r = ranks[best];
    double alpha = 0;
    if ((rc = gguf_get_f64(&g, "adapter.lora.alpha", &alpha, &found, err))) goto done;
    o->alpha = found && alpha > 0 ? (float)alpha : (float)o->r;   // absent or 0: llama.cpp's scale 1
    size_t len = 0;
    for (int s = 0; s < PT_LIN_COUNT && len < sizeof o->targets; s++)
        if (slots & (1u << s))
            len += (size_t)snprintf(o->targets + len, sizeof o->targets - len, "%s%s", len ? ", " : "",
                                    GGUF_LORA_TARGETS[s]);
    if ((rc = gguf_get_str(&g, "general.basename", o->base, sizeof o->base, &found, err))) goto done;
    if (!found) o->base[0] = 0;
    last_part(path, o->name, sizeof o->name);
    o->is_gguf = 1;
done:
    gguf_close(&g);
    return rc;
}

int pt_adapter_peek_path(const char *path, pt_adapter_peek *out, pt_err *err) {
    memset(out, 0, sizeof *out);
    out->step = -1;
    out->loss = NAN;
    if (!path || !*path) return pt_fail(err, PT_ERR_ARG, "no adapter path given");
    snprintf(out->path, sizeof out->path, "%s", path);
    struct stat st;
    if (stat(path, &st)) return pt_fail(err, PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return peek_peft(path, out, err);
    if (!S_ISREG(st.st_mode)) return pt_fail(err, PT_ERR_IO, "%s: not a regular file or folder", path);
    if (st.st_size == 0) return pt_fail(err, PT_ERR_FORMAT, "%s: empty file, not an adapter", path);
    if (!has_gguf_magic(path))
        return pt_fail(err, PT_ERR_FORMAT, "%s: not an adapter (an adapter is a PEFT folder with adapter_config.json, "
                       "or a GGUF LoRA file)", path);
    return peek_gguf_lora(path, out, err);
}

// dir's adapters (it is at depth - 1), and those in its folders while depth < 2.
// *.tmp folders are saves in progress (checkpoint-N.tmp): never listed.
static void scan_adapters(const char *dir, int depth, path_list *l) {
    DIR *d = opendir(dir);
    if (!d) return;
    char p[PATH_CAP], q[PATH_CAP];
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || ends_with(e->d_name, ".tmp") || !join(p, dir, e->d_name)) continue;
        if (is_dir(p)) {
            if (join(q, p, "adapter_config.json") && is_file(q)) list_add(l, p);
            if (depth < 2) scan_adapters(p, depth + 1, l);
        } else if (ends_with(e->d_name, ".gguf") && is_file(p) && gguf_is(p, 1)) {
            list_add(l, p);
        }
    }
    closedir(d);
}

int pt_adapters_scan(const char *dir, char (*out)[1024], int n, int cap) {
    path_list l = {0};
    if (!dir || !is_dir(dir)) return n;
    scan_adapters(dir, 1, &l);
    return list_append(&l, out, n, cap);
}

static int cmp_step_desc(const void *a, const void *b) {
    const pt_checkpoint_info *x = a, *y = b;
    return x->step != y->step ? (x->step < y->step ? 1 : -1) : strcmp(x->path, y->path);
}

int pt_checkpoints_list(const char *run_dir, pt_checkpoint_info *out, int cap) {
    DIR *d = run_dir ? opendir(run_dir) : NULL;
    if (!d) return 0;
    pt_checkpoint_info *all = NULL;
    int n = 0, n_all = 0;
    char p[PATH_CAP], ts[PATH_CAP];
    for (struct dirent *e; (e = readdir(d));) {
        int step = checkpoint_step(e->d_name);
        if (step < 0 || !join(p, run_dir, e->d_name) || !join(ts, p, "trainer_state.json") || !is_file(ts)) continue;
        if (n == n_all) {
            int grow = n_all ? 2 * n_all : 8;
            void *m = realloc(all, (size_t)grow * sizeof *all);
            if (!m) break;
            all = m;
            n_all = grow;
        }
        pt_checkpoint_info *c = &all[n++];
        snprintf(c->path, sizeof c->path, "%s", p);
        c->step = step;
        c->loss = c->eval_loss = NAN;
        read_trainer_state(ts, &c->step, &c->loss, &c->eval_loss);
    }
    closedir(d);
    if (n) qsort(all, (size_t)n, sizeof *all, cmp_step_desc);
    if (n > cap) n = cap > 0 ? cap : 0;
    if (n) memcpy(out, all, (size_t)n * sizeof *all);
    free(all);
    return n;
}

// ---- datasets --------------------------------------------------------------------------------

static int add_message(cJSON *msgs, const char *role, const char *content) {
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddItemToArray(msgs, m)) {
        cJSON_Delete(m);
        return -1;
    }
    return cJSON_AddStringToObject(m, "role", role) && cJSON_AddStringToObject(m, "content", content) ? 0 : -1;
}

int pt_dataset_append_chat(const char *path, const char *system, const char *user, const char *assistant,
                           pt_err *err) {
    if (!path || !*path) return pt_fail(err, PT_ERR_ARG, "no dataset file given");
    const char *text[3] = {system, user, assistant}, *what[3] = {"system", "user", "assistant"};
    for (int i = 1; i < 3; i++)
        if (!text[i] || !*text[i])
            return pt_fail(err, PT_ERR_ARG, "%s: the %s message is empty: nothing appended", path, what[i]);
    for (int i = 0; i < 3; i++)
        if (text[i] && pt_utf8_invalid_at(text[i], strlen(text[i])))
            return pt_fail(err, PT_ERR_ARG, "%s: the %s message is not valid UTF-8: nothing appended", path, what[i]);
    char target[PATH_MAX], *old = NULL, *row = NULL;
    size_t old_len = 0;
    cJSON *root = NULL, *msgs;
    struct stat st;
    int rc = PT_OK, mode = 0644;
    if (stat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode)) return pt_fail(err, PT_ERR_IO, "%s: not a regular file: pick a .jsonl file", path);
        // a link stays a link: the file it points to is the one rewritten
        if (!realpath(path, target)) return pt_fail(err, PT_ERR_IO, "%s: %s", path, strerror(errno));
        mode = (int)(st.st_mode & 07777);
        if ((rc = pt_read_file(target, &old, &old_len, err))) return rc;
    } else if (errno == ENOENT) {
        char parent[PATH_CAP];
        snprintf(parent, sizeof parent, "%s", path);
        char *s = strrchr(parent, '/');
        if (s) *s = 0;
        if (s && parent[0] && !is_dir(parent))
            return pt_fail(err, PT_ERR_IO, "%s: folder not found: create it first to write %s", parent, path);
        snprintf(target, sizeof target, "%s", path);
    } else {
        return pt_fail(err, PT_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (!(root = cJSON_CreateObject()) || !(msgs = cJSON_AddArrayToObject(root, "messages")) ||
        (system && *system && add_message(msgs, "system", system)) || add_message(msgs, "user", user) ||
        add_message(msgs, "assistant", assistant) || !(row = cJSON_PrintUnformatted(root))) {
        rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    pt_afile af;
    if ((rc = pt_afile_open(&af, target, err))) goto done;
    fchmod(fileno(af.f), (mode_t)mode);
    int bad = old_len && fwrite(old, 1, old_len, af.f) != old_len;
    if (!bad && old_len && old[old_len - 1] != '\n') bad = fputc('\n', af.f) == EOF;   // the old last row stays a row
    if (!bad) bad = fputs(row, af.f) == EOF || fputc('\n', af.f) == EOF;
    if (bad) {
        int e = errno;
        pt_afile_abort(&af);
        rc = pt_fail(err, PT_ERR_IO, "%s: write failed: %s (the file is unchanged)", path, strerror(e ? e : EIO));
        goto done;
    }
    rc = pt_afile_commit(&af, err);
done:
    cJSON_free(row);
    cJSON_Delete(root);
    free(old);
    return rc;
}

// ---- the config folder --------------------------------------------------------------------------

int pt_config_dir(char *buf, size_t cap, pt_err *err) {
    if (!buf || !cap) return pt_fail(err, PT_ERR_ARG, "no buffer for the config folder");
    buf[0] = 0;
    // The XDG base directory spec: a relative XDG_CONFIG_HOME is invalid and ignored.
    const char *x = getenv("XDG_CONFIG_HOME"), *h = getenv("HOME");
    int n;
    if (x && x[0] == '/') n = snprintf(buf, cap, "%s/peftui", x);
    else if (h && h[0] == '/') n = snprintf(buf, cap, "%s/.config/peftui", h);
    else
        return pt_fail(err, PT_ERR_IO, "no config folder: neither XDG_CONFIG_HOME nor HOME is an absolute path; set HOME");
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = 0;
        return pt_fail(err, PT_ERR_ARG, "the config folder's path is longer than %zu bytes", cap - 1);
    }
    return pt_mkdir_p(buf, err);
}
