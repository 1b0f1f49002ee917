// test_ws_files.c - the workbench's file listings through the public header:
// model peeks against what loading the same model reports, the errors for
// files that are no model, scans of tests/data/tiny and of a hub cache made
// of links into blobs/ (as huggingface_hub lays it out), adapters made by the
// workspace (a saved PEFT folder, a run with two checkpoints, a GGUF LoRA
// export), appending chats to datasets, and the config folder.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "workspace/peftui.h"

#define TINY_DIR PT_SOURCE_DIR "/tests/data/tiny"
#define TINY_HF TINY_DIR "/llama-hf"
#define IDENTITY PT_SOURCE_DIR "/datasets/identity.jsonl"

static char g_tmp[256];

// ---- helpers -----------------------------------------------------------------

static int write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

// The whole file (malloc'd, NUL-terminated), or NULL.
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    if (len) *len = (size_t)n;
    return buf;
}

// The first n bytes of src (all when n is 0) to dst.
static int copy_file(const char *src, const char *dst, size_t n) {
    size_t len = 0;
    char *b = slurp(src, &len);
    if (!b) return -1;
    int rc = write_bytes(dst, b, n && n < len ? n : len);
    free(b);
    return rc;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static long file_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static int find(char (*list)[1024], int n, const char *suffix) {
    size_t k = strlen(suffix);
    for (int i = 0; i < n; i++) {
        size_t m = strlen(list[i]);
        if (m >= k && !strcmp(list[i] + m - k, suffix)) return i;
    }
    return -1;
}

// A one-line message naming what it is about.
static int good_msg(const pt_err *err, const char *about) {
    return err->msg[0] && !strchr(err->msg, '\n') && strstr(err->msg, about) != NULL;
}

static pt_ws *open_ws(const char *model) {
    pt_ws *ws = NULL;
    pt_err err = {0};
    pt_ws_opts o;
    pt_ws_opts_default(&o);
    o.device = "cpu";
    o.threads = 2;
    int task = 0;
    if (pt_ws_create(&ws, &o, &err) != PT_OK || pt_ws_load_model(ws, model, &task, &err) != PT_OK ||
        pt_ws_wait(ws, task, &err) != PT_OK) {
        CHECKF(0, "open %s: %s", model, err.msg);
        pt_ws_destroy(ws);
        return NULL;
    }
    return ws;
}

// ---- models --------------------------------------------------------------------

// The peek agrees with what loading the model reports.
static void check_peek_vs_load(const char *path, int from_gguf, const char *types_prefix) {
    pt_model_peek pk;
    pt_err err = {0};
    CHECKF(pt_model_peek_path(path, &pk, &err) == PT_OK, "%s: %s", path, err.msg);
    CHECK(pk.from_gguf == from_gguf);
    CHECKF(!strncmp(pk.types, types_prefix, strlen(types_prefix)), "%s: types '%s'", path, pk.types);
    CHECK(pk.n_params > 0 && pk.file_bytes > 0 && pk.name[0]);
    CHECK(!strcmp(pk.path, path));
    pt_ws *ws = open_ws(path);
    if (!ws) return;
    pt_model_info mi;
    CHECKF(pt_ws_model_info(ws, &mi, &err) == PT_OK, "%s", err.msg);
    CHECKF(pk.n_params == mi.n_params, "%s: peek %zu params, loaded %zu", path, pk.n_params, mi.n_params);
    CHECKF(!strcmp(pk.arch, mi.arch), "%s: peek arch '%s', loaded '%s'", path, pk.arch, mi.arch);
    CHECK(pk.n_layer == mi.n_layer);
    CHECKF(pk.max_ctx == mi.max_ctx, "%s: peek ctx %d, loaded %d", path, pk.max_ctx, mi.max_ctx);
    CHECKF(!strcmp(pk.name, mi.name), "%s: peek name '%s', loaded '%s'", path, pk.name, mi.name);
    pt_ws_destroy(ws);
}

static void test_peek_models(void) {
    check_peek_vs_load(TINY_DIR "/llama-f32.gguf", 1, "f32");
    check_peek_vs_load(TINY_DIR "/llama-q4_1.gguf", 1, "q4_1");
    check_peek_vs_load(TINY_HF, 0, "f32");
    pt_model_peek a, b;
    pt_err err = {0};
    CHECK(pt_model_peek_path(TINY_DIR "/llama-q4_1.gguf", &a, &err) == PT_OK);
    CHECK(a.file_bytes == (size_t)file_size(TINY_DIR "/llama-q4_1.gguf"));
    CHECKF(strstr(a.types, "f32") != NULL, "types '%s'", a.types);
    CHECK(pt_model_peek_path(TINY_HF, &a, &err) == PT_OK);
    CHECK(a.file_bytes == (size_t)file_size(TINY_HF "/model.safetensors"));
    // the same model in four shards: the same count, the bytes of all four
    CHECKF(pt_model_peek_path(TINY_DIR "/llama-hf-sharded", &b, &err) == PT_OK, "%s", err.msg);
    CHECK(b.n_params == a.n_params && b.file_bytes > 0);
    long shards = 0;
    for (int i = 1; i <= 4; i++) {
        char p[512];
        snprintf(p, sizeof p, TINY_DIR "/llama-hf-sharded/model-0000%d-of-00004.safetensors", i);
        shards += file_size(p);
    }
    CHECK(b.file_bytes == (size_t)shards);
    CHECK(pt_model_peek_path(TINY_DIR "/llama-hf-bf16", &b, &err) == PT_OK && strstr(b.types, "bf16"));
    CHECK(pt_model_peek_path(TINY_DIR "/qwen2-hf", &b, &err) == PT_OK && !strcmp(b.arch, "qwen2"));
    // a file whose architecture peftui cannot load still peeks: the peek says which
    CHECK(pt_model_peek_path(TINY_DIR "/bad-arch.gguf", &b, &err) == PT_OK && b.arch[0] && strcmp(b.arch, "llama"));
}

static void test_peek_errors(void) {
    char dir[300], p[400];
    pt_model_peek pk;
    pt_err err;
    snprintf(dir, sizeof dir, "%s/bad", g_tmp);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/notes.txt", dir);
    write_bytes(p, "these are notes, not a model\n", 29);
    memset(&err, 0, sizeof err);
    CHECK(pt_model_peek_path(p, &pk, &err) != PT_OK && good_msg(&err, p));
    snprintf(p, sizeof p, "%s/empty.gguf", dir);
    write_bytes(p, "", 0);
    memset(&err, 0, sizeof err);
    CHECK(pt_model_peek_path(p, &pk, &err) != PT_OK && good_msg(&err, p) && strstr(err.msg, "empty"));
    // cut inside the metadata, and inside the tensor data
    size_t cuts[2] = {100, (size_t)file_size(TINY_DIR "/llama-f32.gguf") / 2};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/cut%d.gguf", dir, i);
        CHECK(copy_file(TINY_DIR "/llama-f32.gguf", p, cuts[i]) == 0);
        memset(&err, 0, sizeof err);
        CHECKF(pt_model_peek_path(p, &pk, &err) != PT_OK && good_msg(&err, p), "cut %zu: %s", cuts[i], err.msg);
    }
    memset(&err, 0, sizeof err);
    CHECK(pt_model_peek_path(dir, &pk, &err) != PT_OK && good_msg(&err, dir) && strstr(err.msg, "config.json"));
    // config.json alone: no weights
    snprintf(p, sizeof p, "%s/config.json", dir);
    CHECK(copy_file(TINY_HF "/config.json", p, 0) == 0);
    memset(&err, 0, sizeof err);
    CHECK(pt_model_peek_path(dir, &pk, &err) != PT_OK && good_msg(&err, dir) && strstr(err.msg, "safetensors"));
    memset(&err, 0, sizeof err);
    CHECK(pt_model_peek_path("/nonexistent/model.gguf", &pk, &err) != PT_OK && good_msg(&err, "/nonexistent/model.gguf"));
    CHECK(pt_model_peek_path("", &pk, &err) != PT_OK && err.msg[0]);
}

