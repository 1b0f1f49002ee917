// test_gguf.c - the GGUF reader: metadata of every value type on the tiny
// files, the shipped SmolLM2 file when present, and robustness: truncated and
// byte-flipped copies of a tiny file must give a clean one-line error, never
// a crash or a tensor pointer outside the file.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "io/gguf.h"

#define TINY PT_SOURCE_DIR "/tests/data/tiny/"
#define REAL PT_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint32_t rng_u32(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
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

static void spill(const char *path, const unsigned char *b, size_t n) {
    unlink(path); // a new file, not a truncated one: ext4 flushes those on close
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    if (n && fwrite(b, 1, n, f) != n)
        exit(2);
    fclose(f);
}

static int has(const char *s, const char *sub) {
    return strstr(s, sub) != NULL;
}

static int64_t get_i(const gguf_file *g, const char *key) {
    int64_t v = -12345;
    int found = 0;
    pt_err e = {0};
    if (gguf_get_i64(g, key, &v, &found, &e) || !found)
        return -12345;
    return v;
}

static void test_tiny_metadata(void) {
    gguf_file g;
    pt_err e = {0};
    int rc = gguf_open(&g, TINY "llama-f32.gguf", &e);
    CHECKF(rc == PT_OK, "%s", e.msg);
    if (rc)
        return;
    CHECK(g.version == 3);
    CHECK(g.n_tensors == 20); // token_embd, 2 x 9 per layer, output_norm (tied)
    CHECK(g.alignment == 32);
    char s[64];
    int found = 0;
    CHECK(gguf_get_str(&g, "general.architecture", s, sizeof s, &found, &e) == PT_OK && found && !strcmp(s, "llama"));
    CHECK(get_i(&g, "peftui.test.u8") == 200);
    CHECK(get_i(&g, "peftui.test.i8") == -100);
    CHECK(get_i(&g, "peftui.test.u16") == 60000);
    CHECK(get_i(&g, "peftui.test.i16") == -30000);
    CHECK(get_i(&g, "peftui.test.u32") == 4000000000ll);
    CHECK(get_i(&g, "peftui.test.i32") == -2000000000ll);
    CHECK(get_i(&g, "peftui.test.bool") == 1);
    CHECK(get_i(&g, "peftui.test.u64") == 10000000000ll);
    CHECK(get_i(&g, "peftui.test.i64") == -10000000000ll);
    CHECK(get_i(&g, "peftui.test.after") == 7); // read past both nested arrays
    CHECK(get_i(&g, "llama.block_count") == 2);
    double d = 0;
    CHECK(gguf_get_f64(&g, "peftui.test.f32", &d, &found, &e) == PT_OK && found && d == 1.5);
    CHECK(gguf_get_f64(&g, "peftui.test.f64", &d, &found, &e) == PT_OK && found && d == -2.25);
    CHECK(gguf_get_f64(&g, "llama.rope.freq_base", &d, &found, &e) == PT_OK && d == 10000.0);
    CHECK(gguf_get_str(&g, "peftui.test.str", s, sizeof s, &found, &e) == PT_OK && !strcmp(s, "h\xc3\xa9llo"));
    CHECK(gguf_get_str(&g, "peftui.test.str", s, 3, &found, &e) == PT_OK && !strcmp(s, "h\xc3")); // truncated copy

    // wrong types and absent keys
    int64_t v;
    CHECK(gguf_get_i64(&g, "peftui.test.str", &v, &found, &e) == PT_ERR_FORMAT && found);
    CHECK(has(e.msg, "peftui.test.str") && has(e.msg, "llama-f32.gguf"));
    CHECK(gguf_get_i64(&g, "peftui.test.f32", &v, &found, &e) == PT_ERR_FORMAT);
    CHECK(gguf_get_str(&g, "peftui.test.u8", s, sizeof s, &found, &e) == PT_ERR_FORMAT);
    CHECK(gguf_get_f64(&g, "peftui.test.str", &d, &found, &e) == PT_ERR_FORMAT);
    CHECK(gguf_get_i64(&g, "no.such.key", &v, &found, &e) == PT_OK && !found);
    CHECK(gguf_find_kv(&g, "no.such.key") == NULL);

    // arrays
    const gguf_kv *kv = gguf_find_kv(&g, "peftui.test.arr_i16");
    CHECK(kv && kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_INT16 && kv->arr_len == 3);
    if (kv)
    {
        int64_t a0, a1, a2, a3;
        CHECK(gguf_arr_i64(kv, 0, &a0) && gguf_arr_i64(kv, 1, &a1) && gguf_arr_i64(kv, 2, &a2));
        CHECK(a0 == 1 && a1 == -2 && a2 == 3);
        CHECK(!gguf_arr_i64(kv, 3, &a3) && a3 == 0); // past the end
    }
    kv = gguf_find_kv(&g, "peftui.test.arr_f32");
    CHECK(kv && kv->arr_type == GGUF_TYPE_FLOAT32 && kv->arr_len == 2);
    if (kv) {
        int64_t a;
        CHECK(gguf_arr_f64(kv, 0) == 0.5 && gguf_arr_f64(kv, 1) == 0.25);
        CHECK(!gguf_arr_i64(kv, 0, &a)); // 0.5 is not a whole number
    }
    kv = gguf_find_kv(&g, "peftui.test.nested");
    CHECK(kv && kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_ARRAY && kv->arr_len == 2);
    kv = gguf_find_kv(&g, "peftui.test.nested_str");
    CHECK(kv && kv->arr_type == GGUF_TYPE_ARRAY && kv->arr_len == 2);
    kv = gguf_find_kv(&g, "tokenizer.ggml.tokens");
    CHECK(kv && kv->arr_type == GGUF_TYPE_STRING && kv->arr_len == 300 && kv->arr_str);
    if (kv && kv->arr_str && kv->arr_len == 300) {
        CHECK(gguf_str_eq(kv->arr_str[0], "<|endoftext|>"));
        CHECK(gguf_str_eq(kv->arr_str[1], "<|im_start|>"));
        CHECK(gguf_str_eq(kv->arr_str[2], "<|im_end|>"));
    }
    kv = gguf_find_kv(&g, "tokenizer.ggml.token_type");
    CHECK(kv && kv->arr_type == GGUF_TYPE_INT32 && kv->arr_len == 300);
    if (kv && kv->arr_len == 300) {
        int64_t t1, t100;
        CHECK(gguf_arr_i64(kv, 1, &t1) && gguf_arr_i64(kv, 100, &t100));
        CHECK(t1 == 3 && t100 == 1); // control, normal
    }

    // tensors: shape is ne[] (fastest first), data inside the file
    const gguf_tensor *t = gguf_find_tensor(&g, "token_embd.weight");
    CHECK(t && t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 300 && t->ne[2] == 1 && t->type == GGML_TYPE_F32);
    CHECK(t && t->nbytes == 64 * 300 * 4);
    t = gguf_find_tensor(&g, "blk.1.ffn_down.weight");
    CHECK(t && t->ne[0] == 128 && t->ne[1] == 64);
    t = gguf_find_tensor(&g, "blk.0.attn_norm.weight");
    CHECK(t && t->n_dims == 1 && t->ne[0] == 64 && t->ne[1] == 1);
    CHECK(gguf_find_tensor(&g, "output.weight") == NULL);
    int inside = 1;
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const gguf_tensor *u = &g.tensors[i];
        inside &= u->data >= g.base && u->data + u->nbytes <= g.base + g.size && u->offset % 32 == 0;
    }
    CHECK(inside);
    gguf_close(&g);
}

