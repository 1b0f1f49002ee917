// checkpoint.c - crash-safe files and folders for training checkpoints:
// optimizer.bin, trainer_state.json, checkpoint-STEP folders and their rotation.
#define _GNU_SOURCE   // renameat2 (RENAME_EXCHANGE)
#include "train/checkpoint.h"
#include "core/fileio.h"
#include "core/hash.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OPT_MAGIC "PTADAMW"   // 8 bytes with its NUL
#define OPT_VERSION 1u

// ---- optimizer.bin ---------------------------------------------------------


typedef struct {
    char magic[8];
    uint32_t version, reserved;
    uint64_t n;
    int64_t step;
    double beta1, beta2, eps, weight_decay;
} opt_header;   // 64 bytes, no padding

int optimizer_save(const pt_adamw *o, const char *path, pt_err *err) {
    opt_header h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, OPT_MAGIC, 8);
    h.version = OPT_VERSION;
    h.n = o->n;
    h.step = o->step;
    h.beta1 = o->beta1;
    h.beta2 = o->beta2;
    h.eps = o->eps;
    h.weight_decay = o->weight_decay;
    float *mv = malloc(2 * o->n * sizeof(float));   // m then v, wherever they live
    if (!mv) return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
    adamw_get_moments(o, mv);
    uint64_t sum = PT_FNV1A_INIT;
    sum = pt_fnv1a(sum, &h, sizeof(h));
    sum = pt_fnv1a(sum, mv, 2 * o->n * sizeof(float));
    pt_afile af;
    int rc = pt_afile_open(&af, path, err);
    if (rc) {
        free(mv);
        return rc;
    }
    if (fwrite(&h, sizeof(h), 1, af.f) != 1 || fwrite(mv, sizeof(float), 2 * o->n, af.f) != 2 * o->n ||
        fwrite(&sum, sizeof(sum), 1, af.f) != 1) {
        int e = errno;
        pt_afile_abort(&af);
        free(mv);
        return pt_fail(err, PT_ERR_IO, "%s: write failed: %s", path, strerror(e ? e : EIO));
    }
    free(mv);
    return pt_afile_commit(&af, err);
}

int optimizer_load(pt_adamw *o, const char *path, pt_err *err) {
    int rc = PT_OK;
    float *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return pt_fail(err, PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    opt_header h;
    uint64_t sum, want;
    if (fread(&h, sizeof(h), 1, f) != 1 || memcmp(h.magic, OPT_MAGIC, 8) != 0) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: not a peftui optimizer state (bad magic)", path);
        goto fail;
    }
    if (h.version != OPT_VERSION) {
        rc = pt_fail(err, PT_ERR_UNSUPPORTED, "%s: optimizer state version %u, this peftui reads %u", path, h.version, OPT_VERSION);
        goto fail;
    }
    if (h.n != o->n) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: holds moments for %llu parameters, the adapter has %zu", path,
                     (unsigned long long)h.n, o->n);
        goto fail;
    }
    if (h.step < 0) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: negative step count", path);
        goto fail;
    }
    buf = malloc(2 * o->n * sizeof(float));
    if (!buf) {
        rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (fread(buf, sizeof(float), 2 * o->n, f) != 2 * o->n || fread(&sum, sizeof(sum), 1, f) != 1) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: truncated", path);
        goto fail;
    }
    if (fgetc(f) != EOF) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: trailing bytes after the checksum", path);
        goto fail;
    }
    want = pt_fnv1a(pt_fnv1a(PT_FNV1A_INIT, &h, sizeof(h)), buf, 2 * o->n * sizeof(float));
    if (sum != want) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: checksum mismatch (corrupt file)", path);
        goto fail;
    }
    adamw_set_moments(o, buf);
    o->step = h.step;
fail:
    free(buf);
    fclose(f);
    return rc;
}

// ---- trainer_state.json ----------------------------------------------------

void ckpt_state_init(pt_ckpt_state *s) {
    memset(s, 0, sizeof(*s));
    s->last_loss = NAN;
    s->best_metric = NAN;
    s->best_step = -1;
    s->log_history = cJSON_CreateArray();
}

void ckpt_state_free(pt_ckpt_state *s) {
    cJSON_Delete(s->log_history);
    s->log_history = NULL;
}

