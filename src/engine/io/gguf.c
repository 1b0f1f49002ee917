// gguf.c - GGUF v2/v3 reader (ggml docs/gguf.md).
// Layout: "GGUF" u32 version, u64 n_tensors, u64 n_kv, n_kv key/values,
// n_tensors tensor infos, padding to the alignment, then the data section.
// Nothing read from the file is trusted: a cursor that never passes the end
// of the map does every read, and counts are capped by the bytes left.
#include "io/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "io/dequant.h"
#include "io/mapped_file.h"

#define GGUF_MAX_DIMS 4
#define GGUF_MAX_DEPTH 8 // nesting of arrays inside arrays

typedef struct {
    const unsigned char *p, *end;
    const char *path;
    pt_err *err;
    const char *what; // what is being read, for messages
} cursor;

static uint64_t left(const cursor *c) {
    return (uint64_t)(c->end - c->p);
}

static int truncated(cursor *c) {
    return pt_fail(c->err, PT_ERR_FORMAT, "%s: truncated file (ends inside %s)", c->path, c->what);
}

static int rd_bytes(cursor *c, void *out, size_t n) {
    if (left(c) < n)
        return truncated(c);
    memcpy(out, c->p, n);
    c->p += n;
    return PT_OK;
}

static int rd_u32(cursor *c, uint32_t *v) {
    unsigned char b[4] = {0};
    int rc = rd_bytes(c, b, 4);
    if (rc)
        return rc;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return PT_OK;
}

static int rd_u64(cursor *c, uint64_t *v) {
    uint32_t lo, hi;
    int rc = rd_u32(c, &lo);
    if (!rc)
        rc = rd_u32(c, &hi);
    if (!rc)
        *v = (uint64_t)hi << 32 | lo;
    return rc;
}

static int rd_str(cursor *c, gguf_str *s) {
    uint64_t n;
    int rc = rd_u64(c, &n);
    if (rc)
        return rc;
    if (n > left(c))
        return pt_fail(c->err, PT_ERR_FORMAT, "%s: string of %llu bytes in %s runs past end of file",
                       c->path, (unsigned long long)n, c->what);
    s->ptr = (const char *)c->p;
    s->len = n;
    c->p += n;
    return PT_OK;
}

static const char *value_type_name(uint32_t t) {
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                  "string", "array", "u64", "i64", "f64"};
    return t <= GGUF_TYPE_FLOAT64 ? names[t] : "unknown";
}

