// test_optimizer.c - AdamW, gradient clipping and the learning-rate schedules
// against torch.optim.AdamW, clip_grad_norm_ and transformers' schedules
// (goldens from tests/reference/make_optimizer_goldens.py), plus a few values
// worked out by hand.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train/optimizer.h"

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); s = NULL; }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

// Fills out (cap) from a JSON number array; returns the count.
static int floats(const cJSON *arr, float *out, int cap) {
    int n = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) if (n < cap) out[n++] = (float)x->valuedouble;
    return n;
}

static pt_sched sched_of(const char *name) {
    if (!strcmp(name, "linear")) return PT_SCHED_LINEAR;
    if (!strcmp(name, "cosine")) return PT_SCHED_COSINE;
    return PT_SCHED_CONSTANT;
}

static void test_hand_values(void) {
    // First AdamW step from zero moments: m_hat = g, v_hat = g^2, so the
    // update is lr * g / (|g| + eps) = lr * sign(g) (minus weight decay).
    pt_adamw o;
    pt_err err;
    CHECK(adamw_init(&o, NULL, 3, 0.9, 0.999, 1e-8, 0.1, &err) == PT_OK);
    float p[3] = {1.0f, -2.0f, 0.5f}, g[3] = {0.3f, -4.0f, 0.0f};
    adamw_step(&o, p, g, 0.01);
    CHECK(check_close(p[0], 1.0f * (1 - 0.001f) - 0.01f, 1e-6f, 0));
    CHECK(check_close(p[1], -2.0f * (1 - 0.001f) + 0.01f, 1e-6f, 0));
    CHECK(check_close(p[2], 0.5f * (1 - 0.001f), 1e-7f, 0));   // zero grad: decay only
    CHECK(o.step == 1);
    adamw_free(&o);

    // Clipping: (3, 4) has norm 5; max 1 scales by 1 / (5 + 1e-6).
    float c[2] = {3.0f, 4.0f};
    double norm = grad_clip_norm(NULL, c, 2, 1.0);
    CHECK(fabs(norm - 5.0) < 1e-12);
    CHECK(check_close(c[0], 0.6f, 1e-6f, 0) && check_close(c[1], 0.8f, 1e-6f, 0));
    float d[2] = {0.3f, 0.4f};
    CHECK(fabs(grad_clip_norm(NULL, d, 2, 1.0) - 0.5) < 1e-7 && d[0] == 0.3f && d[1] == 0.4f);
    float e[2] = {3.0f, 4.0f};
    CHECK(fabs(grad_clip_norm(NULL, e, 2, 0.0) - 5.0) < 1e-12 && e[0] == 3.0f);   // off: norm only
    float f[2] = {NAN, 1.0f};
    CHECK(isnan(grad_clip_norm(NULL, f, 2, 1.0)) && f[1] == 1.0f);

    // Schedules: warmup 4 of 12 steps at base 1.
    CHECK(lr_schedule(PT_SCHED_LINEAR, 1.0, 0, 4, 12) == 0.0);
    CHECK(fabs(lr_schedule(PT_SCHED_LINEAR, 1.0, 2, 4, 12) - 0.5) < 1e-12);
    CHECK(fabs(lr_schedule(PT_SCHED_LINEAR, 1.0, 4, 4, 12) - 1.0) < 1e-12);
    CHECK(fabs(lr_schedule(PT_SCHED_LINEAR, 1.0, 8, 4, 12) - 0.5) < 1e-12);
    CHECK(fabs(lr_schedule(PT_SCHED_COSINE, 1.0, 8, 4, 12) - 0.5) < 1e-12);
    CHECK(fabs(lr_schedule(PT_SCHED_COSINE, 1.0, 12, 4, 12)) < 1e-12);
    CHECK(lr_schedule(PT_SCHED_CONSTANT, 1.0, 0, 0, 12) == 1.0);
    CHECK(lr_schedule(PT_SCHED_CONSTANT, 2.0, 100, 4, 12) == 2.0);
}

