// test_sampler.c - the sampler against hand-computed distributions: greedy,
// seeding, top-k, top-p, min-p, repetition penalty, and draw frequencies.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "infer/sampler.h"

static pt_sampling plain(float temp) { // every filter off
    pt_sampling p;
    sampling_defaults(&p);
    p.temp = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    return p;
}

// Draws n tokens from logits (copied each time) and counts them (V).
static void draw_counts(pt_sampler *s, const float *logits, int V, int n, int *counts) {
    float *tmp = malloc((size_t)V * sizeof *tmp);
    memset(counts, 0, (size_t)V * sizeof *counts);
    for (int i = 0; i < n; i++) {
        memcpy(tmp, logits, (size_t)V * sizeof *tmp);
        int32_t t = sampler_sample(s, tmp, NULL, 0);
        if (t >= 0 && t < V) counts[t]++;
    }
    free(tmp);
}

static void test_greedy(void) {
    pt_sampling p = plain(0.0f);
    float l[6] = {0.1f, 2.0f, -1.0f, 2.0f, 1.9f, -INFINITY};
    pt_sampler *s = sampler_new(&p, 6);
    CHECK(s != NULL);
    CHECKF(sampler_sample(s, l, NULL, 0) == 1, "ties go to the lowest id");
    float l2[6] = {-5.0f, -3.0f, -4.0f, -3.5f, -INFINITY, -9.0f};
    CHECK(sampler_sample(s, l2, NULL, 0) == 1);
    sampler_free(s);
    // top_k = 1 with temperature is greedy too
    pt_sampling pk = plain(1.5f);
    pk.top_k = 1;
    s = sampler_new(&pk, 6);
    int same = 1;
    for (int i = 0; i < 200; i++) {
        float l3[6] = {0.1f, 2.0f, -1.0f, 2.0f, 1.9f, 0.0f};
        if (sampler_sample(s, l3, NULL, 0) != 1) same = 0;
    }
    CHECKF(same, "top_k=1 must equal greedy");
    sampler_free(s);
}

static void sequence(uint64_t seed, int32_t *out, int n) {
    pt_sampling p = plain(1.0f);
    p.seed = seed;
    enum { V = 1000 };
    float *l = malloc(V * sizeof *l);
    pt_sampler *s = sampler_new(&p, V);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < V; j++) l[j] = (float)((j * 7919) % 13) * 0.1f; // fairly flat
        out[i] = sampler_sample(s, l, out, i);
    }
    sampler_free(s);
    free(l);
}

static void test_seeds(void) {
    int32_t a[64], b[64], c[64];
    sequence(42, a, 64);
    sequence(42, b, 64);
    sequence(43, c, 64);
    CHECKF(memcmp(a, b, sizeof a) == 0, "same seed must give the same sequence");
    CHECKF(memcmp(a, c, sizeof a) != 0, "different seeds should differ");
    // reseed restarts the stream
    pt_sampling p = plain(1.0f);
    p.seed = 7;
    pt_sampler *s = sampler_new(&p, 1000);
    float l[1000];
    int32_t x[16], y[16];
    for (int i = 0; i < 16; i++) { for (int j = 0; j < 1000; j++) l[j] = 0; x[i] = sampler_sample(s, l, NULL, 0); }
    sampler_reseed(s, 7);
    for (int i = 0; i < 16; i++) { for (int j = 0; j < 1000; j++) l[j] = 0; y[i] = sampler_sample(s, l, NULL, 0); }
    CHECK(memcmp(x, y, sizeof x) == 0);
    sampler_free(s);
}

// probabilities 0.5 0.25 0.15 0.1 (as log-probs, temperature 1)
static const float P4[4] = {0.5f, 0.25f, 0.15f, 0.1f};

static void test_top_p(void) {
    float l[4];
    int counts[4];
    for (int i = 0; i < 4; i++) l[i] = logf(P4[i]);
    struct { float top_p; int keep; } cases[] = {
        {0.45f, 1}, {0.5f, 1}, {0.74f, 2}, {0.76f, 3}, {0.89f, 3}, {0.91f, 4}, {0.999f, 4},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        pt_sampling p = plain(1.0f);
        p.top_p = cases[c].top_p;
        pt_sampler *s = sampler_new(&p, 4);
        draw_counts(s, l, 4, 4000, counts);
        int kept = 0;
        for (int i = 0; i < 4; i++) if (counts[i] > 0) kept = i + 1;
        int contiguous = 1;
        for (int i = 0; i < kept; i++) if (counts[i] == 0) contiguous = 0;
        CHECKF(kept == cases[c].keep && contiguous, "top_p %.3f kept %d, want %d",
               cases[c].top_p, kept, cases[c].keep);
        sampler_free(s);
    }
    // renormalised over the kept set: top_p 0.76 keeps 0.5/0.9, 0.25/0.9, 0.15/0.9
    pt_sampling p = plain(1.0f);
    p.top_p = 0.76f;
    pt_sampler *s = sampler_new(&p, 4);
    draw_counts(s, l, 4, 20000, counts);
    for (int i = 0; i < 3; i++)
        CHECKF(fabs(counts[i] / 20000.0 - P4[i] / 0.9) < 0.02, "token %d freq %.4f want %.4f",
               i, counts[i] / 20000.0, P4[i] / 0.9);
    sampler_free(s);
}