static uint64_t fixed_size(uint32_t t) { // 0 for string / array / unknown
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

static int check_value_type(cursor *c, uint32_t t) {
    if (t > GGUF_TYPE_FLOAT64)
        return pt_fail(c->err, PT_ERR_FORMAT, "%s: unknown value type %u in %s", c->path, t, c->what);
    return PT_OK;
}

// Skips (and so validates) the elements of an array: count elements of type t.
// strs, when non-NULL, receives every string of a string array.
static int skip_array_body(cursor *c, uint32_t t, uint64_t count, gguf_str *strs, int depth) {
    int rc = check_value_type(c, t);
    if (rc)
        return rc;
    uint64_t sz = fixed_size(t);
    // the smallest an element can be: caps count by the bytes left
    uint64_t min_sz = sz ? sz : (t == GGUF_TYPE_STRING ? 8 : 12);
    if (count > left(c) / min_sz)
        return pt_fail(c->err, PT_ERR_FORMAT, "%s: array of %llu elements in %s runs past end of file",
                       c->path, (unsigned long long)count, c->what);
    if (sz) {
        c->p += count * sz;
        return PT_OK;
    }
    for (uint64_t i = 0; i < count; i++) {
        if (t == GGUF_TYPE_STRING) {
            gguf_str s;
            if ((rc = rd_str(c, &s)))
                return rc;
            if (strs)
                strs[i] = s;
        } else { // nested array: u32 type, u64 count, elements
            uint32_t et;
            uint64_t n;
            if (depth >= GGUF_MAX_DEPTH)
                return pt_fail(c->err, PT_ERR_FORMAT, "%s: arrays nested deeper than %d in %s",
                               c->path, GGUF_MAX_DEPTH, c->what);
            if ((rc = rd_u32(c, &et)) || (rc = rd_u64(c, &n)))
                return rc;
            if ((rc = skip_array_body(c, et, n, NULL, depth + 1)))
                return rc;
        }
    }
    return PT_OK;
}

static int read_kv(cursor *c, gguf_kv *kv) {
    uint32_t t;
    int rc;
    if ((rc = rd_str(c, &kv->key)) || (rc = rd_u32(c, &t)))
        return rc;
    if ((rc = check_value_type(c, t)))
        return rc;
    kv->type = (gguf_value_type)t;
    if (t == GGUF_TYPE_STRING) {
        kv->val = c->p;
        gguf_str s;
        return rd_str(c, &s);
    }
    if (t != GGUF_TYPE_ARRAY) {
        kv->val = c->p;
        if (left(c) < fixed_size(t))
            return truncated(c);
        c->p += fixed_size(t);
        return PT_OK;
    }
    uint32_t et;
    uint64_t n;
    if ((rc = rd_u32(c, &et)) || (rc = rd_u64(c, &n)))
        return rc;
    if ((rc = check_value_type(c, et)))
        return rc;
    kv->arr_type = (gguf_value_type)et;
    kv->arr_len = n;
    kv->val = c->p;
    if (et == GGUF_TYPE_STRING && n > 0) {
        if (n > left(c) / 8) // checked here too so the allocation stays bounded
            return pt_fail(c->err, PT_ERR_FORMAT, "%s: array of %llu strings in %s runs past end of file",
                           c->path, (unsigned long long)n, c->what);
        kv->arr_str = malloc(n * sizeof *kv->arr_str);
        if (!kv->arr_str)
            return pt_fail(c->err, PT_ERR_NOMEM, "%s: out of memory for %llu strings", c->path,
                           (unsigned long long)n);
    }
    return skip_array_body(c, et, n, kv->arr_str, 1);
}

static int str_cmp(const gguf_str *a, const gguf_str *b) {
    uint64_t n = a->len < b->len ? a->len : b->len;
    int r = memcmp(a->ptr, b->ptr, n);
    if (r)
        return r;
    return a->len < b->len ? -1 : a->len > b->len;
}

static int str_ptr_cmp(const void *a, const void *b) {
    return str_cmp(*(const gguf_str *const *)a, *(const gguf_str *const *)b);
}

// Finds a repeated name among n strings (sorted copy); returns it or NULL.
static const gguf_str *find_duplicate(const gguf_str **names, uint64_t n) {
    qsort(names, n, sizeof *names, str_ptr_cmp);
    for (uint64_t i = 1; i < n; i++)
        if (!str_cmp(names[i - 1], names[i]))
            return names[i];
    return NULL;
}

static int check_duplicates(gguf_file *g, pt_err *err) {
    uint64_t n = g->n_kv > g->n_tensors ? g->n_kv : g->n_tensors;
    if (n < 2)
        return PT_OK;
    int rc = PT_OK;
    const gguf_str **names = malloc(n * sizeof *names);
    if (!names)
        return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", g->path);
    for (uint64_t i = 0; i < g->n_kv; i++)
        names[i] = &g->kv[i].key;
    const gguf_str *d = find_duplicate(names, g->n_kv);
    if (d) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: duplicate key %.*s", g->path, (int)(d->len > 200 ? 200 : d->len), d->ptr);
        goto done;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++)
        names[i] = &g->tensors[i].name;
    d = find_duplicate(names, g->n_tensors);
    if (d)
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: duplicate tensor name %.*s", g->path, (int)(d->len > 200 ? 200 : d->len), d->ptr);
done:
    free(names);
    return rc;
}

// A name for messages: at most 200 bytes of a string from the file.
#define NAME_ARG(s) (int)((s).len > 200 ? 200 : (s).len), (s).ptr

