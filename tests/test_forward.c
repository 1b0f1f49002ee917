// test_forward.c - the forward pass on the tiny models against transformers'
// float32 logits (tests/reference/make_tiny_models.py), through every path:
// one batch, small chunks, and one token at a time through the KV cache, on
// the CPU and the naive backends; from HF folders and from GGUF files.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "backend/cpu_blas.h"
#include "infer/forward.h"
#include "io/mapped_file.h"
#include "model/model.h"

#define TINY PT_SOURCE_DIR "/tests/data/tiny/"

typedef struct {
    int n, V;
    const int32_t *tokens;  // (n)
    const float *logits;    // (n, V)
    pt_mapped_file f;
} golden;

static int golden_open(golden *g, const char *path) {
    pt_err err = {0};
    if (mapped_file_open(&g->f, path, &err) != PT_OK || g->f.size < 16 || memcmp(g->f.data, "PTLG", 4)) return 0;
    const uint32_t *h = (const uint32_t *)g->f.data;
    g->n = (int)h[2];
    g->V = (int)h[3];
    g->tokens = (const int32_t *)(g->f.data + 16);
    g->logits = (const float *)(g->f.data + 16 + 4 * (size_t)g->n);
    return g->f.size == 16 + 4 * (size_t)g->n + 4 * (size_t)g->n * g->V;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d;  // NaN propagates as a failure
    }
    return m;
}

// model at `path` against golden logits, within tol (absolute)
static void check_model(const char *path, const char *gold_path, double tol) {
    golden g;
    pt_err err = {0};
    if (!golden_open(&g, gold_path)) { CHECKF(0, "golden %s unreadable", gold_path); return; }
    pt_model m;
    if (model_load(&m, path, &err) != PT_OK) { CHECKF(0, "%s: %s", path, err.msg); mapped_file_close(&g.f); return; }
    CHECK(m.cfg.vocab_size == g.V);
    size_t nl = (size_t)g.n * g.V;
    float *out = malloc(nl * sizeof(float));
    pt_backend *bes[2] = {0};
    backend_cpu_create(&bes[0], 2, &err);
    backend_naive_create(&bes[1], &err);
    for (int b = 0; b < 2; b++) {
        int batches[] = {64, 5, 1};
        for (int k = 0; k < 3; k++) {
            pt_runtime rt;
            if (runtime_init(&rt, bes[b], &m, 64, batches[k], &err) != PT_OK) { CHECKF(0, "%s", err.msg); continue; }
            double d;
            if (batches[k] > 1) {  // whole sequence, possibly in chunks
                CHECK(runtime_forward(&rt, g.tokens, g.n, out, 1, &err) == PT_OK);
                d = max_diff(out, g.logits, nl);
            } else {               // one token at a time: the KV-cache decode path
                d = 0;
                for (int t = 0; t < g.n; t++) {
                    CHECK(runtime_forward(&rt, g.tokens + t, 1, out, 0, &err) == PT_OK);
                    double dt = max_diff(out, g.logits + (size_t)t * g.V, g.V);
                    if (!(dt <= d)) d = dt;
                }
            }
            CHECKF(d <= tol, "%s [%s, batch %d]: max |diff| %.3g > %.3g", path, bes[b]->ops->name, batches[k], d, tol);
            runtime_free(&rt);
        }
    }
    // the cache: prefill a prefix, truncate, re-run the rest -> same last logits
    pt_runtime rt;
    if (runtime_init(&rt, bes[0], &m, 64, 8, &err) == PT_OK) {
        float *last = malloc(sizeof(float) * g.V);
        runtime_forward(&rt, g.tokens, g.n, NULL, 0, &err);
        runtime_truncate(&rt, 3);
        CHECK(rt.seq[0].n_past == 3);
        CHECK(runtime_forward(&rt, g.tokens + 3, g.n - 3, last, 0, &err) == PT_OK);
        CHECKF(max_diff(last, g.logits + (size_t)(g.n - 1) * g.V, g.V) <= tol, "%s: truncate and re-run", path);
        // overflowing the context is an error, not a write past the cache
        runtime_reset(&rt);
        int32_t *many = calloc(65, sizeof(int32_t));
        CHECK(runtime_forward(&rt, many, 65, NULL, 0, &err) == PT_ERR_RANGE);
        int32_t badtok = g.V;
        CHECK(runtime_forward(&rt, &badtok, 1, NULL, 0, &err) == PT_ERR_ARG);
        free(many);
        free(last);
        runtime_free(&rt);
    }
    backend_destroy(bes[0]);
    backend_destroy(bes[1]);
    free(out);
    model_free(&m);
    mapped_file_close(&g.f);
}

