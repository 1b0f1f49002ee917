// test_adapter.c - LoRA adapters on a loaded base: PEFT-made folders
// (tests/data/peft, from tests/reference/make_peft_goldens.py) loaded and run
// through the forward pass against PEFT's logits; save -> load bit for bit;
// merge / unmerge; and every bad input: another base's adapter (shapes), DoRA,
// tensors the config does not target or lacks, an unwritable folder, a save
// that fails half-way (the previous adapter survives), another base's
// fingerprint (a warning).
//
// Tolerance: 1e-4 absolute on logits of magnitude ~10: float32 against
// PyTorch float32, different summation order (measured max ~2e-5).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "golden.h"
#include "backend/cpu_blas.h"
#include "lora/export.h"
#include "infer/forward.h"
#include "lora/lora.h"
#include "io/mapped_file.h"
#include "model/model.h"
#include "io/safetensors.h"

#define TINY PT_SOURCE_DIR "/tests/data/tiny/"
#define PEFT PT_SOURCE_DIR "/tests/data/peft/"
static const double TOL = 1e-4;

// logits of every position with adapter a (or NULL) at scale s; one_by_one:
// through the KV cache a token at a time (the quantised decode path where there is one)
static double run_vs(pt_runtime *rt, const pt_adapter *a, float s, const golden *g, int one_by_one) {
    pt_err err = {0};
    float *out = malloc(sizeof(float) * (size_t)g->n * g->V);
    int rc = runtime_set_adapter(rt, a, s, &err);
    for (int i = 0; rc == PT_OK && one_by_one && i < g->n; i++)
        rc = runtime_forward(rt, g->tokens + i, 1, out + (size_t)i * g->V, 0, &err);
    if (rc == PT_OK && !one_by_one) rc = runtime_forward(rt, g->tokens, g->n, out, 1, &err);
    CHECKF(rc == PT_OK, "forward: %s", err.msg);
    double d = rc == PT_OK ? max_diff(out, g->logits, (size_t)g->n * g->V) : 1e9;
    free(out);
    return d;
}

