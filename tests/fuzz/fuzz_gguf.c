// fuzz_gguf.c - GGUF header, metadata and tensor table (gguf_open), then the
// readers on top of it: typed getters, the GGUF tokenizer and model_load.
#include "common.c"
#include "io/gguf.h"
#include "model/model.h"
#include "text/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fz_memfd(data, size, path, sizeof path);
    gguf_file g;
    pt_err err;
    memset(&g, 0, sizeof g);
    if (gguf_open(&g, path, &err) == PT_OK) {
        for (uint64_t i = 0; i < g.n_kv; i++) {
            const gguf_kv *kv = &g.kv[i];
            char key[256], buf[256];
            int64_t iv;
            double dv;
            int found;
            snprintf(key, sizeof key, "%.*s", (int)(kv->key.len < 255 ? kv->key.len : 255), kv->key.ptr);
            gguf_get_i64(&g, key, &iv, &found, &err);
            gguf_get_f64(&g, key, &dv, &found, &err);
            gguf_get_str(&g, key, buf, sizeof buf, &found, &err);
            if (kv->type == GGUF_TYPE_ARRAY && kv->arr_len > 0 && kv->arr_type != GGUF_TYPE_STRING &&
                kv->arr_type != GGUF_TYPE_ARRAY) {
                (void)gguf_arr_i64(kv, 0, &iv);
                (void)gguf_arr_f64(kv, kv->arr_len - 1);
            }
        }
        for (uint64_t i = 0; i < g.n_tensors; i++) (void)ggml_type_name(g.tensors[i].type);
        pt_tokenizer *tok = NULL;
        if (tokenizer_load_gguf(&tok, &g, &err) == PT_OK) {
            int32_t *ids = NULL;
            int n = 0;
            static const char text[] = "Hello <|im_start|>world\n 123 héllo";
            if (tokenizer_encode(tok, text, sizeof text - 1, 1, 1, &ids, &n, &err) == PT_OK) {
                free(tokenizer_decode(tok, ids, n, 0));
                free(ids);
            }
            tokenizer_free(tok);
        }
        gguf_close(&g);
        pt_model m;
        memset(&m, 0, sizeof m);
        if (model_load(&m, path, &err) == PT_OK) model_free(&m);
    }
    close(fd);
    return 0;
}
