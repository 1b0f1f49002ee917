// fuzz_dataset.c - training data: the input as data.jsonl, data.json,
// data.txt, data.csv and data.tsv through dataset_load with the tiny
// tokenizer and the ChatML template (loaded once), then a split; the JSON,
// CSV and TSV files also through a column map with a prompt format.
#include "common.c"
#include "text/chat_template.h"
#include "train/dataset.h"
#include "text/tokenizer.h"

#define TOK PT_SOURCE_DIR "/tests/data/tiny/llama-hf/tokenizer.json"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pt_tokenizer *tok;
static pt_chat_template *tmpl;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *names[5] = {"data.jsonl", "data.json", "data.txt", "data.csv", "data.tsv"};
    static pt_columns cols = {.prompt = "q", .query = "instruction", .response = "a", .system = "s",
                              .prompt_format = "Q {q} {{x}} : "};
    pt_err err;
    if (!tok) {
        if (tokenizer_load_json(&tok, TOK, &err) || template_load(&tmpl, "chatml", &err)) {
            fprintf(stderr, "fuzz_dataset: %s\n", err.msg);
            abort();
        }
    }
    for (int i = 0; i < 5; i++) {
        char path[512];
        fz_write_rel(path, sizeof path, names[i], data, size);
        pt_dataset d, tr, ev;
        pt_dataset_opts o = {.max_seq_len = 48, .train_on_prompt = (int)(size & 1),
                             .default_system = (size & 2) ? "sys" : NULL,
                             .columns = (size & 4) && i != 2 ? &cols : NULL};
        memset(&tr, 0, sizeof tr);
        memset(&ev, 0, sizeof ev);
        if (dataset_load(&d, path, tok, tmpl, &o, &err) == PT_OK) {
            if (dataset_split(&d, 0.25, 7, &tr, &ev, &err) == PT_OK) {
                dataset_free(&tr);
                dataset_free(&ev);
            }
        }
        dataset_free(&d);
        unlink(path);
    }
    return 0;
}
