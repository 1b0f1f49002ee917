// test_safetensors.c - the safetensors reader on the tiny HF models (single
// and sharded), hand-made broken files, truncated and byte-flipped copies,
// broken shard indexes, and the F32 writer's round trip.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "io/safetensors.h"

#define TINY PT_SOURCE_DIR "/tests/data/tiny/"

static char tmpdir[64];

static uint64_t rng_state = 0x853c49e6748fea9bull;
static uint32_t rng_u32(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static int has(const char *s, const char *sub) {
    return strstr(s, sub) != NULL;
}

static void tmp_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static void spill(const char *path, const void *b, size_t n) {
    unlink(path);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(b, 1, n, f) != n)) {
        perror(path);
        exit(2);
    }
    fclose(f);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n ? *n : 1);
    if (b && fread(b, 1, *n, f) != *n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

// A file of u64 header length, the header text, then n_data bytes (0..255).
static void make_st(const char *path, uint64_t hlen_override, const char *header, size_t n_data) {
    size_t hl = strlen(header);
    unsigned char *b = calloc(1, 8 + hl + n_data + 1);
    uint64_t hlen = hlen_override ? hlen_override : hl;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + 8, header, hl);
    for (size_t i = 0; i < n_data; i++)
        b[8 + hl + i] = (unsigned char)i;
    spill(path, b, 8 + hl + n_data);
    free(b);
}

static int open_expect(const char *header, uint64_t hlen, size_t n_data, int code, const char *expect) {
    char path[128];
    tmp_path(path, sizeof path, "x.safetensors");
    make_st(path, hlen, header, n_data);
    st_file f;
    pt_err e = {0};
    int rc = st_open(&f, path, &e);
    int ok = rc == code && (rc == PT_OK || (has(e.msg, expect) && has(e.msg, path) && !strchr(e.msg, '\n')));
    if (!ok)
        fprintf(stderr, "  header %.60s: rc %d, '%s' (wanted '%s')\n", header, rc, e.msg, expect);
    if (!rc)
        st_close(&f);
    return ok;
}

static void test_tiny(void) {
    st_file f;
    pt_err e = {0};
    int rc = st_open(&f, TINY "llama-hf/model.safetensors", &e);
    CHECKF(rc == PT_OK, "%s", e.msg);
    if (rc)
        return;
    CHECK(f.n_tensors == 20); // tied: no lm_head
    const st_tensor *t = st_find(&f, "model.embed_tokens.weight");
    CHECK(t && t->dtype == ST_F32 && !strcmp(t->dtype_name, "F32") && t->n_dims == 2 &&
          t->shape[0] == 300 && t->shape[1] == 64 && t->nbytes == 300 * 64 * 4);
    t = st_find(&f, "model.layers.1.mlp.down_proj.weight");
    CHECK(t && t->shape[0] == 64 && t->shape[1] == 128);
    t = st_find(&f, "model.norm.weight");
    CHECK(t && t->n_dims == 1 && t->shape[0] == 64);
    CHECK(st_find(&f, "lm_head.weight") == NULL && st_find(&f, "") == NULL && st_find(&f, "zzz") == NULL);
    CHECK(f.metadata_json && has(f.metadata_json, "\"format\""));

    // the sharded copy holds the same bytes
    st_set s;
    rc = st_set_open_dir(&s, TINY "llama-hf-sharded", &e);
    CHECKF(rc == PT_OK, "%s", e.msg);
    if (!rc) {
        CHECK(s.n_files == 4);
        int same = 1, total = 0;
        for (int i = 0; i < f.n_tensors; i++) {
            const st_tensor *a = &f.tensors[i], *b = st_set_find(&s, a->name);
            same &= b && b->nbytes == a->nbytes && !memcmp(a->data, b->data, a->nbytes);
        }
        for (int i = 0; i < s.n_files; i++)
            total += s.files[i].n_tensors;
        CHECK(same && total == 20);
        st_set_close(&s);
    }
    rc = st_set_open_dir(&s, TINY "llama-hf-bf16", &e);
    CHECKF(rc == PT_OK, "%s", e.msg);
    if (!rc) {
        t = st_set_find(&s, "model.embed_tokens.weight");
        CHECK(s.n_files == 1 && t && t->dtype == ST_BF16 && t->nbytes == 300 * 64 * 2);
        st_set_close(&s);
    }
    st_close(&f);
}