static void test_goldens(const cJSON *g) {
    const cJSON *c;
    int ncase = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(g, "adamw")) {
        ncase++;
        const cJSON *betas = cJSON_GetObjectItem(c, "betas");
        double lr = cJSON_GetObjectItem(c, "lr")->valuedouble;
        pt_sched s = sched_of(cJSON_GetObjectItem(c, "sched")->valuestring);
        int warmup = cJSON_GetObjectItem(c, "warmup")->valueint, total = cJSON_GetObjectItem(c, "total")->valueint;
        float p[64], grad[64], want[64];
        int n = floats(cJSON_GetObjectItem(c, "params0"), p, 64);
        CHECK(n == 12);
        pt_adamw o;
        pt_err err;
        CHECK(adamw_init(&o, NULL, (size_t)n, cJSON_GetArrayItem(betas, 0)->valuedouble, cJSON_GetArrayItem(betas, 1)->valuedouble,
                         cJSON_GetObjectItem(c, "eps")->valuedouble, cJSON_GetObjectItem(c, "weight_decay")->valuedouble,
                         &err) == PT_OK);
        const cJSON *grads = cJSON_GetObjectItem(c, "grads"), *after = cJSON_GetObjectItem(c, "params");
        const cJSON *lrs = cJSON_GetObjectItem(c, "lrs");
        int steps = cJSON_GetArraySize(grads);
        CHECK(steps == 10);
        float worst = 0;
        for (int t = 0; t < steps; t++) {
            double lr_t = lr_schedule(s, lr, t, warmup, total);
            CHECKF(fabs(lr_t - cJSON_GetArrayItem(lrs, t)->valuedouble) <= 1e-15 * lr,
                   "case %d step %d lr %.17g vs %.17g", ncase, t, lr_t, cJSON_GetArrayItem(lrs, t)->valuedouble);
            floats(cJSON_GetArrayItem(grads, t), grad, 64);
            floats(cJSON_GetArrayItem(after, t), want, 64);
            adamw_step(&o, p, grad, lr_t);
            for (int i = 0; i < n; i++) {
                float d = fabsf(p[i] - want[i]);
                if (d > worst) worst = d;
            }
        }
        // float32 end to end: a few ulps of the parameters (|p| ~ 1)
        CHECKF(worst <= 1e-6f, "case %d: worst |param - torch| = %g", ncase, worst);
        printf("adamw case %d (%s): worst |param - torch| after 10 steps = %.3g\n", ncase,
               cJSON_GetObjectItem(c, "sched")->valuestring, worst);
        adamw_free(&o);
    }
    CHECK(ncase == 3);

    const cJSON *sc = cJSON_GetObjectItem(g, "schedules");
    int warmup = cJSON_GetObjectItem(sc, "warmup")->valueint, total = cJSON_GetObjectItem(sc, "total")->valueint;
    double base = cJSON_GetObjectItem(sc, "base_lr")->valuedouble;
    const char *names[3] = {"constant", "linear", "cosine"};
    for (int k = 0; k < 3; k++) {
        const cJSON *arr = cJSON_GetObjectItem(sc, names[k]);
        CHECK(cJSON_GetArraySize(arr) == total + 2);
        for (int t = 0; t < cJSON_GetArraySize(arr); t++) {
            double want = cJSON_GetArrayItem(arr, t)->valuedouble, got = lr_schedule(sched_of(names[k]), base, t, warmup, total);
            CHECKF(fabs(got - want) <= 1e-15 * base, "%s step %d: %.17g vs %.17g", names[k], t, got, want);
        }
    }

    cJSON_ArrayForEach(c, cJSON_GetObjectItem(g, "clip")) {
        float grad[64], want[64];
        int n = floats(cJSON_GetObjectItem(c, "grads"), grad, 64);
        floats(cJSON_GetObjectItem(c, "clipped"), want, 64);
        double norm = grad_clip_norm(NULL, grad, (size_t)n, cJSON_GetObjectItem(c, "max_norm")->valuedouble);
        double want_norm = cJSON_GetObjectItem(c, "norm")->valuedouble;
        CHECKF(fabs(norm - want_norm) <= 1e-6 * want_norm, "norm %.9g vs %.9g", norm, want_norm);
        for (int i = 0; i < n; i++) CHECKF(check_close(grad[i], want[i], 1e-9f, 1e-6f), "clipped[%d] %g vs %g", i, grad[i], want[i]);
    }
}

int main(void) {
    test_hand_values();
    char *text = read_all(PT_SOURCE_DIR "/tests/data/optim/adamw.json");
    CHECKF(text != NULL, "missing tests/data/optim/adamw.json");
    cJSON *g = text ? cJSON_Parse(text) : NULL;
    CHECK(g != NULL);
    if (g) test_goldens(g);
    cJSON_Delete(g);
    free(text);
    return check_report("test_optimizer");
}
