// checkpoint.h - what a training checkpoint holds besides the adapter, and how
// it reaches the disk without ever leaving a broken one:
//   OUT/checkpoint-STEP/ adapter_config.json, adapter_model.safetensors (adapter_save),
//                        optimizer.bin (AdamW step and moments),
//                        trainer_state.json (position in the run, HF-style log_history)
// Each file is written under a temporary name in its own folder, flushed to
// disk and renamed; a checkpoint folder is built as checkpoint-STEP.tmp and
// renamed when complete; older checkpoints go only after a new one is in place.
#ifndef PT_CHECKPOINT_H
#define PT_CHECKPOINT_H

#include <stdint.h>
#include <stdio.h>
#include "train/optimizer.h"
#include "core/fileio.h"
#include "core/pt_error.h"
#include "train/trainer.h"

struct cJSON;

// optimizer.bin: "PTADAMW\0", u32 version 1, u32 0, u64 n, i64 step,
// f64 beta1, beta2, eps, weight_decay, f32 m[n], f32 v[n], u64 FNV-1a of
// everything before it. Little-endian. Load checks all of it against o,
// which must already be initialised for the adapter's n; the hyper-parameters
// in use stay those of o (the file's are informational).
int optimizer_save(const pt_adamw *o, const char *path, pt_err *err);
int optimizer_load(pt_adamw *o, const char *path, pt_err *err);

// trainer_state.json: Hugging Face's fields (global_step, epoch, max_steps,
// log_history, best_metric, ...) plus "peftui": the exact position in the data
// order and what resuming needs to check.
typedef struct {
    int global_step;        // optimizer steps done
    int epoch;              // data order position: this epoch (0-based) ...
    int micro;              // ... of which this many micro-batches are consumed
    int micro_per_epoch;    // ceil(n_train / batch)
    uint64_t seed;          // epoch e is shuffled with seed + e
    int n_train, batch, grad_accum, total_steps;
    float last_loss;        // NaN when unknown
    float best_metric;      // lowest eval loss, NaN when never evaluated
    int best_step;
    char best_checkpoint[1024];
    double elapsed_s;       // training time over all runs so far
    int64_t tokens_seen;
    struct cJSON *log_history;  // array of {step, loss, learning_rate, grad_norm, epoch} / {step, eval_loss, epoch}; owned
} pt_ckpt_state;

void ckpt_state_init(pt_ckpt_state *s);
void ckpt_state_free(pt_ckpt_state *s);
int ckpt_state_save(const pt_ckpt_state *s, const pt_train_params *p, const char *path, pt_err *err);
int ckpt_state_load(pt_ckpt_state *s, const char *path, pt_err *err);

// OUT/checkpoint-STEP.tmp, emptied and created (a stale one from a crash is removed).
int ckpt_dir_begin(const char *out, int step, char *tmpdir, size_t cap, pt_err *err);
// Renames the complete tmpdir to OUT/checkpoint-STEP (swapping out an older
// folder of that name, which is then removed); final gets its path.
int ckpt_dir_commit(const char *out, int step, const char *tmpdir, char *final, size_t cap, pt_err *err);
// Keeps the newest `keep` checkpoints with step <= upto (those beyond upto
// come from another run's history and are left alone) and removes stale
// checkpoint-*.tmp folders.
void ckpt_rotate(const char *out, int upto, int keep);

// Rewrites log.jsonl keeping only the lines with "step" <= upto (for a run
// resumed from an earlier checkpoint). A missing file is fine.
int log_truncate(const char *path, int upto, pt_err *err);

#endif