static void add_num_or_null(cJSON *o, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

int ckpt_state_save(const pt_ckpt_state *s, const pt_train_params *p, const char *path, pt_err *err) {
    cJSON *j = cJSON_CreateObject();
    char seed[32];
    snprintf(seed, sizeof(seed), "%llu", (unsigned long long)s->seed);
    double epoch = s->epoch + (s->micro_per_epoch > 0 ? (double)s->micro / s->micro_per_epoch : 0.0);
    // Hugging Face Trainer's fields
    cJSON_AddNumberToObject(j, "global_step", s->global_step);
    cJSON_AddNumberToObject(j, "epoch", epoch);
    cJSON_AddNumberToObject(j, "max_steps", s->total_steps);
    int per_epoch = s->grad_accum > 0 ? (s->micro_per_epoch + s->grad_accum - 1) / s->grad_accum : 0;
    int epochs = p->max_steps > 0 && per_epoch > 0 ? (s->total_steps + per_epoch - 1) / per_epoch : p->epochs;
    cJSON_AddNumberToObject(j, "num_train_epochs", epochs);
    cJSON_AddNumberToObject(j, "logging_steps", 1);
    cJSON_AddNumberToObject(j, "eval_steps", p->eval_every);
    cJSON_AddNumberToObject(j, "save_steps", p->save_every);
    cJSON_AddNumberToObject(j, "train_batch_size", s->batch);
    cJSON_AddNumberToObject(j, "num_input_tokens_seen", (double)s->tokens_seen);
    add_num_or_null(j, "best_metric", s->best_metric);
    if (s->best_step >= 0) cJSON_AddNumberToObject(j, "best_global_step", s->best_step);
    else cJSON_AddNullToObject(j, "best_global_step");
    if (s->best_checkpoint[0]) cJSON_AddStringToObject(j, "best_model_checkpoint", s->best_checkpoint);
    else cJSON_AddNullToObject(j, "best_model_checkpoint");
    cJSON_AddBoolToObject(j, "is_local_process_zero", 1);
    cJSON_AddBoolToObject(j, "is_world_process_zero", 1);
    cJSON_AddItemToObject(j, "log_history", cJSON_Duplicate(s->log_history, 1));
    // what peftui needs to continue exactly where it stopped
    cJSON *q = cJSON_AddObjectToObject(j, "peftui");
    cJSON_AddNumberToObject(q, "version", 1);
    cJSON_AddStringToObject(q, "seed", seed);
    cJSON_AddStringToObject(q, "rng", "epoch e shuffled by splitmix64(seed + e); dropout seeded per micro-batch");
    cJSON_AddNumberToObject(q, "epoch_index", s->epoch);
    cJSON_AddNumberToObject(q, "micro_batches_done", s->micro);
    cJSON_AddNumberToObject(q, "micro_batches_per_epoch", s->micro_per_epoch);
    cJSON_AddNumberToObject(q, "n_train", s->n_train);
    cJSON_AddNumberToObject(q, "batch", s->batch);
    cJSON_AddNumberToObject(q, "grad_accum", s->grad_accum);
    cJSON_AddNumberToObject(q, "total_steps", s->total_steps);
    add_num_or_null(q, "last_loss", s->last_loss);
    cJSON_AddNumberToObject(q, "elapsed_s", s->elapsed_s);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
    int rc = pt_write_file_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}

static int get_int(const cJSON *o, const char *key, int *out) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(x)) return -1;
    *out = x->valueint;
    return 0;
}

static float get_float_or_nan(const cJSON *o, const char *key) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(x) ? (float)x->valuedouble : NAN;
}

int ckpt_state_load(pt_ckpt_state *s, const char *path, pt_err *err) {
    int rc = PT_OK;
    char *text = NULL;
    cJSON *j = NULL;
    ckpt_state_init(s);
    rc = pt_read_file(path, &text, NULL, err);
    if (rc) {
        ckpt_state_free(s);
        return rc;
    }
    j = cJSON_Parse(text);
    if (!j) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: not valid JSON", path);
        goto fail;
    }
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(j, "peftui");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(q, "seed");
    int version = 0;
    if (!cJSON_IsObject(q) || get_int(q, "version", &version) || version != 1 || !cJSON_IsString(seed)) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: no peftui resume state (version 1) in it", path);
        goto fail;
    }
    if (get_int(j, "global_step", &s->global_step) || get_int(q, "epoch_index", &s->epoch) ||
        get_int(q, "micro_batches_done", &s->micro) || get_int(q, "micro_batches_per_epoch", &s->micro_per_epoch) ||
        get_int(q, "n_train", &s->n_train) || get_int(q, "batch", &s->batch) || get_int(q, "grad_accum", &s->grad_accum) ||
        get_int(q, "total_steps", &s->total_steps) || s->global_step < 0 || s->epoch < 0 || s->micro < 0) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: missing or bad position fields", path);
        goto fail;
    }
    s->seed = strtoull(seed->valuestring, NULL, 10);
    s->last_loss = get_float_or_nan(q, "last_loss");
    s->best_metric = get_float_or_nan(j, "best_metric");
    if (get_int(j, "best_global_step", &s->best_step)) s->best_step = -1;
    const cJSON *bc = cJSON_GetObjectItemCaseSensitive(j, "best_model_checkpoint");
    if (cJSON_IsString(bc)) snprintf(s->best_checkpoint, sizeof(s->best_checkpoint), "%s", bc->valuestring);
    const cJSON *el = cJSON_GetObjectItemCaseSensitive(q, "elapsed_s");
    s->elapsed_s = cJSON_IsNumber(el) ? el->valuedouble : 0.0;
    const cJSON *tk = cJSON_GetObjectItemCaseSensitive(j, "num_input_tokens_seen");
    // a count beyond 2^53 or negative is not one a run wrote: read it as unknown
    s->tokens_seen = cJSON_IsNumber(tk) && tk->valuedouble >= 0 && tk->valuedouble <= 0x1p53
                         ? (int64_t)tk->valuedouble : 0;
    cJSON *hist = cJSON_DetachItemFromObjectCaseSensitive(j, "log_history");
    if (cJSON_IsArray(hist)) {
        cJSON_Delete(s->log_history);
        s->log_history = hist;
    } else {
        cJSON_Delete(hist);
    }