// Float array elements read as integers: only whole numbers inside int64.
// A fuzzed token_type of -3.6e250 once reached a bare (int64_t) cast.
static void test_arr_i64_floats(void) {
    const double vals[] = {3.0, -3.6e250, NAN, 1.5, 0x1p63, -0x1p63, INFINITY, -7.0};
    const int ok[] = {1, 0, 0, 0, 0, 1, 0, 1};
    unsigned char raw[sizeof vals];
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        uint64_t b;
        memcpy(&b, &vals[i], 8);
        for (int k = 0; k < 8; k++)
            raw[i * 8 + k] = (unsigned char)(b >> (8 * k)); // little-endian, as in the file
    }
    gguf_kv kv = {.type = GGUF_TYPE_ARRAY, .arr_type = GGUF_TYPE_FLOAT64,
                  .arr_len = sizeof vals / sizeof vals[0], .val = raw};
    for (size_t i = 0; i < kv.arr_len; i++) {
        int64_t v = 99;
        int got = gguf_arr_i64(&kv, i, &v);
        CHECKF(got == ok[i], "element %zu (%g): %d", i, vals[i], got);
        if (got)
            CHECKF((double)v == vals[i], "element %zu: %lld", i, (long long)v);
    }
}

static void test_tiny_quant_files(void) {
    gguf_file g;
    pt_err e = {0};
    int rc = gguf_open(&g, TINY "llama-q8_0.gguf", &e);
    CHECKF(rc == PT_OK, "%s", e.msg);
    if (!rc) {
        CHECK(g.alignment == 64);
        const gguf_tensor *t = gguf_find_tensor(&g, "blk.0.attn_q.weight");
        CHECK(t && t->type == GGML_TYPE_Q8_0 && t->nbytes == 64 * 64 / 32 * 34);
        CHECK(t && (uint64_t)(t->data - g.base) % 64 == 0);
        gguf_close(&g);
    }
    rc = gguf_open(&g, TINY "llama-q4_1.gguf", &e);
    CHECKF(rc == PT_OK, "%s", e.msg);
    if (!rc) {
        const gguf_tensor *t = gguf_find_tensor(&g, "blk.1.ffn_up.weight");
        CHECK(t && t->type == GGML_TYPE_Q4_1 && t->nbytes == 128 * 64 / 32 * 20);
        t = gguf_find_tensor(&g, "token_embd.weight");
        CHECK(t && t->type == GGML_TYPE_Q8_0);
        gguf_close(&g);
    }
    rc = gguf_open(&g, TINY "q4k-tensor.gguf", &e); // parses; refused later by model_load
    CHECKF(rc == PT_OK, "%s", e.msg);
    if (!rc) {
        const gguf_tensor *t = gguf_find_tensor(&g, "blk.0.attn_q.weight");
        CHECK(t && t->type == GGML_TYPE_Q4_K && t->nbytes == 144);
        CHECK(!strcmp(ggml_type_name(GGML_TYPE_Q4_K), "Q4_K"));
        gguf_close(&g);
    }
    CHECK(!strcmp(ggml_type_name(GGML_TYPE_BF16), "BF16") && !strcmp(ggml_type_name((ggml_type)99), "type#99"));
}

