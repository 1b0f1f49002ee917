// fuzz_tokenizer_json.c - tokenizer.json (the input) through tokenizer_load_json;
// a tokenizer that loads must encode and decode a fixed text.
#include "common.c"
#include "text/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[512];
    pt_err err;
    fz_write_rel(path, sizeof path, "tokenizer.json", data, size);
    pt_tokenizer *tok = NULL;
    if (tokenizer_load_json(&tok, path, &err) == PT_OK) {
        static const char text[] = "Hello <|im_start|>user\nwörld  123 \xF0\x9F\x98\x80<s></s>";
        for (int ps = 0; ps < 2; ps++) {
            int32_t *ids = NULL;
            int n = 0;
            if (tokenizer_encode(tok, text, sizeof text - 1, 1, ps, &ids, &n, &err) == PT_OK) {
                free(tokenizer_decode(tok, ids, n, ps));
                free(ids);
            }
        }
        (void)tokenizer_bos(tok);
        (void)tokenizer_eos(tok);
        (void)tokenizer_chat_template(tok);
        int nv = tokenizer_vocab_size(tok);
        for (int id = 0; id < nv && id < 64; id++) {
            char buf[64];
            (void)tokenizer_piece(tok, id);
            (void)tokenizer_token_bytes(tok, id, buf, sizeof buf);
            (void)tokenizer_is_eog(tok, id);
        }
        tokenizer_free(tok);
    }
    return 0;
}
