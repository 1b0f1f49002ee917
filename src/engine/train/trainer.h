// trainer.h - the LoRA training job: AdamW, learning-rate schedules, gradient
// accumulation and clipping, eval split, checkpoints in PEFT's layout with
// optimizer state and trainer_state.json, resume. Runs in its own thread and
// publishes its progress through a mutex-guarded channel a UI polls.
#ifndef PT_TRAINER_H
#define PT_TRAINER_H

#include <stdint.h>
#include "train/dataset.h"
#include "lora/lora.h"
#include "model/model.h"
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

typedef enum { PT_TRAIN_IDLE, PT_TRAIN_RUNNING, PT_TRAIN_PAUSED, PT_TRAIN_STOPPING, PT_TRAIN_DONE, PT_TRAIN_FAILED } pt_train_state;

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
} pt_train_status;

typedef struct pt_trainer pt_trainer;

// Starts the job thread. The trainer borrows m, a, train and eval (eval may
// be NULL) until trainer_join. Errors found before the thread starts come
// back here; later ones in the status (state FAILED) and from trainer_join.
int trainer_start(pt_trainer **out, pt_model *m, pt_adapter *a, pt_dataset *train, pt_dataset *eval,
                  const pt_train_params *p, pt_err *err);
void trainer_pause(pt_trainer *t);
void trainer_resume(pt_trainer *t);
void trainer_stop(pt_trainer *t);       // finishes the current step, saves, ends
void trainer_status(pt_trainer *t, pt_train_status *s);
// Records since the last call (up to cap); returns the count.
int trainer_poll(pt_trainer *t, pt_train_record *recs, int cap);
// Waits for the thread; returns its final status code and frees t.
int trainer_join(pt_trainer *t, pt_err *err);

#endif