static int read_tensor_info(cursor *c, gguf_tensor *t) {
    int rc;
    uint32_t nd, type;
    if ((rc = rd_str(c, &t->name)) || (rc = rd_u32(c, &nd)))
        return rc;
    if (nd > GGUF_MAX_DIMS)
        return pt_fail(c->err, PT_ERR_FORMAT, "%s: tensor %.*s has %u dimensions (at most %d)",
                       c->path, NAME_ARG(t->name), nd, GGUF_MAX_DIMS);
    t->n_dims = nd;
    uint64_t nel = 1;
    for (int i = 0; i < GGUF_MAX_DIMS; i++) {
        t->ne[i] = 1;
        if ((uint32_t)i >= nd)
            continue;
        if ((rc = rd_u64(c, &t->ne[i])))
            return rc;
        if (t->ne[i] > (uint64_t)INT64_MAX || (t->ne[i] && nel > (uint64_t)INT64_MAX / t->ne[i]))
            return pt_fail(c->err, PT_ERR_FORMAT, "%s: tensor %.*s has an impossible shape",
                           c->path, NAME_ARG(t->name));
        nel *= t->ne[i];
    }
    if ((rc = rd_u32(c, &type)) || (rc = rd_u64(c, &t->offset)))
        return rc;
    t->type = (ggml_type)type;
    uint64_t bs = ggml_type_block_size(t->type);
    if (!bs) // a type newer than this reader, or a corrupt number: size unknown
        return pt_fail(c->err, PT_ERR_UNSUPPORTED, "%s: tensor %.*s has unknown type %u",
                       c->path, NAME_ARG(t->name), type);
    if (t->ne[0] % bs)
        return pt_fail(c->err, PT_ERR_FORMAT,
                       "%s: tensor %.*s: row of %llu elements is not a multiple of the %s block (%llu)",
                       c->path, NAME_ARG(t->name), (unsigned long long)t->ne[0],
                       ggml_type_name(t->type), (unsigned long long)bs);
    t->nbytes = ggml_type_nbytes(t->type, nel);
    if (nel && !t->nbytes)
        return pt_fail(c->err, PT_ERR_FORMAT, "%s: tensor %.*s is impossibly large",
                       c->path, NAME_ARG(t->name));
    return PT_OK;
}

int gguf_open(gguf_file *g, const char *path, pt_err *err) {
    memset(g, 0, sizeof *g);
    snprintf(g->path, sizeof g->path, "%s", path);
    int rc;
    cursor c;
    pt_mapped_file *mf = calloc(1, sizeof *mf);
    if (!mf)
        return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
    g->map_handle = mf;
    if ((rc = mapped_file_open(mf, path, err)))
        goto fail;
    g->base = mf->data;
    g->size = mf->size;
    if (mf->size < 24) {   // before any pointer arithmetic: an empty file maps to NULL
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: too short for a GGUF header (%zu bytes)", path, mf->size);
        goto fail;
    }
    c = (cursor){mf->data, mf->data + mf->size, path, err, "the header"};
    if (memcmp(mf->data, "GGUF", 4)) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: not a GGUF file (bad magic)", path);
        goto fail;
    }
    c.p += 4;
    rd_u32(&c, &g->version);
    if (g->version == 0x02000000u || g->version == 0x03000000u) {
        rc = pt_fail(err, PT_ERR_UNSUPPORTED, "%s: big-endian GGUF is not supported", path);
        goto fail;
    }
    if (g->version != 2 && g->version != 3) {
        rc = pt_fail(err, g->version == 1 ? PT_ERR_UNSUPPORTED : PT_ERR_FORMAT,
                     "%s: GGUF version %u is not supported (2 and 3 are)", path, g->version);
        goto fail;
    }
    rd_u64(&c, &g->n_tensors);
    rd_u64(&c, &g->n_kv);
    // smallest key/value: 8 (key length) + 4 (type) + 1; smallest tensor info: 8+4+4+8
    if (g->n_kv > left(&c) / 13 || g->n_tensors > left(&c) / 24) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: header claims %llu keys and %llu tensors, more than the file holds",
                     path, (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors);
        goto fail;
    }
    g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) {
        rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    c.what = "the key/value section";
    for (uint64_t i = 0; i < g->n_kv; i++)
        if ((rc = read_kv(&c, &g->kv[i])))
            goto fail;
    c.what = "the tensor table";
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if ((rc = read_tensor_info(&c, &g->tensors[i])))
            goto fail;
    if ((rc = check_duplicates(g, err)))
        goto fail;

    g->alignment = 32;
    const gguf_kv *al = gguf_find_kv(g, "general.alignment");
    if (al) {
        int64_t a = 0;
        int found;
        if ((rc = gguf_get_i64(g, "general.alignment", &a, &found, err)))
            goto fail;
        if (a <= 0 || a > (1 << 30) || (a & (a - 1))) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: general.alignment %lld is not a power of two",
                         path, (long long)a);
            goto fail;
        }
        g->alignment = (uint64_t)a;
    }
    uint64_t pos = (uint64_t)(c.p - mf->data);
    uint64_t data_start = (pos + g->alignment - 1) / g->alignment * g->alignment;
    if (data_start > mf->size && g->n_tensors > 0) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: truncated file (no data section)", path);
        goto fail;
    }
    uint64_t data_size = data_start <= mf->size ? mf->size - data_start : 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %.*s offset %llu is not aligned to %llu",
                         path, NAME_ARG(t->name), (unsigned long long)t->offset,
                         (unsigned long long)g->alignment);
            goto fail;
        }
        if (t->offset > data_size || t->nbytes > data_size - t->offset) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %.*s (%llu bytes at %llu) runs past end of file",
                         path, NAME_ARG(t->name), (unsigned long long)t->nbytes,
                         (unsigned long long)t->offset);
            goto fail;
        }
        t->data = mf->data + data_start + t->offset;
    }
    return PT_OK;
