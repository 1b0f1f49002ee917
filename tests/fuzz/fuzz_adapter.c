// fuzz_adapter.c - PEFT adapters: adapter_config.json (the input) through
// lora_config_from_json, and adapter_load of two folders onto the tiny model
// (loaded once): one whose adapter_model.safetensors is the input (real config),
// one whose adapter_config.json is the input (real weights).
#include "common.c"
#include "lora/lora.h"
#include "model/model.h"

#define TINY PT_SOURCE_DIR "/tests/data/tiny/llama-hf"
#define PEFT PT_SOURCE_DIR "/tests/data/peft/tiny-lora/"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pt_model model;
static int loaded;

static void try_load(const char *dir) {
    pt_adapter a;
    pt_err err;
    char warn[256];
    memset(&a, 0, sizeof a);
    if (adapter_load(&a, &model, dir, warn, sizeof warn, &err) == PT_OK) adapter_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char dir_w[512], dir_c[512];
    char path[512];
    pt_err err;
    if (!loaded) {
        if (model_load(&model, TINY, &err)) {
            fprintf(stderr, "fuzz_adapter: %s\n", err.msg);
            abort();
        }
        loaded = 1;
        fz_mkdir(dir_w, sizeof dir_w, "weights");
        fz_link("weights/adapter_config.json", PEFT "adapter_config.json");
        fz_mkdir(dir_c, sizeof dir_c, "config");
        fz_link("config/adapter_model.safetensors", PEFT "adapter_model.safetensors");
    }
    char *json = fz_strdup(data, size);
    pt_lora_config c;
    memset(&c, 0, sizeof c);
    lora_config_defaults(&c);
    if (lora_config_from_json(&c, json, "adapter_config.json", &err) == PT_OK) {
        char *back = lora_config_to_json(&c);
        free(back);
        (void)lora_config_validate(&c, &err);
    }
    lora_config_free(&c);
    free(json);

    fz_write_rel(path, sizeof path, "weights/adapter_model.safetensors", data, size);
    try_load(dir_w);
    fz_write_rel(path, sizeof path, "config/adapter_config.json", data, size);
    try_load(dir_c);
    return 0;
}
