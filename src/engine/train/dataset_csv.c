// dataset_csv.c - RFC 4180 CSV / TSV records (dataset_csv.h). Hand-written:
// no library we already depend on reads CSV, and the rules are a page long.
#include "train/dataset_csv.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char **f;       // (n) fields of the record being read, malloc'd
    int n, cap;
    char *buf;      // the field being read
    size_t len, bcap;
} record;

static int buf_put(record *r, char c) {
    if (r->len + 1 >= r->bcap) {
        size_t nc = r->bcap ? 2 * r->bcap : 64;
        char *nb = realloc(r->buf, nc);
        if (!nb) return -1;
        r->buf = nb;
        r->bcap = nc;
    }
    r->buf[r->len++] = c;
    return 0;
}

static int end_field(record *r) {
    if (r->n == r->cap) {
        int nc = r->cap ? 2 * r->cap : 8;
        char **nf = realloc(r->f, sizeof *nf * (size_t)nc);
        if (!nf) return -1;
        r->f = nf;
        r->cap = nc;
    }
    char *s = malloc(r->len + 1);
    if (!s) return -1;
    if (r->len) memcpy(s, r->buf, r->len);
    s[r->len] = '\0';
    r->f[r->n++] = s;
    r->len = 0;
    return 0;
}

static void clear(record *r) {
    for (int i = 0; i < r->n; i++) free(r->f[i]);
    r->n = 0;
    r->len = 0;
}

// One record from s[*i..]: fields into r, the line it starts on in *start;
// *line advances over its newlines.
// Returns 1 with a record, 0 at the end, -1 out of memory, -2 an unclosed quote.
static int read_record(const char *s, size_t len, size_t *i, char sep, int *line, int *start, record *r) {
    clear(r);
    size_t p = *i;
    while (p < len && (s[p] == '\n' || (s[p] == '\r' && p + 1 < len && s[p + 1] == '\n'))) {   // blank lines
        if (s[p] == '\n') (*line)++;
        p++;
    }
    if (p >= len) { *i = p; return 0; }
    *start = *line;
    for (;;) {
        if (p < len && s[p] == '"') {   // a quoted field
            p++;
            for (;;) {
                if (p >= len) return -2;
                if (s[p] == '"') {
                    if (p + 1 < len && s[p + 1] == '"') { if (buf_put(r, '"')) return -1; p += 2; continue; }
                    p++;
                    break;
                }
                if (s[p] == '\n') (*line)++;
                if (buf_put(r, s[p++])) return -1;
            }
            while (p < len && s[p] != sep && s[p] != '\n' && s[p] != '\r')   // text after the closing quote: kept
                if (buf_put(r, s[p++])) return -1;
        } else {
            while (p < len && s[p] != sep && s[p] != '\n' && !(s[p] == '\r' && p + 1 < len && s[p + 1] == '\n'))
                if (buf_put(r, s[p++])) return -1;
        }
        if (end_field(r)) return -1;
        if (p < len && s[p] == sep) { p++; continue; }
        if (p < len && s[p] == '\r') p++;
        if (p < len && s[p] == '\n') { p++; (*line)++; }
        break;
    }
    *i = p;
    return 1;
}

int csv_parse(const char *s, size_t len, char sep, const char *path, cJSON **rows, int **lines, pt_err *err) {
    *rows = NULL;
    *lines = NULL;
    record hdr = {0}, r = {0};
    cJSON *arr = cJSON_CreateArray();
    int *ln = NULL, n = 0, cap = 0, line = 1, first = 1, rc = PT_OK;
    size_t i = 0;
    if (!arr) return pt_fail(err, PT_ERR_NOMEM, "out of memory");
    int got = read_record(s, len, &i, sep, &line, &first, &hdr);
    if (got == 0) rc = pt_fail(err, PT_ERR_FORMAT, "%s: the dataset is empty", path);
    for (int k = 0; !rc && got > 0 && k < hdr.n; k++) {
        if (!hdr.f[k][0]) rc = pt_fail(err, PT_ERR_FORMAT, "%s:1: header field %d is empty (every column needs a name)", path, k + 1);
        for (int j = 0; !rc && j < k; j++)
            if (!strcmp(hdr.f[j], hdr.f[k]))
                rc = pt_fail(err, PT_ERR_FORMAT, "%s:1: header names column \"%s\" twice", path, hdr.f[k]);
    }
    while (!rc && got > 0) {
        int g = read_record(s, len, &i, sep, &line, &first, &r);
        if (g == 0) break;
        if (g < 0) { got = g; break; }
        if (r.n != hdr.n) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s:%d: %d field%s, the header has %d (a separator inside an unquoted "
                         "field?)", path, first, r.n, r.n == 1 ? "" : "s", hdr.n);
            break;
        }
        cJSON *o = cJSON_CreateObject();
        if (!o) { got = -1; break; }
        cJSON_AddItemToArray(arr, o);
        for (int k = 0; k < hdr.n; k++)
            if (!cJSON_AddStringToObject(o, hdr.f[k], r.f[k])) { got = -1; break; }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            int *nl = realloc(ln, sizeof *nl * (size_t)cap);
            if (!nl) { got = -1; break; }
            ln = nl;
        }
        ln[n++] = first;
    }
    if (!rc && got == -1) rc = pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", path);
    if (!rc && got == -2) rc = pt_fail(err, PT_ERR_FORMAT, "%s:%d: a quoted field is not closed", path, first);
    if (!rc && n == 0) rc = pt_fail(err, PT_ERR_FORMAT, "%s: the dataset has a header and no rows", path);
    clear(&hdr); free(hdr.f); free(hdr.buf);
    clear(&r); free(r.f); free(r.buf);
    if (rc) {
        cJSON_Delete(arr);
        free(ln);
        return rc;
    }
    *rows = arr;
    *lines = ln;
    return PT_OK;
}