static void test_broken_files(void) {
    pt_err e = {0};
    st_file f;
    char path[128];
    tmp_path(path, sizeof path, "short.safetensors");
    spill(path, "\x10\0\0", 3);
    CHECK(st_open(&f, path, &e) == PT_ERR_FORMAT && has(e.msg, "too short"));
    spill(path, "", 0);
    CHECK(st_open(&f, path, &e) == PT_ERR_FORMAT && has(e.msg, "too short"));
    CHECK(st_open(&f, tmpdir, &e) == PT_ERR_IO && has(e.msg, "directory"));
    CHECK(st_open(&f, "/nonexistent/x.safetensors", &e) == PT_ERR_IO && has(e.msg, "/nonexistent/x.safetensors"));

    const char *ok1 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    CHECK(open_expect(ok1, 0, 8, PT_OK, ""));
    CHECK(open_expect(ok1, 0, 7, PT_ERR_FORMAT, "outside the data section"));
    CHECK(open_expect(ok1, 200000000, 8, PT_ERR_FORMAT, "100 MB"));
    CHECK(open_expect(ok1, 5000, 8, PT_ERR_FORMAT, "runs past end of file"));
    CHECK(open_expect(ok1, UINT64_MAX, 8, PT_ERR_FORMAT, "100 MB"));
    CHECK(open_expect("{\"a\":", 0, 0, PT_ERR_FORMAT, "not valid JSON"));
    CHECK(open_expect("{} x", 0, 0, PT_ERR_FORMAT, "not valid JSON"));
    CHECK(open_expect("{}    ", 0, 0, PT_OK, ""));                       // space padding is fine
    CHECK(open_expect("[1,2]", 0, 0, PT_ERR_FORMAT, "not a JSON object"));
    CHECK(open_expect("{\"a\":1}", 0, 0, PT_ERR_FORMAT, "not an object"));
    CHECK(open_expect("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8, PT_ERR_FORMAT, "lacks dtype"));
    CHECK(open_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 0, 8, PT_ERR_FORMAT, "outside"));
    CHECK(open_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 0, 12, PT_ERR_FORMAT, "need 12"));
    CHECK(open_expect("{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", 0, 8, PT_OK, ""));
    CHECK(open_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 0, 8, PT_ERR_FORMAT, "bad shape"));
    CHECK(open_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 0, 8, PT_ERR_FORMAT, "bad shape"));
    CHECK(open_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 0, 8, PT_ERR_FORMAT, "bad shape"));
    CHECK(open_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.5,8]}}", 0, 8, PT_ERR_FORMAT, "bad data_offsets"));
    CHECK(open_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 0, 8, PT_ERR_FORMAT, "bad data_offsets"));
    CHECK(open_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e300]}}", 0, 8, PT_ERR_FORMAT, "bad data_offsets"));
    CHECK(open_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 0, 8, PT_ERR_FORMAT, "dimensions"));
    CHECK(open_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}",
                      0, 8, PT_ERR_FORMAT, "impossible shape"));
    CHECK(open_expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 0, 8, PT_ERR_FORMAT, "duplicate tensor name a"));
    CHECK(open_expect("{\"__metadata__\":[1],\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 0, 4, PT_ERR_FORMAT, "__metadata__"));
    CHECK(open_expect("{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 0, 4, PT_OK, ""));

    // other dtypes: known sizes are checked, unknown ones only range-checked
    tmp_path(path, sizeof path, "x.safetensors");
    make_st(path, 0, "{\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                     "\"f4\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[8,10]},"
                     "\"z\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[10,10]}}", 10);
    int rc = st_open(&f, path, &e);
    CHECKF(rc == PT_OK, "%s", e.msg);
    if (!rc) {
        const st_tensor *t = st_find(&f, "i"), *u = st_find(&f, "f4"), *z = st_find(&f, "z");
        CHECK(t && t->dtype == ST_I64 && u && u->dtype == ST_OTHER && !strcmp(u->dtype_name, "F4"));
        CHECK(z && z->nbytes == 0 && z->n_dims == 2);
        CHECK(f.n_tensors == 3 && f.metadata_json == NULL);
        st_close(&f);
    }
}

static void test_mutants(void) {
    size_t n = 0;
    unsigned char *orig = slurp(TINY "llama-hf/model.safetensors", &n), *b = malloc(n);
    if (!orig || !b) {
        CHECK(0);
        free(orig);
        free(b);
        return;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | orig[i];
    char path[128];
    tmp_path(path, sizeof path, "m.safetensors");
    st_file f;
    pt_err e;
    int all_refused = 1, good_msgs = 1;
    for (size_t len = 0; len < n; len += len < 8 + hlen + 64 ? 1 : 997) {
        spill(path, orig, len);
        int rc = st_open(&f, path, &e);
        all_refused &= rc == PT_ERR_FORMAT;
        good_msgs &= rc != PT_OK && e.msg[0] && !strchr(e.msg, '\n');
        if (!rc)
            st_close(&f);
    }
    CHECKF(all_refused && good_msgs, "a truncated safetensors file was accepted or badly reported");
    int n_ok = 0, n_bad = 0, inside = 1;
    for (int it = 0; it < 1500; it++) {
        memcpy(b, orig, n);
        int flips = 1 + (int)(rng_u32() % 3);
        for (int k = 0; k < flips; k++) {
            size_t at = rng_u32() % (8 + hlen);
            uint32_t r = rng_u32();
            // bytes likely to change the JSON's meaning as well as random ones
            static const char pick[] = "0123456789,:[]{}\"-e. ";
            b[at] = r & 1 ? (unsigned char)pick[(r >> 1) % (sizeof pick - 1)] : (unsigned char)(r >> 8);
        }
        spill(path, b, n);
        if (st_open(&f, path, &e) == PT_OK) {
            n_ok++;
            const unsigned char *lo = NULL;
            for (int i = 0; i < f.n_tensors; i++) { // every range inside the file's data
                const st_tensor *t = &f.tensors[i];
                if (!lo || t->data < lo)
                    lo = t->data;
            }
            for (int i = 0; i < f.n_tensors; i++) {
                const st_tensor *t = &f.tensors[i];
                inside &= t->data >= lo && (size_t)(t->data - lo) + t->nbytes <= n;
            }
            st_close(&f);
        } else {
            n_bad++;
            good_msgs &= e.msg[0] && !strchr(e.msg, '\n');
        }
    }
    printf("random safetensors mutants: %d opened, %d refused\n", n_ok, n_bad);
    CHECK(inside && good_msgs && n_bad > 0);
    unlink(path);
    free(orig);
    free(b);
}

static void write_index(const char *dir, const char *json) {
    char path[256];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    spill(path, json, strlen(json));
}

static void test_index_errors(void) {
    char dir[128], path[256];
    pt_err e = {0};
    st_set s;
    tmp_path(dir, sizeof dir, "shards");
    mkdir(dir, 0755);
    CHECK(st_set_open_dir(&s, dir, &e) == PT_ERR_IO && has(e.msg, "no model.safetensors"));
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    make_st(path, 0, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);

    write_index(dir, "{\"weight_map\":{\"w\":\"a.safetensors\",\"v\":\"missing.safetensors\"}}");
    CHECK(st_set_open_dir(&s, dir, &e) == PT_ERR_IO && has(e.msg, "missing.safetensors"));
    write_index(dir, "{\"weight_map\":{\"w\":\"a.safetensors\",\"v\":\"a.safetensors\"}}");
    CHECK(st_set_open_dir(&s, dir, &e) == PT_ERR_FORMAT && has(e.msg, "tensor v") && has(e.msg, "does not hold"));
    write_index(dir, "{\"weight_map\":{\"w\":\"../a.safetensors\"}}");
    CHECK(st_set_open_dir(&s, dir, &e) == PT_ERR_FORMAT && has(e.msg, "bad file name"));
    write_index(dir, "{\"weight_map\":{\"w\":7}}");
    CHECK(st_set_open_dir(&s, dir, &e) == PT_ERR_FORMAT && has(e.msg, "bad file name"));
    write_index(dir, "{\"weight_map\":[]}");
    CHECK(st_set_open_dir(&s, dir, &e) == PT_ERR_FORMAT && has(e.msg, "weight_map"));
    write_index(dir, "{\"weight_map\":{}}");
    CHECK(st_set_open_dir(&s, dir, &e) == PT_ERR_FORMAT && has(e.msg, "names no files"));
    write_index(dir, "not json");
    CHECK(st_set_open_dir(&s, dir, &e) == PT_ERR_FORMAT && has(e.msg, "not valid JSON"));
    write_index(dir, "{\"metadata\":{},\"weight_map\":{\"w\":\"a.safetensors\"}}");
    int rc = st_set_open_dir(&s, dir, &e);
    CHECKF(rc == PT_OK, "%s", e.msg);
    if (!rc) {
        CHECK(s.n_files == 1 && st_set_find(&s, "w") && !st_set_find(&s, "v"));
        st_set_close(&s);
    }
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    unlink(path);
    rmdir(dir);
}

static void test_write(void) {
    char path[128], tmp[140];
    tmp_path(path, sizeof path, "w.safetensors");
    float a[6] = {1, 2, 3, 4, 5, -6.5f}, bv[3] = {0.25f, -0.0f, 1e-30f}, sc = 42;
    st_write_tensor ts[4] = {
        {"base_model.model.lora_A.weight", a, 2, {2, 3}},
        {"b", bv, 1, {3}},
        {"scalar", &sc, 0, {0}},
        {"empty", NULL, 2, {0, 5}},
    };
    pt_err e = {0};
    int rc = st_write_f32(path, ts, 4, "{\"format\":\"pt\",\"peftui\":\"test\"}", &e);
    CHECKF(rc == PT_OK, "%s", e.msg);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0); // renamed into place
    st_file f;
    rc = st_open(&f, path, &e);
    CHECKF(rc == PT_OK, "%s", e.msg);
    if (!rc) {
        const st_tensor *t = st_find(&f, "base_model.model.lora_A.weight");
        CHECK(t && t->dtype == ST_F32 && t->n_dims == 2 && t->shape[0] == 2 && t->shape[1] == 3 &&
              t->nbytes == 24 && !memcmp(t->data, a, 24));
        t = st_find(&f, "b");
        CHECK(t && t->n_dims == 1 && !memcmp(t->data, bv, 12));
        t = st_find(&f, "scalar");
        CHECK(t && t->n_dims == 0 && t->nbytes == 4 && !memcmp(t->data, &sc, 4));
        t = st_find(&f, "empty");
        CHECK(t && t->nbytes == 0 && t->shape[1] == 5);
        CHECK(f.metadata_json && has(f.metadata_json, "\"peftui\":\"test\""));
        st_close(&f);
    }
    size_t n = 0;
    unsigned char *raw = slurp(path, &n);
    uint64_t hlen = 0;
    for (int i = 7; raw && i >= 0; i--)
        hlen = hlen << 8 | raw[i];
    CHECK(raw && hlen % 8 == 0 && n == 8 + hlen + 24 + 12 + 4); // data 8-byte aligned, packed
    free(raw);

    // overwrite in place, no metadata
    rc = st_write_f32(path, ts + 1, 1, NULL, &e);
    CHECK(rc == PT_OK);
    if (!st_open(&f, path, &e)) {
        CHECK(f.n_tensors == 1 && f.metadata_json == NULL);
        st_close(&f);
    }
    // refusals
    st_write_tensor dup[2] = {{"x", a, 1, {2}}, {"x", a, 1, {2}}};
    CHECK(st_write_f32(path, dup, 2, NULL, &e) == PT_ERR_ARG && has(e.msg, "twice"));
    st_write_tensor meta[1] = {{"__metadata__", a, 1, {2}}};
    CHECK(st_write_f32(path, meta, 1, NULL, &e) == PT_ERR_ARG);
    st_write_tensor neg[1] = {{"n", a, 1, {-1}}};
    CHECK(st_write_f32(path, neg, 1, NULL, &e) == PT_ERR_ARG);
    CHECK(st_write_f32(path, ts, 1, "[1]", &e) == PT_ERR_ARG && has(e.msg, "metadata"));
    CHECK(st_write_f32(path, ts, 1, "{\"k\":1}", &e) == PT_ERR_ARG && has(e.msg, "not a string"));
    CHECK(st_write_f32("/nonexistent/dir/x.safetensors", ts, 1, NULL, &e) == PT_ERR_IO &&
          has(e.msg, "/nonexistent/dir/x.safetensors: cannot create"));
    unlink(path);
}

int main(void) {
    if (access(TINY "llama-hf/model.safetensors", R_OK) != 0)
        SKIP_ALL("tiny models absent: run /opt/ref/bin/python tests/reference/make_tiny_models.py");
    snprintf(tmpdir, sizeof tmpdir, "/dev/shm/pt_st_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/pt_st_XXXXXX");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            return 2;
        }
    }
    test_tiny();
    test_broken_files();
    test_mutants();
    test_index_errors();
    test_write();
    char path[128];
    const char *names[] = {"short.safetensors", "x.safetensors"};
    for (int i = 0; i < 2; i++) {
        tmp_path(path, sizeof path, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    return check_report("test_safetensors");
}