static void test_peft_adapters(pt_model *m, pt_backend *be) {
    golden base, g;
    pt_runtime rt;
    pt_err err = {0};
    char warn[512];
    CHECK(golden_read(&base, TINY "llama-hf/golden_logits.bin"));
    CHECK(runtime_init(&rt, be, m, 64, 16, &err) == PT_OK);
    static const char *const NAMES[] = {"tiny-lora", "tiny-rslora", "tiny-lora-half"};
    for (int k = 0; k < 3; k++) {
        char dir[512], gp[600];
        snprintf(dir, sizeof dir, PEFT "%s", NAMES[k]);
        snprintf(gp, sizeof gp, "%s/golden_logits.bin", dir);
        pt_adapter a;
        int rc = adapter_load(&a, m, dir, warn, sizeof warn, &err);
        CHECKF(rc == PT_OK, "%s: %s", NAMES[k], err.msg);
        if (rc) continue;
        CHECK(!strcmp(a.name, NAMES[k]) && warn[0] == 0 && a.base_fingerprint[0] == 0 && !strcmp(a.base_name, "tests/data/tiny/llama-hf"));
        CHECK(golden_read(&g, gp));
        double d = run_vs(&rt, &a, 1.0f, &g, 0);
        printf("%s (%s): max |logit - PEFT| %.2g\n", NAMES[k], be->ops->name, d);
        CHECKF(d < TOL, "%s: max |logit - PEFT| %g", NAMES[k], d);
        d = run_vs(&rt, &a, 1.0f, &g, 1);
        CHECKF(d < TOL, "%s, token by token: max |logit - PEFT| %g", NAMES[k], d);
        CHECK(run_vs(&rt, &a, 1.0f, &base, 0) > 0.5);   // it does change the output
        CHECK(run_vs(&rt, &a, 0.0f, &base, 0) < TOL);   // scale 0: the base
        CHECK(run_vs(&rt, NULL, 1.0f, &base, 0) < TOL); // none: the base
        if (k == 1) {  // rank_pattern / alpha_pattern / rsLoRA resolved per module as PEFT does
            CHECK(a.mods[PT_LIN_Q].r == 2 && fabsf(a.mods[PT_LIN_Q].scale - 8 / sqrtf(2)) < 1e-6f);
            CHECK(a.mods[PT_LIN_V].r == 4 && fabsf(a.mods[PT_LIN_V].scale - 1.5f) < 1e-6f);
            CHECK(a.mods[PT_LIN_COUNT + PT_LIN_DOWN].r == 6 && a.mods[PT_LIN_DOWN].r == 4);
        }
        if (k == 0) {
            // merge: same logits without the adapter pass; unmerge: the base back
            size_t nw = m->n_params;
            float *saved = malloc(nw * sizeof(float));
            memcpy(saved, m->weights_mem, nw * sizeof(float));
            CHECK(adapter_merge(&a, m, 1.0f, &err) == PT_OK && a.merged && m->n_merged == 1);
            CHECK(adapter_merge(&a, m, 1.0f, &err) == PT_ERR_ARG);  // twice: refused
            d = run_vs(&rt, &a, 1.0f, &g, 0);
            CHECKF(d < TOL, "merged: max |logit - PEFT| %g", d);
            d = run_vs(&rt, NULL, 1.0f, &g, 0);
            CHECKF(d < TOL, "merged, no adapter set: %g", d);
            CHECK(adapter_unmerge(&a, m, 1.0f, &err) == PT_OK && !a.merged && m->n_merged == 0);
            CHECK(adapter_unmerge(&a, m, 1.0f, &err) == PT_ERR_ARG);
            double dw = max_diff(m->weights_mem, saved, nw);
            CHECKF(dw < 1e-6, "unmerge restores the weights: max |diff| %g", dw);
            CHECK(run_vs(&rt, NULL, 1.0f, &base, 0) < TOL);
            // a half-strength merge is a half-strength adapter
            CHECK(adapter_merge(&a, m, 0.5f, &err) == PT_OK);
            float *o1 = malloc(sizeof(float) * (size_t)g.n * g.V), *o2 = malloc(sizeof(float) * (size_t)g.n * g.V);
            runtime_set_adapter(&rt, NULL, 1, &err);
            runtime_forward(&rt, g.tokens, g.n, o1, 1, &err);
            CHECK(adapter_unmerge(&a, m, 0.5f, &err) == PT_OK);
            runtime_set_adapter(&rt, &a, 0.5f, &err);
            runtime_forward(&rt, g.tokens, g.n, o2, 1, &err);
            CHECKF(max_diff(o1, o2, (size_t)g.n * g.V) < TOL, "merge at 0.5 vs adapter at 0.5");
            memcpy(m->weights_mem, saved, nw * sizeof(float));
            free(o1);
            free(o2);
            free(saved);
        }
        golden_free(&g);
        adapter_free(&a);
    }
    runtime_free(&rt);
    golden_free(&base);
}