static void test_scan_models(void) {
    char (*out)[1024] = calloc(64, 1024);
    if (!out) return;
    int n = pt_models_scan(TINY_DIR, out, 0, 64);
    const char *want[] = {"/llama-f32.gguf", "/llama-q4_1.gguf", "/llama-q8_0.gguf", "/qwen2-f16.gguf", "/bad-arch.gguf",
                          "/llama-hf", "/llama-hf-bf16", "/llama-hf-sharded", "/qwen2-hf"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) CHECKF(find(out, n, want[i]) >= 0, "%s not listed", want[i]);
    int sorted = 1;
    for (int i = 1; i < n; i++) sorted &= strverscmp(out[i - 1], out[i]) < 0;
    CHECK(sorted);
    // again after them, and through another spelling of the folder: nothing new
    CHECK(pt_models_scan(TINY_DIR, out, n, 64) == n);
    CHECK(pt_models_scan(TINY_DIR "/../tiny/", out, n, 64) == n);
    CHECK(pt_models_scan("/nonexistent/models", out, n, 64) == n);
    CHECK(pt_models_scan(TINY_DIR, out, 0, 2) == 2);

    // a hub cache: blobs/ holds the bytes, snapshots/<hash>/ links to them
    char hub[300], repo[400], p[700], q[800];
    snprintf(hub, sizeof hub, "%s/hub", g_tmp);
    snprintf(repo, sizeof repo, "%s/models--org--tiny", hub);
    snprintf(p, sizeof p, "%s/blobs", repo);
    CHECK(mkdir(hub, 0755) == 0 && mkdir(repo, 0755) == 0 && mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/snapshots", repo);
    CHECK(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/blobs/c0ffee", repo);
    CHECK(copy_file(TINY_HF "/config.json", p, 0) == 0);
    snprintf(p, sizeof p, "%s/blobs/beef", repo);
    CHECK(copy_file(TINY_HF "/model.safetensors", p, 0) == 0);
    const char *snaps[2] = {"old1", "abc2"};
    for (int s = 0; s < 2; s++) {
        snprintf(p, sizeof p, "%s/snapshots/%s", repo, snaps[s]);
        CHECK(mkdir(p, 0755) == 0);
        snprintf(q, sizeof q, "%s/config.json", p);
        CHECK(symlink("../../blobs/c0ffee", q) == 0);
        snprintf(q, sizeof q, "%s/model.safetensors", p);
        CHECK(symlink("../../blobs/beef", q) == 0);
    }
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    snprintf(p, sizeof p, "%s/snapshots/old1", repo);
    CHECK(utimensat(AT_FDCWD, p, old, 0) == 0);
    // a GGUF repo: its file is a link too
    snprintf(repo, sizeof repo, "%s/models--org--tiny-GGUF", hub);
    snprintf(p, sizeof p, "%s/blobs", repo);
    CHECK(mkdir(repo, 0755) == 0 && mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/blobs/f00d", repo);
    CHECK(copy_file(TINY_DIR "/llama-q4_1.gguf", p, 0) == 0);
    snprintf(p, sizeof p, "%s/snapshots", repo);
    CHECK(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/snapshots/h1", repo);
    CHECK(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/snapshots/h1/tiny.Q4_1.gguf", repo);
    CHECK(symlink("../../blobs/f00d", p) == 0);

    n = pt_models_scan(hub, out, 0, 64);
    CHECKF(n == 2, "hub cache: %d models", n);
    int snap = find(out, n, "/models--org--tiny/snapshots/abc2"), gg = find(out, n, "/snapshots/h1/tiny.Q4_1.gguf");
    CHECK(snap >= 0 && gg >= 0 && find(out, n, "/old1") < 0);
    pt_model_peek a, b;
    pt_err err = {0};
    if (snap >= 0) {
        CHECKF(pt_model_peek_path(out[snap], &a, &err) == PT_OK, "%s", err.msg);
        CHECK(pt_model_peek_path(TINY_HF, &b, &err) == PT_OK);
        CHECK(a.n_params == b.n_params && a.file_bytes == b.file_bytes && !strcmp(a.arch, "llama"));
        CHECKF(!strcmp(a.name, "org/tiny"), "name '%s'", a.name);
    }
    if (gg >= 0)
        CHECKF(pt_model_peek_path(out[gg], &a, &err) == PT_OK && a.from_gguf && !strcmp(a.types, "q4_1 f32 q8_0"),
               "%s: types '%s'", err.msg, a.types);
    // the same blob as a file listed before: a duplicate by real path
    CHECK(pt_models_scan(hub, out, n, 64) == n);
    free(out);
}

// ---- adapters --------------------------------------------------------------------

static int make_run(pt_ws *ws, const char *out_dir, int *adapter) {
    pt_lora_flags f;
    pt_lora_config c;
    pt_err err = {0};
    pt_lora_flags_default(&f);
    f.dropout = 0;
    if (pt_lora_config_build(&c, &f, &err) != PT_OK) return -1;
    pt_train_request r;
    pt_train_request_default(&r);
    r.data = IDENTITY;
    r.lora = &c;
    r.params.max_steps = 4;
    r.params.save_every = 2;
    r.params.batch = 2;
    r.params.lr = 1e-2f;
    r.params.max_seq_len = 64;
    snprintf(r.params.out_dir, sizeof r.params.out_dir, "%s", out_dir);
    int job = 0, rc = pt_train_start(ws, &r, &job, adapter, &err);
    lora_config_free(&c);
    CHECKF(rc == PT_OK, "train_start: %s", err.msg);
    if (rc) return -1;
    rc = pt_ws_wait(ws, job, &err);
    CHECKF(rc == PT_OK, "train: %s", err.msg);
    pt_train_close(ws, job, &err);
    return rc;
}

static void test_adapters(void) {
    pt_ws *ws = open_ws(TINY_HF);
    if (!ws) return;
    char ads[300], plain[400], run[400], gguf[400], p[700];
    pt_err err = {0};
    snprintf(ads, sizeof ads, "%s/adapters", g_tmp);
    snprintf(plain, sizeof plain, "%s/plain", ads);
    snprintf(run, sizeof run, "%s/run", ads);
    snprintf(gguf, sizeof gguf, "%s/plain.gguf", ads);
    CHECK(mkdir(ads, 0755) == 0);

    pt_lora_flags f;
    pt_lora_config c;
    pt_lora_flags_default(&f);
    f.r = 4;
    f.alpha = 8;
    f.targets = "q_proj,v_proj";
    int id = 0, task = 0, trained = 0;
    CHECK(pt_lora_config_build(&c, &f, &err) == PT_OK);
    CHECKF(pt_ws_adapter_create(ws, &c, 7, "plain", &id, &err) == PT_OK, "%s", err.msg);
    lora_config_free(&c);
    CHECKF(pt_ws_adapter_save(ws, id, plain, &task, &err) == PT_OK && pt_ws_wait(ws, task, &err) == PT_OK,
           "save: %s", err.msg);
    CHECKF(pt_ws_export(ws, id, "gguf-lora", 1.0f, gguf, &task, &err) == PT_OK && pt_ws_wait(ws, task, &err) == PT_OK,
           "export: %s", err.msg);
    CHECK(make_run(ws, run, &trained) == PT_OK);
    pt_ws_destroy(ws);
    // what must not be listed: a save in progress, a model file
    snprintf(p, sizeof p, "%s/checkpoint-6.tmp", run);
    CHECK(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/checkpoint-6.tmp/adapter_config.json", run);
    char src[500];
    snprintf(src, sizeof src, "%s/adapter_config.json", plain);
    CHECK(copy_file(src, p, 0) == 0);
    snprintf(p, sizeof p, "%s/model.gguf", ads);
    CHECK(copy_file(TINY_DIR "/llama-q4_1.gguf", p, 0) == 0);

    char (*out)[1024] = calloc(32, 1024);
    if (!out) return;
    int n = pt_adapters_scan(ads, out, 0, 32);
    const char *order[] = {"/plain", "/plain.gguf", "/run", "/run/checkpoint-2", "/run/checkpoint-4"};
    CHECKF(n == 5, "%d adapters", n);
    for (int i = 0; i < 5 && i < n; i++) CHECKF(find(out + i, 1, order[i]) == 0, "%d: %s", i, out[i]);
    CHECK(pt_adapters_scan(ads, out, n, 32) == n);
    CHECK(pt_adapters_scan("/nonexistent/adapters", out, n, 32) == n);
    int m = pt_models_scan(ads, out, 0, 32);   // the LoRA is no model; the model is
    CHECK(m == 1 && find(out, m, "/model.gguf") == 0);
    free(out);

    pt_adapter_peek a;
    CHECKF(pt_adapter_peek_path(plain, &a, &err) == PT_OK, "%s", err.msg);
    CHECK(a.r == 4 && a.alpha == 8.0f && !strcmp(a.targets, "q_proj, v_proj") && !strcmp(a.name, "plain"));
    CHECK(a.step == -1 && isnan(a.loss) && !a.is_checkpoint && !a.is_gguf);
    snprintf(p, sizeof p, "%s/checkpoint-4", run);
    CHECKF(pt_adapter_peek_path(p, &a, &err) == PT_OK, "%s", err.msg);
    CHECKF(a.is_checkpoint && a.step == 4 && isfinite(a.loss) && !strcmp(a.name, "run/checkpoint-4"),
           "checkpoint: step %d loss %g name %s", a.step, a.loss, a.name);
    CHECK(a.r == 8 && a.alpha == 16.0f && a.targets[0]);
    CHECKF(pt_adapter_peek_path(run, &a, &err) == PT_OK, "%s", err.msg);
    CHECK(!a.is_checkpoint && a.step == -1 && !strcmp(a.name, "run"));
    CHECKF(pt_adapter_peek_path(gguf, &a, &err) == PT_OK, "%s", err.msg);
    CHECKF(a.is_gguf && a.r == 4 && a.alpha == 8.0f && !strcmp(a.targets, "q_proj, v_proj") &&
           !strcmp(a.name, "plain.gguf") && a.step == -1, "gguf: r %d alpha %g targets %s", a.r, a.alpha, a.targets);

    pt_model_peek mp;
    memset(&err, 0, sizeof err);
    CHECK(pt_model_peek_path(gguf, &mp, &err) != PT_OK && good_msg(&err, gguf) && strstr(err.msg, "adapter"));
    memset(&err, 0, sizeof err);
    CHECK(pt_adapter_peek_path(TINY_DIR "/llama-q4_1.gguf", &a, &err) != PT_OK && good_msg(&err, "llama-q4_1.gguf"));
    memset(&err, 0, sizeof err);
    CHECK(pt_adapter_peek_path(TINY_HF, &a, &err) != PT_OK && good_msg(&err, TINY_HF) &&
          strstr(err.msg, "adapter_config.json"));
    memset(&err, 0, sizeof err);
    CHECK(pt_adapter_peek_path(TINY_HF "/config.json", &a, &err) != PT_OK && good_msg(&err, "config.json"));

    pt_checkpoint_info ck[8];
    int k = pt_checkpoints_list(run, ck, 8);
    CHECKF(k == 2, "%d checkpoints", k);
    if (k == 2) {
        CHECK(ck[0].step == 4 && ck[1].step == 2 && strstr(ck[0].path, "/checkpoint-4"));
        CHECK(isfinite(ck[0].loss) && isfinite(ck[1].loss));
        CHECK(isnan(ck[0].eval_loss) || isfinite(ck[0].eval_loss));
    }
    CHECK(pt_checkpoints_list(run, ck, 1) == 1 && ck[0].step == 4);
    CHECK(pt_checkpoints_list(plain, ck, 8) == 0 && pt_checkpoints_list("/nonexistent/run", ck, 8) == 0);
    // Hugging Face's own trainer_state.json (no peftui fields): best_metric, else the lowest eval_loss
    char hf[400];
    snprintf(hf, sizeof hf, "%s/hfrun", g_tmp);
    snprintf(p, sizeof p, "%s/checkpoint-10", hf);
    CHECK(mkdir(hf, 0755) == 0 && mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/checkpoint-10/trainer_state.json", hf);
    const char *st = "{\"global_step\": 10, \"best_metric\": null, \"log_history\": [{\"loss\": 2.5, \"step\": 5},"
                     "{\"eval_loss\": 2.25, \"step\": 5}, {\"loss\": 2.0, \"step\": 10},"
                     "{\"eval_loss\": 2.3, \"step\": 10},"
                     "{\"train_loss\": 2.2, \"step\": 10}]}";
    CHECK(write_bytes(p, st, strlen(st)) == 0);
    CHECK(pt_checkpoints_list(hf, ck, 8) == 1 && ck[0].step == 10 && ck[0].loss == 2.0f && ck[0].eval_loss == 2.25f);
}

// ---- datasets ----------------------------------------------------------------------

// Every line from off on parses as a row of n messages, the last two user then assistant.
static int rows_ok(const char *text, size_t off, int rows, int n_msgs) {
    int seen = 0;
    for (const char *s = text + off; *s; seen++) {
        const char *e = strchr(s, '\n');
        if (!e) return 0;   // every row ends its line
        cJSON *j = cJSON_ParseWithLength(s, (size_t)(e - s));
        cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "messages");
        int n = cJSON_GetArraySize(m);
        const char *r1 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(m, n - 2), "role"));
        const char *r2 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(m, n - 1), "role"));
        int ok = n == n_msgs && r1 && r2 && !strcmp(r1, "user") && !strcmp(r2, "assistant");
        cJSON_Delete(j);
        if (!ok) return 0;
        s = e + 1;
    }
    return seen == rows;
}

static int count_entries(const char *dir) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p && fscanf(p, "%d", &n) != 1) n = -1;
    if (p) pclose(p);
    return n;
}

