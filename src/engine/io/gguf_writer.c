// gguf_writer.c - GGUF v3 out: header, key/values, tensor infos, padding to
// 32 bytes, tensor data each at a 32-byte aligned offset. Little-endian host.
#include "io/gguf_writer.h"
#include "core/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/gguf.h"

#define GGUF_ALIGN 32

void gguf_writer_init(gguf_writer *w) { memset(w, 0, sizeof *w); }

void gguf_writer_free(gguf_writer *w) {
    for (int i = 0; i < w->n_tensors; i++)
        free((void *)w->tensors[i].name);
    free(w->tensors);
    free(w->kv);
    memset(w, 0, sizeof *w);
}

static void put(gguf_writer *w, const void *p, size_t n) {
    if (w->nomem) return;
    if (w->kv_len + n > w->kv_cap) {
        size_t cap = w->kv_cap ? w->kv_cap : 256;
        while (cap < w->kv_len + n) cap *= 2;
        unsigned char *k = realloc(w->kv, cap);
        if (!k) { w->nomem = 1; return; }
        w->kv = k;
        w->kv_cap = cap;
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
}

static void put_u32(gguf_writer *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(gguf_writer *w, uint64_t v) { put(w, &v, 8); }
static void put_str(gguf_writer *w, const char *s) {
    put_u64(w, strlen(s));
    put(w, s, strlen(s));
}
static void put_key(gguf_writer *w, const char *key, gguf_value_type t) {
    put_str(w, key);
    put_u32(w, (uint32_t)t);
    w->n_kv++;
}

void gguf_writer_add_str(gguf_writer *w, const char *key, const char *val) {
    put_key(w, key, GGUF_TYPE_STRING);
    put_str(w, val);
}
void gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t val) {
    put_key(w, key, GGUF_TYPE_UINT32);
    put_u32(w, val);
}
void gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t val) {
    put_key(w, key, GGUF_TYPE_INT32);
    put(w, &val, 4);
}
void gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t val) {
    put_key(w, key, GGUF_TYPE_UINT64);
    put_u64(w, val);
}
void gguf_writer_add_f32(gguf_writer *w, const char *key, float val) {
    put_key(w, key, GGUF_TYPE_FLOAT32);
    put(w, &val, 4);
}
void gguf_writer_add_bool(gguf_writer *w, const char *key, int val) {
    unsigned char b = val != 0;
    put_key(w, key, GGUF_TYPE_BOOL);
    put(w, &b, 1);
}
void gguf_writer_add_str_array(gguf_writer *w, const char *key, const char *const *vals, int n) {
    put_key(w, key, GGUF_TYPE_ARRAY);
    put_u32(w, GGUF_TYPE_STRING);
    put_u64(w, (uint64_t)n);
    for (int i = 0; i < n; i++) put_str(w, vals[i]);
}

void gguf_writer_add_tensor_f32(gguf_writer *w, const char *name, uint32_t n_dims, const uint64_t *ne,
                                const float *data) {
    if (w->nomem) return;
    if (n_dims < 1 || n_dims > 4) { w->nomem = 2; return; }
    if (w->n_tensors == w->cap_tensors) {
        int cap = w->cap_tensors ? 2 * w->cap_tensors : 32;
        gguf_writer_tensor *t = realloc(w->tensors, sizeof *t * (size_t)cap);
        if (!t) { w->nomem = 1; return; }
        w->tensors = t;
        w->cap_tensors = cap;
    }
    gguf_writer_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) { w->nomem = 1; return; }
    t->n_dims = n_dims;
    for (int d = 0; d < 4; d++) t->ne[d] = d < (int)n_dims ? ne[d] : 1;
    t->data = data;
    w->n_tensors++;
}

static uint64_t nbytes(const gguf_writer_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3] * sizeof(float);
}

static uint64_t align_up(uint64_t x) { return (x + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN; }

static int pad(FILE *fp, uint64_t pos) {
    static const unsigned char zeros[GGUF_ALIGN];
    size_t n = (size_t)(align_up(pos) - pos);
    return fwrite(zeros, 1, n, fp) == n;
}

int gguf_writer_write(const gguf_writer *w, const char *path, pt_err *err) {
    if (w->nomem == 2) return pt_fail(err, PT_ERR_ARG, "%s: a tensor has a bad number of dimensions", path);
    if (w->nomem) return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory building the GGUF file", path);
    pt_afile af;
    int rc = pt_afile_open(&af, path, err);
    if (rc) return rc;
    FILE *fp = af.f;
    uint32_t version = 3;
    uint64_t nt = (uint64_t)w->n_tensors, nkv = w->n_kv, pos = 0;
    int ok = fwrite("GGUF", 1, 4, fp) == 4 && fwrite(&version, 4, 1, fp) == 1 && fwrite(&nt, 8, 1, fp) == 1 &&
             fwrite(&nkv, 8, 1, fp) == 1 && (w->kv_len == 0 || fwrite(w->kv, 1, w->kv_len, fp) == w->kv_len);
    pos = 24 + w->kv_len;
    uint64_t off = 0;
    for (int i = 0; ok && i < w->n_tensors; i++) {
        const gguf_writer_tensor *t = &w->tensors[i];
        uint64_t len = strlen(t->name);
        uint32_t type = GGML_TYPE_F32;
        ok = fwrite(&len, 8, 1, fp) == 1 && fwrite(t->name, 1, len, fp) == len && fwrite(&t->n_dims, 4, 1, fp) == 1 &&
             fwrite(t->ne, 8, t->n_dims, fp) == t->n_dims && fwrite(&type, 4, 1, fp) == 1 && fwrite(&off, 8, 1, fp) == 1;
        pos += 8 + len + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
        off = align_up(off + nbytes(t));
    }
    ok = ok && pad(fp, pos);
    uint64_t dpos = 0;
    for (int i = 0; ok && i < w->n_tensors; i++) {
        const gguf_writer_tensor *t = &w->tensors[i];
        uint64_t nb = nbytes(t);
        ok = (nb == 0 || fwrite(t->data, 1, nb, fp) == nb) && pad(fp, dpos + nb);
        dpos = align_up(dpos + nb);
    }
    if (!ok) {
        int e = errno;
        pt_afile_abort(&af);
        return pt_fail(err, PT_ERR_IO, "%s: write failed: %s", path, strerror(e ? e : EIO));
    }
    return pt_afile_commit(&af, err);
}