static void test_round_trip(const pt_model *m, const pt_model *qwen, const char *tmp) {
    pt_adapter a, b;
    pt_err err = {0};
    char dir[700], warn[512];
    snprintf(dir, sizeof dir, "%s/nested/dir/rt", tmp);  // mkdir -p
    CHECK(adapter_load(&a, m, PEFT "tiny-rslora", warn, sizeof warn, &err) == PT_OK);
    snprintf(a.template_name, sizeof a.template_name, "chatml");
    snprintf(a.base_name, sizeof a.base_name, "%s", m->cfg.name);
    model_fingerprint(m, a.base_fingerprint, sizeof a.base_fingerprint);
    int rc = adapter_save(&a, m, dir, &err);
    CHECKF(rc == PT_OK, "save: %s", err.msg);
    rc = adapter_load(&b, m, dir, warn, sizeof warn, &err);
    CHECKF(rc == PT_OK, "load: %s", err.msg);
    if (rc == PT_OK) {
        CHECK(b.n_params == a.n_params && !memcmp(a.params, b.params, a.n_params * sizeof(float)));
        int same = 1;
        for (int i = 0; i < a.n_layer * PT_LIN_COUNT; i++)
            same &= a.mods[i].r == b.mods[i].r && a.mods[i].scale == b.mods[i].scale && !a.mods[i].A == !b.mods[i].A;
        CHECK(same);
        CHECK(!strcmp(b.template_name, "chatml") && !strcmp(b.base_fingerprint, a.base_fingerprint) && warn[0] == 0);
        CHECK(b.cfg.use_rslora && b.cfg.n_rank_pattern == 2 && b.cfg.inference_mode);
        adapter_free(&b);
        // onto another base of the same shapes: loads, with a warning
        rc = adapter_load(&b, qwen, dir, warn, sizeof warn, &err);
        CHECKF(rc == PT_OK && strstr(warn, "output may be wrong"), "%d %s / %s", rc,
               err.msg, warn);
        if (rc == PT_OK) adapter_free(&b);
    }
    // a created adapter (peftui's own init and patterns) round-trips too
    pt_lora_config c;
    CHECK(lora_config_from_json(&c, "{\"target_modules\": \"all-linear\", \"r\": 3, \"lora_alpha\": 6, "
                                    "\"rank_pattern\": {\"o_proj\": 5}, \"init_lora_weights\": \"gaussian\"}", "cfg", &err) == PT_OK);
    CHECK(adapter_create(&b, m, &c, 7, &err) == PT_OK);
    lora_config_free(&c);
    for (size_t i = 0; i < b.n_params; i++) b.params[i] += 0.001f * (float)(i % 7);
    snprintf(dir, sizeof dir, "%s/created", tmp);
    CHECK(adapter_save(&b, m, dir, &err) == PT_OK);
    pt_adapter d;
    CHECK(adapter_load(&d, m, dir, warn, sizeof warn, &err) == PT_OK);
    CHECK(d.n_params == b.n_params && !memcmp(b.params, d.params, b.n_params * sizeof(float)) && d.mods[PT_LIN_O].r == 5);
    CHECK(!strcmp(d.base_fingerprint, b.base_fingerprint) && warn[0] == 0);
    adapter_free(&d);
    adapter_free(&b);

    // unwritable: the folder's parent is a file
    char file[600];
    snprintf(file, sizeof file, "%s/plainfile", tmp);
    FILE *fp = fopen(file, "w");
    if (fp) fclose(fp);
    snprintf(dir, sizeof dir, "%s/sub", file);
    rc = adapter_save(&a, m, dir, &err);
    CHECKF(rc == PT_ERR_IO && strstr(err.msg, "plainfile"), "%d %s", rc, err.msg);
    // a save that fails half-way leaves the previous adapter whole
    snprintf(dir, sizeof dir, "%s/nested/dir/rt", tmp);
    char blocker[800];
    snprintf(blocker, sizeof blocker, "%s/adapter_config.json.new", dir);
    mkdir(blocker, 0755);
    pt_adapter z;
    CHECK(adapter_load(&z, m, PEFT "tiny-lora", warn, sizeof warn, &err) == PT_OK);
    rc = adapter_save(&z, m, dir, &err);
    CHECKF(rc == PT_ERR_IO, "blocked save: %d %s", rc, err.msg);
    adapter_free(&z);
    rmdir(blocker);
    char leftover[800];
    snprintf(leftover, sizeof leftover, "%s/adapter_model.safetensors.new", dir);
    CHECK(access(leftover, F_OK) != 0);
    rc = adapter_load(&b, m, dir, warn, sizeof warn, &err);
    CHECKF(rc == PT_OK && b.n_params == a.n_params && !memcmp(a.params, b.params, a.n_params * sizeof(float)),
           "previous adapter intact: %s", err.msg);
    if (rc == PT_OK) adapter_free(&b);
    adapter_free(&a);
}

// writes dir/adapter_config.json and an adapter_model.safetensors of the given tensors
static void write_folder(const char *dir, const char *cfg, const st_write_tensor *ts, int n) {
    char p[700];
    pt_err err = {0};
    pt_mkdir_p(dir, &err);
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    pt_write_file_atomic(p, cfg, strlen(cfg), &err);
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", dir);
    if (n) st_write_f32(p, ts, n, NULL, &err);
}