fail:
    gguf_close(g);
    return rc;
}

void gguf_close(gguf_file *g) {
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++)
            free(g->kv[i].arr_str);
    free(g->kv);
    free(g->tensors);
    if (g->map_handle) {
        mapped_file_close(g->map_handle);
        free(g->map_handle);
    }
    memset(g, 0, sizeof *g);
}

int gguf_str_eq(gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (gguf_str_eq(g->kv[i].key, key))
            return &g->kv[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (gguf_str_eq(g->tensors[i].name, name))
            return &g->tensors[i];
    return NULL;
}

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

// Integer value of a scalar of integer/bool type t at p; 0 if t is not one.
static int scalar_i64(uint32_t t, const unsigned char *p, int64_t *out, int *overflow) {
    *overflow = 0;
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_BOOL: *out = p[0]; return 1;
    case GGUF_TYPE_INT8: *out = (int8_t)p[0]; return 1;
    case GGUF_TYPE_UINT16: *out = (uint16_t)le(p, 2); return 1;
    case GGUF_TYPE_INT16: *out = (int16_t)(uint16_t)le(p, 2); return 1;
    case GGUF_TYPE_UINT32: *out = (uint32_t)le(p, 4); return 1;
    case GGUF_TYPE_INT32: *out = (int32_t)(uint32_t)le(p, 4); return 1;
    case GGUF_TYPE_INT64: *out = (int64_t)le(p, 8); return 1;
    case GGUF_TYPE_UINT64: {
        uint64_t v = le(p, 8);
        *overflow = v > (uint64_t)INT64_MAX;
        *out = (int64_t)v;
        return 1;
    }
    default: return 0;
    }
}

static int scalar_f64(uint32_t t, const unsigned char *p, double *out) {
    if (t == GGUF_TYPE_FLOAT32) {
        uint32_t b = (uint32_t)le(p, 4);
        float f;
        memcpy(&f, &b, 4);
        *out = f;
        return 1;
    }
    if (t == GGUF_TYPE_FLOAT64) {
        uint64_t b = le(p, 8);
        memcpy(out, &b, 8);
        return 1;
    }
    int64_t i;
    int ov;
    if (!scalar_i64(t, p, &i, &ov))
        return 0;
    *out = t == GGUF_TYPE_UINT64 ? (double)(uint64_t)i : (double)i;
    return 1;
}

