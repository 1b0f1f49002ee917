// safetensors.c - .safetensors reader (single files and sharded folders) and
// an F32 writer. Layout: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end)}, "__metadata__": {...}},
// then the data section; offsets are relative to the data start.
// The JSON is parsed with cJSON; every number in it is checked before use.
#include "io/safetensors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "io/mapped_file.h"

#define ST_MAX_HEADER (100u * 1000u * 1000u) // the format's own limit
#define ST_MAX_DIMS 8
#define JSON_MAX_INT 9007199254740992.0     // 2^53: larger doubles are not exact

typedef struct {
    const char *name;
    st_dtype dtype;
    int size; // bytes per element, 0 = unknown (sub-byte or new types)
} dtype_info;

static const dtype_info DTYPES[] = {
    {"F32", ST_F32, 4},     {"F16", ST_F16, 2},       {"BF16", ST_BF16, 2},
    {"F64", ST_F64, 8},     {"I64", ST_I64, 8},       {"I32", ST_I32, 4},
    {"I16", ST_I16, 2},     {"I8", ST_I8, 1},         {"U8", ST_U8, 1},
    {"BOOL", ST_BOOL, 1},   {"U16", ST_OTHER, 2},     {"U32", ST_OTHER, 4},
    {"U64", ST_OTHER, 8},   {"F8_E4M3", ST_OTHER, 1}, {"F8_E5M2", ST_OTHER, 1},
    {"F8_E8M0", ST_OTHER, 1},
};

static const dtype_info *dtype_lookup(const char *s) {
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (!strcmp(DTYPES[i].name, s))
            return &DTYPES[i];
    return NULL;
}

// A JSON number that is a non-negative integer, exactly representable.
static int json_uint(const cJSON *n, uint64_t *out) {
    if (!cJSON_IsNumber(n))
        return 0;
    double d = n->valuedouble;
    if (!(d >= 0 && d <= JSON_MAX_INT) || d != (double)(uint64_t)d)
        return 0;
    *out = (uint64_t)d;
    return 1;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

// Fills t from one header entry; data_size bounds the offsets.
static int parse_entry(st_tensor *t, const cJSON *e, const unsigned char *data, uint64_t data_size,
                       const char *path, pt_err *err) {
    const char *nm = t->name;
    if (!cJSON_IsObject(e))
        return pt_fail(err, PT_ERR_FORMAT, "%s: header entry %s is not an object", path, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off))
        return pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s lacks dtype, shape or data_offsets", path, nm);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dt->valuestring);
    const dtype_info *di = dtype_lookup(dt->valuestring);
    t->dtype = di ? di->dtype : ST_OTHER;
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS)
        return pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s has %d dimensions (at most %d)", path, nm, nd, ST_MAX_DIMS);
    t->n_dims = nd;
    uint64_t nel = 1;
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, sh) {
        uint64_t v;
        if (!json_uint(x, &v))
            return pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s has a bad shape entry", path, nm);
        if (v && nel > UINT64_MAX / 16 / v)
            return pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s has an impossible shape", path, nm);
        t->shape[i++] = (int64_t)v;
        nel *= v;
    }
    uint64_t b, en;
    if (cJSON_GetArraySize(off) != 2 || !json_uint(off->child, &b) || !json_uint(off->child->next, &en))
        return pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s has bad data_offsets", path, nm);
    if (b > en || en > data_size)
        return pt_fail(err, PT_ERR_FORMAT,
                       "%s: tensor %s data [%llu, %llu) lies outside the data section (%llu bytes)",
                       path, nm, (unsigned long long)b, (unsigned long long)en, (unsigned long long)data_size);
    t->nbytes = en - b;
    if (di && nel * (uint64_t)di->size != t->nbytes)
        return pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s holds %llu bytes, but %s x %llu elements need %llu",
                       path, nm, (unsigned long long)t->nbytes, di->name, (unsigned long long)nel,
                       (unsigned long long)(nel * (uint64_t)di->size));
    t->data = data + b;
    return PT_OK;
}