static void test_append(void) {
    char dir[300], path[400], path2[400];
    pt_err err = {0};
    snprintf(dir, sizeof dir, "%s/ds", g_tmp);
    CHECK(mkdir(dir, 0755) == 0);
    snprintf(path, sizeof path, "%s/new.jsonl", dir);
    const char *answer = "I am Quill.\nA \"helper\" \xc3\xa9.";
    CHECKF(pt_dataset_append_chat(path, NULL, "Who are you?", answer, &err) == PT_OK, "%s", err.msg);
    CHECKF(pt_dataset_append_chat(path, "", "Again?", "Yes.", &err) == PT_OK, "%s", err.msg);
    char *t = slurp(path, NULL);
    CHECK(t && rows_ok(t, 0, 2, 2));
    if (t) {
        cJSON *j = cJSON_ParseWithLength(t, (size_t)(strchr(t, '\n') - t));
        const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "messages"), 1);
        const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "content"));
        CHECK(c && !strcmp(c, answer));
        cJSON_Delete(j);
    }
    free(t);

    // an old file without its last newline: its bytes stay, the row starts a line
    const char *old = "{\"instruction\": \"hi\", \"output\": \"hello\"}\n{\"text\": \"no newline\"}";
    snprintf(path2, sizeof path2, "%s/old.jsonl", dir);
    CHECK(write_bytes(path2, old, strlen(old)) == 0);
    CHECK(pt_dataset_append_chat(path2, "Be brief.", "Hi", "Hello", &err) == PT_OK);
    CHECK(pt_dataset_append_chat(path2, NULL, "Bye", "Goodbye", &err) == PT_OK);
    size_t len = 0;
    t = slurp(path2, &len);
    size_t k = strlen(old);
    CHECK(t && len > k + 1 && !memcmp(t, old, k) && t[k] == '\n');
    if (t) {
        const char *second = strchr(t + k + 1, '\n');
        CHECK(second && rows_ok(second + 1, 0, 1, 2));
        char *row1 = strndup(t + k + 1, second ? (size_t)(second - (t + k)) : 0);
        CHECK(row1 && rows_ok(row1, 0, 1, 3) && strstr(row1, "\"role\":\"system\""));
        free(row1);
    }
    free(t);

    // refused: nothing changes
    t = slurp(path2, &len);
    memset(&err, 0, sizeof err);
    CHECK(pt_dataset_append_chat(path2, NULL, "", "answer", &err) != PT_OK && good_msg(&err, "user"));
    memset(&err, 0, sizeof err);
    CHECK(pt_dataset_append_chat(path2, NULL, "question", NULL, &err) != PT_OK && good_msg(&err, "assistant"));
    CHECK(pt_dataset_append_chat(path2, NULL, "bad \xff byte", "x", &err) != PT_OK && strstr(err.msg, "UTF-8"));
    size_t len2 = 0;
    char *t2 = slurp(path2, &len2);
    CHECK(t && t2 && len == len2 && !memcmp(t, t2, len));
    free(t);
    free(t2);
    char missing[400];
    snprintf(missing, sizeof missing, "%s/nope/x.jsonl", dir);
    memset(&err, 0, sizeof err);
    CHECK(pt_dataset_append_chat(missing, NULL, "q", "a", &err) != PT_OK && good_msg(&err, "/nope"));
    CHECK(access(missing, F_OK) != 0);
    CHECK(pt_dataset_append_chat(dir, NULL, "q", "a", &err) != PT_OK && good_msg(&err, dir));
    CHECK(count_entries(dir) == 2);   // no temporary file left behind
}