static void test_real_model(void) {
    if (access(REAL, R_OK) != 0) {
        printf("note: %s absent, real-model checks skipped\n", REAL);
        return;
    }
    gguf_file g;
    pt_err e = {0};
    int rc = gguf_open(&g, REAL, &e);
    CHECKF(rc == PT_OK, "%s", e.msg);
    if (rc)
        return;
    CHECK(g.version == 3 && g.n_tensors == 272 && g.n_kv == 33);
    CHECK(get_i(&g, "llama.block_count") == 30);
    CHECK(get_i(&g, "llama.embedding_length") == 576);
    CHECK(get_i(&g, "llama.feed_forward_length") == 1536);
    CHECK(get_i(&g, "llama.attention.head_count") == 9);
    CHECK(get_i(&g, "llama.attention.head_count_kv") == 3);
    CHECK(get_i(&g, "tokenizer.ggml.bos_token_id") == 1);
    CHECK(get_i(&g, "tokenizer.ggml.eos_token_id") == 2);
    CHECK(get_i(&g, "tokenizer.ggml.add_bos_token") == 0);
    double d = 0;
    int found = 0;
    CHECK(gguf_get_f64(&g, "llama.rope.freq_base", &d, &found, &e) == PT_OK && d == 100000.0);
    char s[64];
    CHECK(gguf_get_str(&g, "tokenizer.ggml.pre", s, sizeof s, &found, &e) == PT_OK && !strcmp(s, "smollm"));
    const gguf_kv *kv = gguf_find_kv(&g, "tokenizer.ggml.tokens");
    CHECK(kv && kv->arr_len == 49152 && gguf_str_eq(kv->arr_str[2], "<|im_end|>"));
    kv = gguf_find_kv(&g, "tokenizer.ggml.merges");
    CHECK(kv && kv->arr_len == 48900);
    const gguf_tensor *t = gguf_find_tensor(&g, "token_embd.weight");
    CHECK(t && t->type == GGML_TYPE_Q8_0 && t->ne[0] == 576 && t->ne[1] == 49152);
    t = gguf_find_tensor(&g, "blk.29.ffn_down.weight");
    CHECK(t && t->type == GGML_TYPE_Q4_1 && t->ne[0] == 1536 && t->ne[1] == 576);
    int n_q41 = 0, n_f32 = 0;
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        n_q41 += g.tensors[i].type == GGML_TYPE_Q4_1;
        n_f32 += g.tensors[i].type == GGML_TYPE_F32;
    }
    CHECK(n_q41 == 210 && n_f32 == 61);
    gguf_close(&g);
}

