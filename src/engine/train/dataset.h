// dataset.h - training data: Alpaca (instruction/input/output), ShareGPT
// (conversations with from/value), chat messages (role/content) as JSON or
// JSONL, any JSON / JSONL / CSV / TSV rows through a column map, and plain text; rendered through a chat template into tokens with a
// loss mask (answer tokens only by default), truncated to max_seq_len.
#ifndef PT_DATASET_H
#define PT_DATASET_H

#include <stdint.h>
#include "core/pt_error.h"
#include "text/tokenizer.h"
#include "train/columns.h"

struct pt_chat_template;

typedef struct {
    int32_t *tokens;   // (n_full) the whole row; training reads the first n
    uint8_t *loss;     // (n_full) 1: predict this token (its logit comes from position i-1)
    int n;             // tokens kept: n_full, or max_seq_len when the row is cut there
    int n_full;        // tokens before truncation
    int line;          // source line (JSONL) or record index (JSON array), 1-based
    int no_target;     // 1: nothing left to learn within n (kept only with keep_all)
} pt_example;

typedef struct {       // a row that could not be used (keep_going)
    int line;          // as pt_example.line
    char msg[300];     // why, without the "file:line: " the error would start with
} pt_row_fail;

typedef struct {
    pt_example *ex;
    int n;
    int n_truncated;   // examples cut to max_seq_len
    int n_skipped;     // examples with no loss token left after truncation
    char format[16];   // "alpaca", "sharegpt", "messages", "columns", "text"
    pt_row_fail *fails; // (n_fails) rows that failed to parse (keep_going)
    int n_fails;
} pt_dataset;

typedef struct {
    int max_seq_len;          // truncate to this many tokens
    int train_on_prompt;      // 1: loss on every token, not just answers
    const char *default_system; // system message the template adds when a row has none (may be NULL)
    int keep_going;           // a bad row goes into fails instead of failing the load (previews)
    int keep_all;             // rows with no target left stay in ex (no_target set), still counted in n_skipped
    const pt_columns *columns; // a column map (columns.h); NULL or empty: the format from each row's keys
} pt_dataset_opts;

// Format from the extension (.json, .jsonl, .csv, .tsv, .txt) and each row's
// keys, or the column map when opts->columns names one.
// A bad row is an error naming the file and its line.
int dataset_load(pt_dataset *d, const char *path, const pt_tokenizer *tok, const struct pt_chat_template *tmpl,
                 const pt_dataset_opts *opts, pt_err *err);
void dataset_free(pt_dataset *d);

// Seeded split into train and eval (eval_frac of the rows, at least 1 when
// eval_frac > 0 and there are >= 2 rows). Examples are moved, d is emptied.
int dataset_split(pt_dataset *d, double eval_frac, uint64_t seed, pt_dataset *train, pt_dataset *eval, pt_err *err);

#endif
