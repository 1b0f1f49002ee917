// fuzz_safetensors.c - safetensors header and offsets (st_open on the input),
// and a sharded index (model.safetensors.index.json = the input, beside the
// tiny model's real shards) through st_set_open_dir.
#include "common.c"
#include "io/safetensors.h"

#define SHARDS PT_SOURCE_DIR "/tests/data/tiny/llama-hf-sharded/"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char dir[512];
    char path[512];
    pt_err err;
    if (!dir[0]) {
        fz_mkdir(dir, sizeof dir, "sharded");
        for (int i = 1; i <= 4; i++) {
            char rel[128], target[512];
            snprintf(rel, sizeof rel, "sharded/model-%05d-of-00004.safetensors", i);
            snprintf(target, sizeof target, SHARDS "model-%05d-of-00004.safetensors", i);
            fz_link(rel, target);
        }
    }
    int fd = fz_memfd(data, size, path, sizeof path);
    st_file f;
    memset(&f, 0, sizeof f);
    if (st_open(&f, path, &err) == PT_OK) {
        (void)st_find(&f, "model.embed_tokens.weight");
        st_close(&f);
    }
    close(fd);

    // Sharded: the index is the input.
    fz_write_rel(path, sizeof path, "sharded/model.safetensors.index.json", data, size);
    st_set s;
    memset(&s, 0, sizeof s);
    if (st_set_open_dir(&s, dir, &err) == PT_OK) {
        (void)st_set_find(&s, "model.norm.weight");
        st_set_close(&s);
    }
    return 0;
}