fail:
    if (rc) ckpt_state_free(s);
    cJSON_Delete(j);
    free(text);
    return rc;
}

// ---- checkpoint folders ----------------------------------------------------

int ckpt_dir_begin(const char *out, int step, char *tmpdir, size_t cap, pt_err *err) {
    if (snprintf(tmpdir, cap, "%s/checkpoint-%d.tmp", out, step) >= (int)cap)
        return pt_fail(err, PT_ERR_ARG, "%s: path too long", out);
    pt_dir_remove(tmpdir);
    if (mkdir(tmpdir, 0755) != 0) return pt_fail(err, PT_ERR_IO, "%s: cannot create: %s", tmpdir, strerror(errno));
    return PT_OK;
}

int ckpt_dir_commit(const char *out, int step, const char *tmpdir, char *final, size_t cap, pt_err *err) {
    if (snprintf(final, cap, "%s/checkpoint-%d", out, step) >= (int)cap)
        return pt_fail(err, PT_ERR_ARG, "%s: path too long", out);
    pt_fsync_dir(tmpdir);
    struct stat st;
    if (stat(final, &st) == 0) {
        // A checkpoint of this step exists (a resumed run saving it again):
        // swap the two in one step, then drop the old one.
        if (renameat2(AT_FDCWD, tmpdir, AT_FDCWD, final, RENAME_EXCHANGE) == 0) {
            pt_dir_remove(tmpdir);
        } else {
            char old[1100];
            snprintf(old, sizeof(old), "%s.old", final);
            pt_dir_remove(old);
            if (rename(final, old) != 0 || rename(tmpdir, final) != 0)
                return pt_fail(err, PT_ERR_IO, "%s: cannot replace: %s", final, strerror(errno));
            pt_dir_remove(old);
        }
    } else if (rename(tmpdir, final) != 0) {
        return pt_fail(err, PT_ERR_IO, "%s: cannot rename to %s: %s", tmpdir, final, strerror(errno));
    }
    pt_fsync_dir(out);
    return PT_OK;
}

static int cmp_desc(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

void ckpt_rotate(const char *out, int upto, int keep) {
    DIR *d = opendir(out);
    if (!d) return;
    int steps[4096], n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "checkpoint-", 11) != 0) continue;
        const char *num = e->d_name + 11;
        char *end;
        long v = strtol(num, &end, 10);
        if (end == num || v < 0 || v > INT_MAX) continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", out, e->d_name);
        if (!strcmp(end, ".tmp")) {
            pt_dir_remove(path);   // left by a crash: incomplete by definition
        } else if (!*end && v <= upto && n < (int)(sizeof(steps) / sizeof(steps[0]))) {
            steps[n++] = (int)v;
        }
    }
    closedir(d);
    qsort(steps, (size_t)n, sizeof(int), cmp_desc);
    for (int i = keep; i < n; i++) {
        // Renamed to a .tmp name first, so that a crash while removing it never
        // leaves a half-deleted folder that still looks like a checkpoint.
        char path[PATH_MAX], gone[PATH_MAX + 8];
        snprintf(path, sizeof(path), "%s/checkpoint-%d", out, steps[i]);
        snprintf(gone, sizeof(gone), "%s.tmp", path);
        pt_dir_remove(gone);
        if (rename(path, gone) != 0) continue;   // left whole rather than half-removed
        pt_fsync_dir(out);
        pt_dir_remove(gone);
    }
}

// ---- log.jsonl -------------------------------------------------------------

int log_truncate(const char *path, int upto, pt_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? PT_OK : pt_fail(err, PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    pt_afile af;
    int rc = pt_afile_open(&af, path, err);
    if (rc) {
        fclose(f);
        return rc;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "step");
        int keep = cJSON_IsNumber(s) && s->valueint <= upto;
        cJSON_Delete(j);
        if (keep) fwrite(line, 1, (size_t)len, af.f);
    }
    free(line);
    fclose(f);
    return pt_afile_commit(&af, err);
}