static void test_bad(const pt_model *m, const char *tmp) {
    pt_adapter a;
    pt_err err = {0};
    char warn[256], dir[600];
    int rc = adapter_load(&a, m, PEFT "tiny-other", warn, sizeof warn, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight") &&
           strstr(err.msg, "[2, 32]") && strstr(err.msg, "[2, 64]") && strstr(err.msg, "another base model"),
           "other base: %d %s", rc, err.msg);
    rc = adapter_load(&a, m, PEFT "dora", warn, sizeof warn, &err);
    CHECKF(rc == PT_ERR_UNSUPPORTED && strstr(err.msg, "use_dora=true"), "dora: %d %s", rc, err.msg);
    rc = adapter_load(&a, m, PEFT "nonexistent", warn, sizeof warn, &err);
    CHECKF(rc == PT_ERR_IO && strstr(err.msg, "nonexistent"), "%d %s", rc, err.msg);
    rc = adapter_load(&a, m, TINY "llama-hf", warn, sizeof warn, &err);  // a model folder, not an adapter
    CHECKF(rc == PT_ERR_IO && strstr(err.msg, "adapter_config.json"), "%d %s", rc, err.msg);

    float A[4 * 64] = {0}, B[64 * 4] = {0};
    st_write_tensor qa = {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", A, 2, {4, 64}};
    st_write_tensor qb = {"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", B, 2, {64, 4}};
    st_write_tensor ka = {"base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight", A, 2, {4, 64}};
    st_write_tensor head = {"base_model.model.lm_head.modules_to_save.default.weight", A, 2, {4, 64}};
    st_write_tensor ts[4];
    const char *cfg = "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"layers_to_transform\": [0]}";
    // a tensor for a module the config does not target
    ts[0] = qa; ts[1] = qb; ts[2] = ka;
    snprintf(dir, sizeof dir, "%s/extra", tmp);
    write_folder(dir, cfg, ts, 3);
    rc = adapter_load(&a, m, dir, warn, sizeof warn, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "k_proj.lora_A") && strstr(err.msg, "does not target"), "%d %s", rc, err.msg);
    // a tensor missing
    snprintf(dir, sizeof dir, "%s/missing", tmp);
    write_folder(dir, cfg, ts, 1);
    rc = adapter_load(&a, m, dir, warn, sizeof warn, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "missing tensor") && strstr(err.msg, "q_proj.lora_B"), "%d %s", rc, err.msg);
    // a saved lm_head the config does not name in modules_to_save
    ts[2] = head;
    snprintf(dir, sizeof dir, "%s/head", tmp);
    write_folder(dir, cfg, ts, 3);
    rc = adapter_load(&a, m, dir, warn, sizeof warn, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "lm_head.modules_to_save") && strstr(err.msg, "not in"), "%d %s", rc,
           err.msg);
    // named, but made for another vocabulary: the shape is wrong
    snprintf(dir, sizeof dir, "%s/head2", tmp);
    write_folder(dir, "{\"r\": 4, \"target_modules\": [\"q_proj\"], \"layers_to_transform\": [0], "
                      "\"modules_to_save\": [\"lm_head\"]}", ts, 3);
    rc = adapter_load(&a, m, dir, warn, sizeof warn, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "[4, 64]") && strstr(err.msg, "another base"), "%d %s", rc, err.msg);
    // a part peftui cannot apply
    st_write_tensor mag = {"base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", A, 1, {64}};
    ts[2] = mag;
    snprintf(dir, sizeof dir, "%s/dora", tmp);
    write_folder(dir, cfg, ts, 3);
    rc = adapter_load(&a, m, dir, warn, sizeof warn, &err);
    CHECKF(rc == PT_ERR_UNSUPPORTED && strstr(err.msg, "lora_magnitude_vector"), "%d %s", rc, err.msg);
    // rank in the file differs from the config's
    snprintf(dir, sizeof dir, "%s/rank", tmp);
    write_folder(dir, "{\"r\": 8, \"target_modules\": [\"q_proj\"], \"layers_to_transform\": [0]}", ts, 2);
    rc = adapter_load(&a, m, dir, warn, sizeof warn, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "[4, 64]") && strstr(err.msg, "[8, 64]"), "%d %s", rc, err.msg);
    // a config whose targets match nothing here
    snprintf(dir, sizeof dir, "%s/nomatch", tmp);
    write_folder(dir, "{\"r\": 4, \"target_modules\": [\"c_attn\"]}", ts, 2);
    rc = adapter_load(&a, m, dir, warn, sizeof warn, &err);
    CHECKF(rc == PT_ERR_ARG && strstr(err.msg, "c_attn") && strstr(err.msg, "q_proj, k_proj"), "%d %s", rc, err.msg);
    // pickle weights only
    snprintf(dir, sizeof dir, "%s/pickle", tmp);
    write_folder(dir, cfg, ts, 0);
    char p[700];
    snprintf(p, sizeof p, "%s/adapter_model.bin", dir);
    FILE *fp = fopen(p, "w");
    if (fp) fclose(fp);
    rc = adapter_load(&a, m, dir, warn, sizeof warn, &err);
    CHECKF(rc == PT_ERR_UNSUPPORTED && strstr(err.msg, "adapter_model.bin"), "%d %s", rc, err.msg);
    // a broken peftui.json
    snprintf(dir, sizeof dir, "%s/meta", tmp);
    write_folder(dir, cfg, ts, 2);
    snprintf(p, sizeof p, "%s/peftui.json", dir);
    pt_write_file_atomic(p, "{oops", 5, &err);
    rc = adapter_load(&a, m, dir, warn, sizeof warn, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "peftui.json"), "%d %s", rc, err.msg);
}

