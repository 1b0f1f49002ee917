// train_params.h - a training run's parameters (transformers' meanings) and
// what a run reports: its state, one record per optimizer step, a status
// snapshot. Plain data, for the public header and the trainer alike.
#ifndef PT_TRAIN_PARAMS_H
#define PT_TRAIN_PARAMS_H

#include <stdint.h>
#include "core/pt_error.h"

typedef enum { PT_SCHED_CONSTANT, PT_SCHED_LINEAR, PT_SCHED_COSINE } pt_sched;

typedef struct {
    float lr;                 // peak learning rate (2e-4)
    pt_sched sched;
    int warmup_steps;
    float weight_decay;       // AdamW, decoupled (0.0)
    float beta1, beta2, eps;  // 0.9, 0.999, 1e-8
    float max_grad_norm;      // clip (1.0); <= 0 off
    int batch;                // micro-batch size (sequences)
    int grad_accum;           // micro-batches per optimizer step
    int epochs;               // used when max_steps <= 0
    int max_steps;
    int max_seq_len;
    int save_every;           // steps; 0: only at the end
    int eval_every;           // steps; 0: never (besides the end, when there is an eval set)
    double eval_frac;         // held-out share of the rows
    uint64_t seed;            // shuffling, init, dropout
    int n_threads;
    char device[16];          // backend_create name: "auto" (default), "cpu", "cuda", "emu", ...
    char out_dir[1024];
    char resume_dir[1024];    // "" or a checkpoint folder to continue from
    char template_name[64];
} pt_train_params;

void train_params_defaults(pt_train_params *p);

// Every field with PEFT/transformers' meaning; each problem tagged with the
// field's name as spelled here ("lr", "batch", ...). Returns the count.
int train_params_problems(const pt_train_params *p, pt_problem *out, int cap);

typedef enum {
    PT_TRAIN_IDLE, PT_TRAIN_STARTING, PT_TRAIN_RUNNING, PT_TRAIN_PAUSED, PT_TRAIN_STOPPING, PT_TRAIN_DONE,
    PT_TRAIN_FAILED, PT_TRAIN_CANCELLED,
} pt_train_state;
const char *train_state_name(pt_train_state s);   // "running", "paused", ...

typedef struct {              // one optimizer step, as written to log.jsonl
    int step;
    float loss, lr, grad_norm;
    float eval_loss;          // NaN when not evaluated at this step
    double tokens_per_s, elapsed_s;
} pt_train_record;

typedef struct {              // a snapshot for the UI
    pt_train_state state;
    int step, total_steps, epoch;
    pt_train_record last;
    float last_eval_loss;     // NaN until the first eval
    double eta_s;
    char message[256];        // what it is doing, or the error that stopped it
    char last_checkpoint[1024];
    char device[160];         // the backend it runs on, described ("cpu, 2 threads", "cuda: NVIDIA H100 ...")
    long dropped;             // records trainer_poll lost because its ring was full
} pt_train_status;

#endif