int st_open(st_file *f, const char *path, pt_err *err) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    int rc;
    cJSON *root = NULL;
    pt_mapped_file *mf = calloc(1, sizeof *mf);
    if (!mf)
        return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
    f->map_handle = mf;
    if ((rc = mapped_file_open(mf, path, err)))
        goto fail;
    if (mf->size < 8) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: too short for a safetensors header (%zu bytes)", path, mf->size);
        goto fail;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | mf->data[i];
    if (n > ST_MAX_HEADER) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: header length %llu is over the 100 MB limit", path, (unsigned long long)n);
        goto fail;
    }
    if (n > mf->size - 8) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: header length %llu runs past end of file (%zu bytes)",
                     path, (unsigned long long)n, mf->size);
        goto fail;
    }
    const char *hdr = (const char *)mf->data + 8, *hend = NULL;
    root = cJSON_ParseWithLengthOpts(hdr, (size_t)n, &hend, 0);
    while (root && hend < hdr + n && (*hend == ' ' || *hend == '\t' || *hend == '\n' || *hend == '\r'))
        hend++;
    if (!root || hend != hdr + n) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: header is not valid JSON", path);
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: header is not a JSON object", path);
        goto fail;
    }
    int count = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        if (!e->string) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: header entry without a name", path);
            goto fail;
        }
        count += strcmp(e->string, "__metadata__") != 0;
    }
    f->tensors = calloc(count ? (size_t)count : 1, sizeof *f->tensors);
    if (!f->tensors) {
        rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    const unsigned char *data = mf->data + 8 + n;
    uint64_t data_size = mf->size - 8 - n;
    cJSON_ArrayForEach(e, root) {
        if (!strcmp(e->string, "__metadata__")) {
            if (f->metadata_json) {
                rc = pt_fail(err, PT_ERR_FORMAT, "%s: duplicate __metadata__", path);
                goto fail;
            }
            if (!cJSON_IsObject(e)) {
                rc = pt_fail(err, PT_ERR_FORMAT, "%s: __metadata__ is not an object", path);
                goto fail;
            }
            f->metadata_json = cJSON_PrintUnformatted(e);
            if (!f->metadata_json) {
                rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
                goto fail;
            }
            continue;
        }
        st_tensor *t = &f->tensors[f->n_tensors];
        t->name = strdup(e->string);
        if (!t->name) {
            rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        f->n_tensors++;
        if ((rc = parse_entry(t, e, data, data_size, path, err)))
            goto fail;
    }
    // sorted by name, so st_find can search in halves and repeats sit side by side
    qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, name_cmp);
    for (int i = 1; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i - 1].name, f->tensors[i].name)) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: duplicate tensor name %s", path, f->tensors[i].name);
            goto fail;
        }
    cJSON_Delete(root);
    return PT_OK;
fail:
    cJSON_Delete(root);
    st_close(f);
    return rc;
}

