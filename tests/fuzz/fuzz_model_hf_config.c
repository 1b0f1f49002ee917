// fuzz_model_hf_config.c - a Hugging Face model folder whose config.json is the
// input; weights and tokenizer are the tiny test model's (linked once).
#include "common.c"
#include "model/model.h"

#define TINY PT_SOURCE_DIR "/tests/data/tiny/llama-hf/"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char dir[512];
    char path[512];
    pt_err err;
    if (!dir[0]) {
        fz_mkdir(dir, sizeof dir, "model");
        fz_link("model/model.safetensors", TINY "model.safetensors");
        fz_link("model/tokenizer.json", TINY "tokenizer.json");
        fz_link("model/tokenizer_config.json", TINY "tokenizer_config.json");
    }
    fz_write_rel(path, sizeof path, "model/config.json", data, size);
    pt_model m;
    memset(&m, 0, sizeof m);
    if (model_load(&m, dir, &err) == PT_OK) model_free(&m);
    return 0;
}
