// sampler.c - logits (V) -> one token id. The chain, in llama.cpp's order:
// repetition penalty, then greedy when temp <= 0, else top-k, softmax with
// temperature, top-p, min-p and a draw from the sampler's own RNG.
//
// Candidates live in one (V) scratch array of (logit or prob, id) pairs owned
// by the sampler; nothing is allocated per call. With top_k on, only k of them
// are ever sorted; top-p without top-k sorts a growing head (256, 1024, ...)
// chosen by quickselect instead of the whole vocabulary.
#include "infer/sampler.h"
#include "core/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float v;        // logit, then probability
    int32_t id;
} cand;

struct pt_sampler {
    pt_sampling p;
    int V;
    uint64_t rng;   // xorshift64* state, never 0
    cand *c;        // (V) candidates
    uint8_t *seen;  // (V) scratch for the penalty: each token penalised once
};

void sampling_defaults(pt_sampling *p) {
    p->temp = 0.7f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = 42;
}

// splitmix64 spreads small seeds (0, 1, 2...) over the state space.
static uint64_t seed_mix(uint64_t x) {
    x = pt_mix64(x + PT_GOLDEN64);
    return x ? x : 0x2545F4914F6CDD1Dull;
}

static uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static double rng_uniform(uint64_t *s) { // [0, 1)
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

pt_sampler *sampler_new(const pt_sampling *p, int vocab_size) {
    if (vocab_size <= 0) return NULL;
    pt_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->V = vocab_size;
    s->c = malloc((size_t)vocab_size * sizeof *s->c);
    s->seen = calloc((size_t)vocab_size, 1);
    if (!s->c || !s->seen) goto fail;
    s->rng = seed_mix(p->seed);
    return s;
fail:
    sampler_free(s);
    return NULL;
}

void sampler_free(pt_sampler *s) {
    if (!s) return;
    free(s->c);
    free(s->seen);
    free(s);
}

void sampler_reseed(pt_sampler *s, uint64_t seed) {
    s->p.seed = seed;
    s->rng = seed_mix(seed);
}

// llama.cpp semantics: every distinct token among the last n is penalised
// once, dividing positive logits and multiplying non-positive ones.
static void apply_repeat_penalty(pt_sampler *s, float *logits, const int32_t *history, int n_history) {
    float rp = s->p.repeat_penalty;
    int n = s->p.repeat_last_n < 0 ? n_history : s->p.repeat_last_n;
    if (rp == 1.0f || rp <= 0.0f || n == 0 || !history || n_history <= 0) return;
    if (n > n_history) n = n_history;
    const int32_t *win = history + (n_history - n);
    for (int i = 0; i < n; i++) {
        int32_t t = win[i];
        if (t < 0 || t >= s->V || s->seen[t]) continue;
        s->seen[t] = 1;
        logits[t] = logits[t] > 0.0f ? logits[t] / rp : logits[t] * rp;
    }
    for (int i = 0; i < n; i++)
        if (win[i] >= 0 && win[i] < s->V) s->seen[win[i]] = 0;
}

static int32_t argmax(const float *x, int n) {
    int32_t best = 0;
    float bv = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (x[i] > bv) { bv = x[i]; best = i; } // strict: ties keep the lowest id; NaN never wins
    }
    return best;
}

// a before b: larger value first, then lower id (a total order, so results are reproducible)
static int cand_before(const cand *a, const cand *b) {
    if (a->v != b->v) return a->v > b->v;
    return a->id < b->id;
}

static int cand_cmp(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    if (cand_before(a, b)) return -1;
    if (cand_before(b, a)) return 1;
    return 0;
}

static void cand_swap(cand *a, cand *b) { cand t = *a; *a = *b; *b = t; }

// Quickselect: afterwards c[0..k) hold the k best candidates (unordered).
static void select_top(cand *c, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        cand_swap(&c[lo + (hi - lo) / 2], &c[hi]); // middle pivot, moved to the end
        cand pivot = c[hi];
        int store = lo;
        for (int i = lo; i < hi; i++)
            if (cand_before(&c[i], &pivot)) cand_swap(&c[i], &c[store++]);
        cand_swap(&c[store], &c[hi]);
        if (store == k - 1 || store == k) return;
        if (store < k) lo = store + 1;
        else hi = store - 1;
    }
}

// Sorts the best m of c[0..n) to the front, in order.
static void sort_head(cand *c, int n, int m) {
    if (m < n) select_top(c, n, m);
    qsort(c, (size_t)m, sizeof *c, cand_cmp);
}

int32_t sampler_sample(pt_sampler *s, float *logits, const int32_t *history, int n_history) {
    const pt_sampling *p = &s->p;
    int V = s->V;
    apply_repeat_penalty(s, logits, history, n_history);
    if (p->temp <= 0.0f) return argmax(logits, V);

    cand *c = s->c;
    int n = 0;
    for (int i = 0; i < V; i++) {
        if (isnan(logits[i]) || logits[i] == -INFINITY) continue; // masked out
        c[n].v = logits[i];
        c[n].id = i;
        n++;
    }
    if (n == 0) return argmax(logits, V);
    int sorted = 0; // c[0..sorted) are the best, in order
    if (p->top_k > 0 && p->top_k < n) {
        sort_head(c, n, p->top_k);
        n = sorted = p->top_k;
    }

    // softmax with temperature; the order is unchanged
    float maxv = c[0].v;
    for (int i = 1; i < n; i++) if (c[i].v > maxv) maxv = c[i].v;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        c[i].v = expf((c[i].v - maxv) / p->temp);
        sum += c[i].v;
    }
    for (int i = 0; i < n; i++) c[i].v = (float)(c[i].v / sum);

    // top-p: the shortest best-first prefix whose mass reaches top_p
    if (p->top_p < 1.0f) {
        int m = sorted ? n : (n < 256 ? n : 256);
        for (;;) {
            if (m > sorted) { sort_head(c, n, m); sorted = m; }
            double cum = 0.0;
            int cut = -1;
            for (int i = 0; i < m; i++) {
                cum += c[i].v;
                if (cum >= p->top_p) { cut = i + 1; break; }
            }
            if (cut > 0) { n = cut; break; }
            if (m == n) break;                   // rounding: keep everything
            m = m > n / 4 ? n : m * 4;
        }
    }

    // min-p: drop tokens below min_p times the most likely one
    if (p->min_p > 0.0f) {
        float pmax = c[0].v;
        for (int i = 1; i < n; i++) if (c[i].v > pmax) pmax = c[i].v;
        float th = p->min_p * pmax;
        int k = 0;
        for (int i = 0; i < n; i++) if (c[i].v >= th) c[k++] = c[i]; // keeps the order
        n = k;
    }

    // draw from what is left, renormalised
    double total = 0.0;
    for (int i = 0; i < n; i++) total += c[i].v;
    double r = rng_uniform(&s->rng) * total, cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum += c[i].v;
        if (r < cum) return c[i].id;
    }
    return c[n - 1].id;
}