void st_close(st_file *f) {
    for (int i = 0; f->tensors && i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    free(f->metadata_json);
    if (f->map_handle) {
        mapped_file_close(f->map_handle);
        free(f->map_handle);
    }
    memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name) {
    int lo = 0, hi = f->n_tensors - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(f->tensors[mid].name, name);
        if (!c)
            return &f->tensors[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

// Adds shard `file` (a bare file name inside dir) unless it is already open.
static int set_add_file(st_set *s, int *cap, const char *dir, const char *file, pt_err *err) {
    for (int i = 0; i < s->n_files; i++) {
        const char *p = s->files[i].path;
        size_t lp = strlen(p), lf = strlen(file);
        if (lp > lf && p[lp - lf - 1] == '/' && !strcmp(p + lp - lf, file))
            return PT_OK;
    }
    if (s->n_files == *cap) {
        int nc = *cap ? *cap * 2 : 4;
        st_file *nf = realloc(s->files, (size_t)nc * sizeof *nf);
        if (!nf)
            return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", dir);
        s->files = nf;
        *cap = nc;
    }
    char path[1024];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
        return pt_fail(err, PT_ERR_ARG, "%s: path too long", dir);
    int rc = st_open(&s->files[s->n_files], path, err);
    if (!rc)
        s->n_files++;
    return rc;
}

static int open_index(st_set *s, const char *dir, const char *index_path, pt_err *err) {
    char *text = NULL;
    size_t len = 0;
    cJSON *root = NULL;
    int cap = 0;
    int rc = pt_read_file(index_path, &text, &len, err);
    if (rc)
        return rc;
    root = cJSON_ParseWithLength(text, len);
    const cJSON *wm = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(wm)) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: %s", index_path,
                     root ? "no weight_map object" : "not valid JSON");
        goto fail;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, wm) {
        const char *file = cJSON_GetStringValue(e);
        // a shard is a plain file name inside this folder
        if (!file || !*file || strchr(file, '/') || file[0] == '.') {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s maps to a bad file name", index_path,
                         e->string ? e->string : "?");
            goto fail;
        }
        if ((rc = set_add_file(s, &cap, dir, file, err)))
            goto fail;
    }
    if (s->n_files == 0) {
        rc = pt_fail(err, PT_ERR_FORMAT, "%s: weight_map names no files", index_path);
        goto fail;
    }
    cJSON_ArrayForEach(e, wm) {
        const char *file = cJSON_GetStringValue(e);
        int found = 0;
        for (int i = 0; i < s->n_files && !found; i++) {
            const char *p = s->files[i].path;
            size_t lp = strlen(p), lf = strlen(file);
            found = lp > lf && !strcmp(p + lp - lf, file) && p[lp - lf - 1] == '/' &&
                    st_find(&s->files[i], e->string);
        }
        if (!found) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s: names tensor %s in %s, which does not hold it",
                         index_path, e->string, file);
            goto fail;
        }
    }
    cJSON_Delete(root);
    free(text);
    return PT_OK;
fail:
    cJSON_Delete(root);
    free(text);
    return rc;
}

int st_set_open_dir(st_set *s, const char *dir, pt_err *err) {
    memset(s, 0, sizeof *s);
    char path[1024];
    int rc;
    if ((size_t)snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir) >= sizeof path)
        return pt_fail(err, PT_ERR_ARG, "%s: path too long", dir);
    if (file_exists(path)) {
        rc = open_index(s, dir, path, err);
    } else {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (!file_exists(path)) {
            char bin[1024];   // a PyTorch pickle checkpoint: peftui reads safetensors only (no Python, no pickle)
            snprintf(bin, sizeof bin, "%s/pytorch_model.bin", dir);
            int pt = file_exists(bin);
            snprintf(bin, sizeof bin, "%s/pytorch_model.bin.index.json", dir);
            if (pt || file_exists(bin))
                return pt_fail(err, PT_ERR_UNSUPPORTED, "%s: only pytorch_model.bin weights; peftui reads safetensors: "
                               "convert once with transformers (AutoModelForCausalLM.from_pretrained(dir)"
                               ".save_pretrained(dir, safe_serialization=True))", dir);
            return pt_fail(err, PT_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json", dir);
        }
        int cap = 0;
        rc = set_add_file(s, &cap, dir, "model.safetensors", err);
    }
    if (rc)
        st_set_close(s);
    return rc;
}

void st_set_close(st_set *s) {
    for (int i = 0; i < s->n_files; i++)
        st_close(&s->files[i]);
    free(s->files);
    memset(s, 0, sizeof *s);
}

const st_tensor *st_set_find(const st_set *s, const char *name) {
    for (int i = 0; i < s->n_files; i++) {
        const st_tensor *t = st_find(&s->files[i], name);
        if (t)
            return t;
    }
    return NULL;
}