int main(int argc, char **argv) {
    CHECK_USE_FAST_BLAS(argv);
    // float32 end to end: only summation order differs from PyTorch
    check_model(TINY "llama-hf", TINY "llama-hf/golden_logits.bin", 5e-5);
    check_model(TINY "llama-hf-sharded", TINY "llama-hf/golden_logits.bin", 5e-5);
    check_model(TINY "llama-f32.gguf", TINY "llama-hf/golden_logits.bin", 5e-5);  // RoPE permutation undone
    check_model(TINY "llama-hf-bf16", TINY "llama-hf-bf16/golden_logits.bin", 5e-5);
    check_model(TINY "qwen2-hf", TINY "qwen2-hf/golden_logits.bin", 5e-5);       // q/k/v biases, untied head
    check_model(TINY "bloom-hf", TINY "bloom-hf/golden_logits.bin", 5e-5);       // ALiBi, LayerNorm, fused QKV, GELU
    check_model(TINY "gpt2-hf", TINY "gpt2-hf/golden_logits.bin", 5e-5);        // learned positions, Conv1D, c_attn
    check_model(TINY "gpt_neox-hf", TINY "gpt_neox-hf/golden_logits.bin", 5e-5);  // partial rotary, parallel residual, GELU
    check_model(TINY "gpt_bigcode-hf", TINY "gpt_bigcode-hf/golden_logits.bin", 5e-5);  // multi-query c_attn, nn.Linear
    check_model(TINY "mpt-hf", TINY "mpt-hf/golden_logits.bin", 5e-5);              // ALiBi, LayerNorm without bias, Wqkv
    // llama.cpp's own conversions of three of them (tests/reference/make_family_ggufs.py): the same logits
    check_model(TINY "bloom-f32.gguf", TINY "bloom-hf/golden_logits.bin", 5e-5);        // q | k | v back to per head
    check_model(TINY "gpt2-f32.gguf", TINY "gpt2-hf/golden_logits.bin", 5e-5);          // Conv1D already transposed
    check_model(TINY "gpt_bigcode-f32.gguf", TINY "gpt_bigcode-hf/golden_logits.bin", 5e-5);  // "starcoder"
    check_model(TINY "gpt_neox-f32.gguf", TINY "gpt_neox-hf/golden_logits.bin", 5e-5);  // rope.dimension_count: partial
    check_model(TINY "mpt-f32.gguf", TINY "mpt-hf/golden_logits.bin", 5e-5);            // max_alibi_bias 8
    check_model(TINY "mistral-hf", TINY "mistral-hf/golden_logits.bin", 5e-5);   // sliding window (5, shorter than the sequence), GQA
    check_model(TINY "llama3-hf", TINY "llama3-hf/golden_logits.bin", 5e-5);     // rope_theta 500000, GQA, untied
    // stored at lower precision: the weights themselves differ by rounding
    check_model(TINY "qwen2-f16.gguf", TINY "qwen2-hf/golden_logits.bin", 2e-2);
    check_model(TINY "llama-q8_0.gguf", TINY "llama-hf/golden_logits.bin", 0.2);  // measured 0.105: random weights quantise badly
    return check_report("test_forward");
}