// A quantised base: decode reads the Q8_0 blocks plus the adapter; merged, it
// must read the float32 weights instead (the blocks are stale). Both give the
// same logits; against PEFT on the float base only within Q8_0's error.
static void test_quantised(pt_backend *be) {
    pt_model m;
    pt_adapter a;
    pt_runtime rt;
    pt_err err = {0};
    golden g;
    char warn[256];
    if (model_load(&m, TINY "llama-q8_0.gguf", &err) != PT_OK) { CHECKF(0, "%s", err.msg); return; }
    CHECK(m.qlayers != NULL);
    CHECK(golden_read(&g, PEFT "tiny-lora/golden_logits.bin"));
    CHECK(adapter_load(&a, &m, PEFT "tiny-lora", warn, sizeof warn, &err) == PT_OK);
    CHECK(runtime_init(&rt, be, &m, 64, 16, &err) == PT_OK);
    size_t nl = (size_t)g.n * g.V;
    float *o[2] = {malloc(nl * sizeof(float)), malloc(nl * sizeof(float))};
    for (int k = 0; k < 2; k++) {
        if (k == 1) CHECK(adapter_merge(&a, &m, 1.0f, &err) == PT_OK);
        runtime_set_adapter(&rt, &a, 1.0f, &err);
        for (int i = 0; i < g.n; i++) runtime_forward(&rt, g.tokens + i, 1, o[k] + (size_t)i * g.V, 0, &err);
    }
    double d01 = max_diff(o[0], o[1], nl), dg = max_diff(o[0], g.logits, nl);
    CHECKF(d01 < 1e-3 && dg < 0.5, "Q8_0 + adapter vs merged %g, vs PEFT on the float base %g", d01, dg);
    free(o[0]);
    free(o[1]);
    runtime_free(&rt);
    adapter_free(&a);
    golden_free(&g);
    model_free(&m);
}

int main(int argc, char **argv) {
    CHECK_USE_FAST_BLAS(argv);
    (void)argc;
    pt_model m, q;
    pt_err err = {0};
    pt_backend *be = NULL;
    if (model_load(&m, TINY "llama-hf", &err) != PT_OK || model_load(&q, TINY "qwen2-hf", &err) != PT_OK ||
        backend_cpu_create(&be, 2, &err) != PT_OK) {
        CHECKF(0, "set-up: %s", err.msg);
        return check_report("test_adapter");
    }
    char tmp[] = "/tmp/peftui-adapter-XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    test_peft_adapters(&m, be);
    // the naive backend too: the adapter path goes through the op table
    pt_backend *nb = NULL;
    if (backend_naive_create(&nb, &err) == PT_OK) {
        test_peft_adapters(&m, nb);
        backend_destroy(nb);
    }
    test_quantised(be);
    test_round_trip(&m, &q, tmp);
    test_bad(&m, tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
    backend_destroy(be);
    model_free(&m);
    model_free(&q);
    return check_report("test_adapter");
}