// ---- robustness ----------------------------------------------------------

static char tmpdir[64];

// Opens a mutated copy; on success touches every value and tensor byte range
// the API hands out. Returns the status; msg must be one non-empty line.
static int open_mutant(const unsigned char *b, size_t n, pt_err *e) {
    char path[128];
    snprintf(path, sizeof path, "%s/m.gguf", tmpdir);
    spill(path, b, n);
    gguf_file g;
    memset(e, 0, sizeof *e);
    int rc = gguf_open(&g, path, e);
    if (rc) {
        CHECKF(e->msg[0] && !strchr(e->msg, '\n') && has(e->msg, path), "bad message '%s'", e->msg);
        return rc;
    }
    volatile unsigned sum = 0;
    for (uint64_t i = 0; i < g.n_kv; i++) {
        const gguf_kv *kv = &g.kv[i];
        char key[256], s[32];
        int64_t v;
        double d;
        pt_err e2;
        snprintf(key, sizeof key, "%.*s", (int)(kv->key.len < 255 ? kv->key.len : 255), kv->key.ptr);
        if (strlen(key) != kv->key.len)
            continue; // a key with a NUL inside cannot be asked for by name
        gguf_get_i64(&g, key, &v, NULL, &e2);
        gguf_get_f64(&g, key, &d, NULL, &e2);
        gguf_get_str(&g, key, s, sizeof s, NULL, &e2);
        if (kv->type == GGUF_TYPE_ARRAY) {
            for (uint64_t j = 0; j < kv->arr_len && j < 64; j++) {
                int64_t iv;
                double dv = gguf_arr_f64(kv, j);
                sum += gguf_arr_i64(kv, j, &iv) ? (unsigned)iv : 0;
                sum += isfinite(dv) ? (unsigned)(dv != 0) : 1;
                if (kv->arr_str)
                    sum += kv->arr_str[j].len ? (unsigned char)kv->arr_str[j].ptr[kv->arr_str[j].len - 1] : 0;
            }
        }
    }
    int inside = 1;
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        const gguf_tensor *t = &g.tensors[i];
        inside &= t->data >= g.base && t->nbytes <= g.size && t->data + t->nbytes <= g.base + g.size;
        if (t->nbytes)
            sum += t->data[0] + t->data[t->nbytes - 1];
    }
    CHECK(inside);
    (void)sum;
    gguf_close(&g);
    return rc;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void test_robustness(void) {
    const char *src = TINY "llama-q8_0.gguf"; // alignment 64, every kind of section
    size_t n = 0;
    unsigned char *orig = slurp(src, &n), *b = malloc(n);
    gguf_file g;
    pt_err e;
    if (!orig || !b || gguf_open(&g, src, &e)) {
        CHECKF(0, "cannot read %s", src);
        free(orig);
        free(b);
        return;
    }
    // data section start, and where each tensor's info sits
    size_t data_start = n;
    for (uint64_t i = 0; i < g.n_tensors; i++)
        if ((size_t)(g.tensors[i].data - g.base) < data_start)
            data_start = (size_t)(g.tensors[i].data - g.base);
    size_t ti0 = (size_t)(g.tensors[0].name.ptr - (const char *)g.base); // first tensor name
    size_t ti1 = (size_t)(g.tensors[1].name.ptr - (const char *)g.base);
    uint64_t len0 = g.tensors[0].name.len;
    size_t kv0 = (size_t)(g.kv[0].key.ptr - (const char *)g.base);
    const gguf_kv *al = gguf_find_kv(&g, "general.alignment");
    size_t al_off = al ? (size_t)(al->val - g.base) : 0;
    const gguf_kv *tok = gguf_find_kv(&g, "tokenizer.ggml.tokens");
    size_t tok_cnt = tok ? (size_t)(tok->val - g.base) - 8 : 0; // the array's u64 count
    gguf_close(&g);

    // 1. every truncation inside the metadata, then a stride through the data
    int ok_trunc = 1, n_trunc = 0;
    for (size_t len = 0; len < n; len += len < data_start + 256 ? 1 : 509) {
        ok_trunc &= open_mutant(orig, len, &e) == PT_ERR_FORMAT;
        n_trunc++;
    }
    CHECKF(ok_trunc, "a truncated file was accepted or gave the wrong code");
    CHECK(open_mutant(orig, n, &e) == PT_OK);
    CHECK(gguf_open(&g, "/nonexistent/x.gguf", &e) == PT_ERR_IO && has(e.msg, "/nonexistent/x.gguf"));
    CHECK(gguf_open(&g, tmpdir, &e) == PT_ERR_IO && has(e.msg, "directory"));

    // 2. targeted faults, each with its message
    struct {
        const char *what, *expect;
        size_t off;
        int width; // 4 or 8
        uint64_t val;
        int code;
    } cases[] = {
        {"bad magic", "bad magic", 0, 4, 0x46554746, PT_ERR_FORMAT},
        {"version 2 is read too", "", 4, 4, 2, PT_OK},
        {"version 1", "version 1", 4, 4, 1, PT_ERR_UNSUPPORTED},
        {"version 9", "version 9", 4, 4, 9, PT_ERR_FORMAT},
        {"big-endian", "big-endian", 4, 4, 0x03000000, PT_ERR_UNSUPPORTED},
        {"huge n_tensors", "more than the file holds", 8, 8, UINT64_MAX, PT_ERR_FORMAT},
        {"huge n_kv", "more than the file holds", 16, 8, UINT64_MAX / 13, PT_ERR_FORMAT},
        {"huge key length", "runs past end of file", kv0 - 8, 8, UINT64_MAX, PT_ERR_FORMAT},
        {"huge array count", "runs past end of file", tok_cnt, 8, UINT64_MAX / 4, PT_ERR_FORMAT},
        {"array count off by one", "", tok_cnt, 8, 301, PT_ERR_FORMAT},
        {"n_dims 5", "dimensions", ti0 + len0, 4, 5, PT_ERR_FORMAT},
        {"huge name length", "runs past end of file", ti0 - 8, 8, (uint64_t)1 << 62, PT_ERR_FORMAT},
        {"overflowing shape", "impossible shape", ti0 + len0 + 4 + 8, 8, (uint64_t)1 << 62, PT_ERR_FORMAT},
        {"huge row", "runs past end of file", ti0 + len0 + 4, 8, (uint64_t)1 << 40, PT_ERR_FORMAT},
        {"unknown tensor type", "unknown type 99", ti0 + len0 + 4 + 16, 4, 99, PT_ERR_UNSUPPORTED},
        {"partial block", "not a multiple", ti0 + len0 + 4, 8, 63, PT_ERR_FORMAT},
        {"misaligned offset", "not aligned", ti0 + len0 + 4 + 16 + 4, 8, 32, PT_ERR_FORMAT},
        {"offset past end", "runs past end of file", ti0 + len0 + 4 + 16 + 4, 8, (uint64_t)1 << 40, PT_ERR_FORMAT},
        {"offset wraps", "runs past end of file", ti0 + len0 + 4 + 16 + 4, 8, UINT64_MAX - 63, PT_ERR_FORMAT},
        {"alignment 48", "power of two", al_off, 4, 48, PT_ERR_FORMAT},
        {"alignment 0", "power of two", al_off, 4, 0, PT_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(b, orig, n);
        if (cases[i].width == 4)
            put_u32(b + cases[i].off, (uint32_t)cases[i].val);
        else
            put_u64(b + cases[i].off, cases[i].val);
        int rc = open_mutant(b, n, &e);
        CHECKF(rc == cases[i].code && has(e.msg, cases[i].expect), "%s: rc %d, '%s'", cases[i].what, rc, e.msg);
    }
    // a second tensor given the first one's name
    memcpy(b, orig, n);
    {
        uint64_t len1 = 0;
        for (int k = 7; k >= 0; k--)
            len1 = len1 << 8 | orig[ti1 - 8 + (size_t)k];
        if (len1 == len0) {
            memcpy(b + ti1, orig + ti0, len0);
            int rc = open_mutant(b, n, &e);
            CHECKF(rc == PT_ERR_FORMAT && has(e.msg, "duplicate tensor name"), "duplicate: '%s'", e.msg);
        }
    }

    // 3. random byte flips in the metadata and tensor table
    int n_ok = 0, n_fail = 0;
    for (int it = 0; it < 2000; it++) {
        memcpy(b, orig, n);
        int flips = 1 + (int)(rng_u32() % 4);
        for (int f = 0; f < flips; f++) {
            size_t at = rng_u32() % data_start;
            uint32_t r = rng_u32();
            b[at] = r & 256 ? (unsigned char)r : (unsigned char)(b[at] ^ (1u << (r % 8)));
        }
        if (open_mutant(b, n, &e) == PT_OK)
            n_ok++;
        else
            n_fail++;
    }
    printf("truncations %d; random mutants: %d opened, %d refused\n", n_trunc, n_ok, n_fail);
    CHECK(n_fail > 0);
    free(orig);
    free(b);
}

int main(void) {
    if (access(TINY "llama-f32.gguf", R_OK) != 0)
        SKIP_ALL("tiny models absent: run /opt/ref/bin/python tests/reference/make_tiny_models.py");
    snprintf(tmpdir, sizeof tmpdir, "/dev/shm/pt_gguf_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/pt_gguf_XXXXXX");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            return 2;
        }
    }
    test_tiny_metadata();
    test_arr_i64_floats();
    test_tiny_quant_files();
    test_real_model();
    test_robustness();
    char path[128];
    snprintf(path, sizeof path, "%s/m.gguf", tmpdir);
    unlink(path);
    rmdir(tmpdir);
    return check_report("test_gguf");
}