// Checks the tensors to write; fills *total with the data bytes.
static int write_check(const char *path, const st_write_tensor *ts, int n, uint64_t *total, pt_err *err) {
    *total = 0;
    for (int i = 0; i < n; i++) {
        const st_write_tensor *t = &ts[i];
        if (!t->name || !*t->name || !strcmp(t->name, "__metadata__"))
            return pt_fail(err, PT_ERR_ARG, "%s: tensor %d has no usable name", path, i);
        if (t->n_dims < 0 || t->n_dims > 4)
            return pt_fail(err, PT_ERR_ARG, "%s: tensor %s has %d dimensions", path, t->name, t->n_dims);
        uint64_t nel = 1;
        for (int d = 0; d < t->n_dims; d++) {
            if (t->shape[d] < 0 || (t->shape[d] && nel > (uint64_t)(JSON_MAX_INT / 4) / (uint64_t)t->shape[d]))
                return pt_fail(err, PT_ERR_ARG, "%s: tensor %s has a bad shape", path, t->name);
            nel *= (uint64_t)t->shape[d];
        }
        if (nel && !t->data)
            return pt_fail(err, PT_ERR_ARG, "%s: tensor %s has no data", path, t->name);
        for (int j = 0; j < i; j++)
            if (!strcmp(ts[j].name, t->name))
                return pt_fail(err, PT_ERR_ARG, "%s: tensor %s given twice", path, t->name);
        *total += nel * 4;
        if (*total > (uint64_t)JSON_MAX_INT)
            return pt_fail(err, PT_ERR_ARG, "%s: too much data", path);
    }
    return PT_OK;
}

// The header JSON: __metadata__ first, then each tensor in order.
static int write_header(char **out, const st_write_tensor *ts, int n, const char *metadata_json,
                        const char *path, pt_err *err) {
    int rc;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        goto nomem;
    if (metadata_json) {
        cJSON *md = cJSON_Parse(metadata_json);
        if (!cJSON_IsObject(md)) {
            cJSON_Delete(md);
            rc = pt_fail(err, PT_ERR_ARG, "%s: metadata is not a JSON object", path);
            goto fail;
        }
        const cJSON *v;
        cJSON_ArrayForEach(v, md) {
            if (!cJSON_IsString(v)) {
                rc = pt_fail(err, PT_ERR_ARG, "%s: metadata value %s is not a string", path, v->string);
                cJSON_Delete(md);
                goto fail;
            }
        }
        cJSON_AddItemToObject(root, "__metadata__", md);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, ts[i].name);
        cJSON *sh = e ? cJSON_AddArrayToObject(e, "shape") : NULL;
        cJSON *of = e ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
        if (!of || !cJSON_AddStringToObject(e, "dtype", "F32"))
            goto nomem;
        uint64_t nel = 1;
        for (int d = 0; d < ts[i].n_dims; d++) {
            nel *= (uint64_t)ts[i].shape[d];
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)ts[i].shape[d]));
        }
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        off += nel * 4;
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
    }
    *out = cJSON_PrintUnformatted(root);
    if (!*out)
        goto nomem;
    cJSON_Delete(root);
    return PT_OK;
nomem:
    rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
fail:
    cJSON_Delete(root);
    return rc;
}

int st_write_f32(const char *path, const st_write_tensor *ts, int n, const char *metadata_json, pt_err *err) {
    char *header = NULL;
    uint64_t total;
    int rc = write_check(path, ts, n, &total, err);
    if (rc)
        return rc;
    if ((rc = write_header(&header, ts, n, metadata_json, path, err)))
        return rc;
    size_t hlen = strlen(header);
    size_t padded = (hlen + 7) / 8 * 8; // data starts 8-byte aligned
    pt_afile af;
    if ((rc = pt_afile_open(&af, path, err))) {
        cJSON_free(header);
        return rc;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, af.f) == 8 && fwrite(header, 1, hlen, af.f) == hlen;
    for (size_t i = hlen; ok && i < padded; i++)
        ok = fputc(' ', af.f) != EOF;
    for (int i = 0; ok && i < n; i++) {
        size_t nel = 1;
        for (int d = 0; d < ts[i].n_dims; d++)
            nel *= (size_t)ts[i].shape[d];
        ok = nel == 0 || fwrite(ts[i].data, 4, nel, af.f) == nel; // little-endian host
    }
    cJSON_free(header);
    if (!ok) {
        int e = errno;
        pt_afile_abort(&af);
        return pt_fail(err, PT_ERR_IO, "%s: write failed: %s", path, strerror(e ? e : EIO));
    }
    return pt_afile_commit(&af, err);
}