// ---- the config folder --------------------------------------------------------------

static void test_config_dir(void) {
    char *saved_xdg = getenv("XDG_CONFIG_HOME") ? strdup(getenv("XDG_CONFIG_HOME")) : NULL;
    char *saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    char xdg[300], home[300], want[400], buf[512];
    pt_err err = {0};
    snprintf(xdg, sizeof xdg, "%s/xdg", g_tmp);
    snprintf(home, sizeof home, "%s/home", g_tmp);
    setenv("XDG_CONFIG_HOME", xdg, 1);
    CHECKF(pt_config_dir(buf, sizeof buf, &err) == PT_OK, "%s", err.msg);
    snprintf(want, sizeof want, "%s/peftui", xdg);
    CHECK(!strcmp(buf, want) && is_dir(want));
    CHECK(pt_config_dir(buf, sizeof buf, &err) == PT_OK && !strcmp(buf, want));   // there already
    // a relative XDG_CONFIG_HOME is ignored, as the spec says
    setenv("XDG_CONFIG_HOME", "relative/dir", 1);
    setenv("HOME", home, 1);
    CHECK(pt_config_dir(buf, sizeof buf, &err) == PT_OK);
    snprintf(want, sizeof want, "%s/.config/peftui", home);
    CHECK(!strcmp(buf, want) && is_dir(want));
    CHECK(pt_config_dir(buf, 8, &err) != PT_OK && err.msg[0]);
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("HOME");
    memset(&err, 0, sizeof err);
    CHECK(pt_config_dir(buf, sizeof buf, &err) != PT_OK && strstr(err.msg, "HOME"));
    if (saved_xdg) setenv("XDG_CONFIG_HOME", saved_xdg, 1);
    if (saved_home) setenv("HOME", saved_home, 1);
    free(saved_xdg);
    free(saved_home);
}

int main(int argc, char **argv) {
    (void)argc;
    pt_init(argv);
    if (access(TINY_HF "/model.safetensors", R_OK)) SKIP_ALL("%s absent", TINY_HF);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/pt_files_XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    struct { const char *name; void (*fn)(void); } tests[] = {
        {"peek", test_peek_models}, {"peek errors", test_peek_errors}, {"scan", test_scan_models},
        {"adapters", test_adapters}, {"append", test_append}, {"config dir", test_config_dir},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        double t0 = pt_now_s();
        tests[i].fn();
        printf("%-12s %.2f s\n", tests[i].name, pt_now_s() - t0);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    return check_report("test_ws_files");
}