int gguf_get_i64(const gguf_file *g, const char *key, int64_t *out, int *found, pt_err *err) {
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (found)
        *found = kv != NULL;
    if (!kv)
        return PT_OK;
    int ov;
    if (!scalar_i64(kv->type, kv->val, out, &ov))
        return pt_fail(err, PT_ERR_FORMAT, "%s: key %s has type %s, expected an integer",
                       g->path, key, value_type_name(kv->type));
    if (ov)
        return pt_fail(err, PT_ERR_FORMAT, "%s: key %s is out of range", g->path, key);
    return PT_OK;
}

int gguf_get_f64(const gguf_file *g, const char *key, double *out, int *found, pt_err *err) {
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (found)
        *found = kv != NULL;
    if (!kv)
        return PT_OK;
    if (!scalar_f64(kv->type, kv->val, out))
        return pt_fail(err, PT_ERR_FORMAT, "%s: key %s has type %s, expected a number",
                       g->path, key, value_type_name(kv->type));
    return PT_OK;
}

int gguf_get_str(const gguf_file *g, const char *key, char *buf, size_t cap, int *found, pt_err *err) {
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (found)
        *found = kv != NULL;
    if (!kv)
        return PT_OK;
    if (kv->type != GGUF_TYPE_STRING)
        return pt_fail(err, PT_ERR_FORMAT, "%s: key %s has type %s, expected a string",
                       g->path, key, value_type_name(kv->type));
    uint64_t len = le(kv->val, 8); // checked against the file at open
    if (cap) {
        size_t n = len < cap - 1 ? (size_t)len : cap - 1;
        memcpy(buf, kv->val + 8, n);
        buf[n] = '\0';
    }
    return PT_OK;
}

int gguf_arr_i64(const gguf_kv *kv, uint64_t i, int64_t *out) {
    *out = 0;
    if (kv->type != GGUF_TYPE_ARRAY || i >= kv->arr_len)
        return 0;
    uint64_t sz = fixed_size(kv->arr_type);
    double d;
    int ov;
    if (!sz)
        return 0;
    if (scalar_i64(kv->arr_type, kv->val + i * sz, out, &ov))
        return !ov;
    // A float element counts only if it is a whole number inside int64's
    // range: casting NaN, 1.5 or -3.6e250 to int64 is undefined behaviour.
    if (scalar_f64(kv->arr_type, kv->val + i * sz, &d) && d >= -0x1p63 && d < 0x1p63 && d == floor(d)) {
        *out = (int64_t)d;
        return 1;
    }
    return 0;
}

double gguf_arr_f64(const gguf_kv *kv, uint64_t i) {
    if (kv->type != GGUF_TYPE_ARRAY || i >= kv->arr_len)
        return 0;
    uint64_t sz = fixed_size(kv->arr_type);
    double d = 0;
    if (!sz || !scalar_f64(kv->arr_type, kv->val + i * sz, &d))
        return 0;
    return d;
}

const char *ggml_type_name(ggml_type t) {
    static const char *names[] = {
        [0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [6] = "Q5_0", [7] = "Q5_1",
        [8] = "Q8_0", [9] = "Q8_1", [10] = "Q2_K", [11] = "Q3_K", [12] = "Q4_K", [13] = "Q5_K",
        [14] = "Q6_K", [15] = "Q8_K", [16] = "IQ2_XXS", [17] = "IQ2_XS", [18] = "IQ3_XXS",
        [19] = "IQ1_S", [20] = "IQ4_NL", [21] = "IQ3_S", [22] = "IQ2_S", [23] = "IQ4_XS",
        [24] = "I8", [25] = "I16", [26] = "I32", [27] = "I64", [28] = "F64", [29] = "IQ1_M",
        [30] = "BF16", [34] = "TQ1_0", [35] = "TQ2_0", [39] = "MXFP4",
    };
    static _Thread_local char buf[16];
    if ((unsigned)t < sizeof names / sizeof names[0] && names[t])
        return names[t];
    snprintf(buf, sizeof buf, "type#%u", (unsigned)t);
    return buf;
}
