// golden.h - what several tests read and compare: the PTLG logits goldens
// (tests/reference/make_tiny_models.py's format: "PTLG", version, n, V, the
// n token ids, then n x V float32 logits), the one-step training batches
// (make_train_goldens.py's json: tokens, mask, lengths, loss), and the two
// error measures the tests hold them to.
#ifndef PT_TEST_GOLDEN_H
#define PT_TEST_GOLDEN_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/mapped_file.h"

typedef struct {
    int n, V;
    int32_t *tokens;
    float *logits;
} golden;

static inline int golden_read(golden *g, const char *path) {
    pt_mapped_file f;
    pt_err err = {0};
    memset(g, 0, sizeof *g);
    if (mapped_file_open(&f, path, &err) != PT_OK) return 0;
    int ok = f.size >= 16 && !memcmp(f.data, "PTLG", 4);
    if (ok) {
        const uint32_t *h = (const uint32_t *)f.data;
        g->n = (int)h[2];
        g->V = (int)h[3];
        ok = f.size == 16 + 4 * (size_t)g->n + 4 * (size_t)g->n * g->V;
    }
    if (ok) {
        g->tokens = malloc(4 * (size_t)g->n);
        g->logits = malloc(4 * (size_t)g->n * g->V);
        memcpy(g->tokens, f.data + 16, 4 * (size_t)g->n);
        memcpy(g->logits, f.data + 16 + 4 * (size_t)g->n, 4 * (size_t)g->n * g->V);
    }
    mapped_file_close(&f);
    return ok;
}

static inline void golden_free(golden *g) {
    free(g->tokens);
    free(g->logits);
}

// max |a - b| (a NaN counts as the largest)
static inline double max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

// ||a - b|| / ||b|| (||a - b|| when b is zero; infinite on a non-finite value)
static inline double nerr(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

// One training batch: tokens (B, T), loss mask, row lengths, PEFT's loss.
typedef struct { int B, T; int32_t *tok; uint8_t *mask; int *len; float loss; } batch;

static inline int read_batch(batch *bt, const cJSON *doc) {
    const cJSON *tk = cJSON_GetObjectItem(doc, "tokens"), *mk = cJSON_GetObjectItem(doc, "mask"),
                *ln = cJSON_GetObjectItem(doc, "lengths"), *ls = cJSON_GetObjectItem(doc, "loss");
    if (!cJSON_IsArray(tk) || !cJSON_IsArray(mk) || !cJSON_IsArray(ln) || !cJSON_IsNumber(ls)) return 0;
    bt->B = cJSON_GetArraySize(tk);
    bt->T = cJSON_GetArraySize(cJSON_GetArrayItem(tk, 0));
    bt->tok = malloc(sizeof(int32_t) * bt->B * bt->T);
    bt->mask = malloc((size_t)bt->B * bt->T);
    bt->len = malloc(sizeof(int) * bt->B);
    for (int b = 0; b < bt->B; b++) {
        bt->len[b] = cJSON_GetArrayItem(ln, b)->valueint;
        for (int t = 0; t < bt->T; t++) {
            bt->tok[b * bt->T + t] = cJSON_GetArrayItem(cJSON_GetArrayItem(tk, b), t)->valueint;
            bt->mask[b * bt->T + t] = (uint8_t)cJSON_GetArrayItem(cJSON_GetArrayItem(mk, b), t)->valueint;
        }
    }
    bt->loss = (float)ls->valuedouble;
    return 1;
}

#endif