// top-p on a large vocabulary with top_k off exercises the growing partial sort
static void test_top_p_large(void) {
    enum { V = 49152 };
    float *l = malloc(V * sizeof *l);
    int *counts = malloc(V * sizeof *counts);
    // 600 tokens share 90% of the mass evenly, the rest share 10%: top_p 0.5 keeps
    // about 334 of the 600 (more than the first 256-candidate head)
    for (int i = 0; i < V; i++) l[i] = i % 80 == 3 && i / 80 < 600 ? logf(0.9f / 600) : logf(0.1f / (V - 600));
    pt_sampling p = plain(1.0f);
    p.top_p = 0.5f;
    pt_sampler *s = sampler_new(&p, V);
    draw_counts(s, l, V, 800, counts);
    int bad = 0, distinct = 0;
    for (int i = 0; i < V; i++) {
        if (!counts[i]) continue;
        distinct++;
        if (!(i % 80 == 3 && i / 80 < 334)) bad++; // ties broken by lowest id
    }
    CHECKF(bad == 0, "%d draws outside the top-p set", bad);
    CHECKF(distinct > 256, "only %d distinct tokens drawn", distinct);
    sampler_free(s);
    free(l);
    free(counts);
}

static void test_min_p(void) {
    float l[4];
    int counts[4];
    for (int i = 0; i < 4; i++) l[i] = logf(P4[i]);
    // threshold 0.35 * 0.5 = 0.175: keeps 0.5 and 0.25 only
    pt_sampling p = plain(1.0f);
    p.min_p = 0.35f;
    pt_sampler *s = sampler_new(&p, 4);
    draw_counts(s, l, 4, 6000, counts);
    CHECK(counts[0] > 0 && counts[1] > 0 && counts[2] == 0 && counts[3] == 0);
    CHECKF(fabs(counts[0] / 6000.0 - 2.0 / 3.0) < 0.03, "freq %.3f", counts[0] / 6000.0);
    sampler_free(s);
    // threshold 0.29 * 0.5 = 0.145 also keeps 0.15
    p.min_p = 0.29f;
    s = sampler_new(&p, 4);
    draw_counts(s, l, 4, 6000, counts);
    CHECK(counts[2] > 0 && counts[3] == 0);
    sampler_free(s);
}

static void test_top_k(void) {
    enum { V = 100 };
    float l[V];
    int counts[V];
    for (int i = 0; i < V; i++) l[i] = (float)((i * 37) % V) * 0.01f; // a permutation of 0..0.99
    pt_sampling p = plain(1.0f);
    p.top_k = 5;
    pt_sampler *s = sampler_new(&p, V);
    draw_counts(s, l, V, 5000, counts);
    int drawn = 0, outside = 0;
    for (int i = 0; i < V; i++) {
        if (!counts[i]) continue;
        drawn++;
        if ((i * 37) % V < V - 5) outside++;
    }
    CHECKF(drawn == 5 && outside == 0, "top_k 5 drew %d tokens, %d outside", drawn, outside);
    sampler_free(s);
}

static void test_repeat_penalty(void) {
    pt_sampling p = plain(0.0f);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 3;
    pt_sampler *s = sampler_new(&p, 6);
    float l[6] = {4.0f, 3.0f, -1.0f, 1.0f, 0.0f, 2.0f};
    int32_t hist[] = {0, 2, 2, 3, 5}; // window of 3: {2, 3, 5}; 0 is outside it
    (void)sampler_sample(s, l, hist, 5);
    CHECK(l[0] == 4.0f);                 // outside the window
    CHECK(l[1] == 3.0f);                 // not in history
    CHECKF(l[2] == -2.0f, "negative logit multiplied once, got %g", l[2]);
    CHECK(l[3] == 0.5f);                 // positive divided
    CHECK(l[4] == 0.0f);
    CHECK(l[5] == 1.0f);
    sampler_free(s);
    // it changes the greedy choice
    s = sampler_new(&p, 6);
    float m[6] = {1.0f, 3.0f, 2.0f, 0, 0, 0};
    int32_t h2[] = {1};
    CHECK(sampler_sample(s, m, h2, 1) == 2);
    sampler_free(s);
}

static void test_frequencies(void) {
    enum { V = 6, N = 20000 };
    const float l[V] = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, -3.0f};
    int counts[V];
    for (int ti = 0; ti < 2; ti++) {
        float temp = ti ? 0.7f : 1.0f;
        pt_sampling p = plain(temp);
        p.seed = 1234 + ti;
        pt_sampler *s = sampler_new(&p, V);
        draw_counts(s, l, V, N, counts);
        double z = 0, prob[V];
        for (int i = 0; i < V; i++) z += exp(l[i] / temp);
        int ok = 1;
        for (int i = 0; i < V; i++) {
            prob[i] = exp(l[i] / temp) / z;
            double f = (double)counts[i] / N, sd = sqrt(prob[i] * (1 - prob[i]) / N);
            if (fabs(f - prob[i]) > 5 * sd + 1e-3) {
                ok = 0;
                fprintf(stderr, "temp %.1f token %d: freq %.4f, softmax %.4f\n", temp, i, f, prob[i]);
            }
        }
        CHECKF(ok, "draw frequencies must match the softmax at temp %.1f", temp);
        sampler_free(s);
    }
}

int main(void) {
    test_greedy();
    test_seeds();
    test_top_p();
    test_top_p_large();
    test_min_p();
    test_top_k();
    test_repeat_penalty();
    test_frequencies();
    return check_report("test_sampler");
}
