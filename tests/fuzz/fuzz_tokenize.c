// fuzz_tokenize.c - the tokenizer itself on arbitrary bytes: encode the input
// (parse_special off and on), decode ids derived from the input (some out of
// range) whole and through the streaming detokenizer. Tokenizers are loaded
// once: the tiny BPE (Llama-HF), the tiny SentencePiece and Llama-3 BPE.
#include "common.c"
#include "text/tokenizer.h"

#define TOKDIR PT_SOURCE_DIR "/tests/data/"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pt_tokenizer *toks[3];

static void run_one(const pt_tokenizer *tok, const uint8_t *data, size_t size) {
    pt_err err;
    for (int ps = 0; ps < 2; ps++) {
        int32_t *ids = NULL;
        int n = 0;
        if (tokenizer_encode(tok, (const char *)data, size, ps, ps, &ids, &n, &err) == PT_OK) {
            free(tokenizer_decode(tok, ids, n, ps));
            free(ids);
        }
    }
    // Ids from the input, two bytes each; a few beyond the vocabulary or negative.
    int nv = tokenizer_vocab_size(tok);
    int n = (int)(size / 2);
    int32_t *ids = malloc(sizeof *ids * (size_t)(n ? n : 1));
    if (!ids) abort();
    for (int i = 0; i < n; i++) ids[i] = (int32_t)((data[2 * i] | data[2 * i + 1] << 8) % (nv + 8)) - 4;
    free(tokenizer_decode(tok, ids, n, 0));
    free(tokenizer_decode(tok, ids, n, 1));
    pt_detok d;
    detok_init(&d);
    char out[64];
    for (int i = 0; i < n; i++) (void)detok_push(&d, tok, ids[i], out, (size_t)(1 + i % (int)sizeof out));
    (void)detok_flush(&d, out, sizeof out);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!toks[0]) {
        static const char *paths[3] = {TOKDIR "tiny/llama-hf/tokenizer.json",
                                       TOKDIR "tokenizer/spm-tiny/tokenizer.json",
                                       TOKDIR "tokenizer/bpe-llama3-tiny/tokenizer.json"};
        for (int i = 0; i < 3; i++) {
            pt_err err;
            if (tokenizer_load_json(&toks[i], paths[i], &err)) {
                fprintf(stderr, "fuzz_tokenize: %s\n", err.msg);
                abort();
            }
        }
    }
    if (size > 4096) size = 4096;   // keeps each run fast; long inputs add nothing new
    for (int i = 0; i < 3; i++) run_one(toks[i], data, size);
    return 0;
}
