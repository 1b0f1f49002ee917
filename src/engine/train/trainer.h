// trainer.h - the LoRA training job: AdamW, learning-rate schedules, gradient
// accumulation and clipping, eval split, checkpoints in PEFT's layout with
// optimizer state and trainer_state.json, resume. Runs in its own thread (or
// the caller's, trainer_run) and publishes its progress as events and
// through a mutex-guarded status a UI polls.
#ifndef PT_TRAINER_H
#define PT_TRAINER_H

#include <stdint.h>
#include "train/dataset.h"
#include "train/train_params.h"
#include "backend/backend.h"
#include "lora/adapter_dev.h"
#include "lora/lora.h"
#include "model/model.h"
#include "model/weights_dev.h"
#include "core/pt_error.h"

typedef enum {
    PT_TEV_STEP,          // rec: an optimizer step (eval_loss set when it was evaluated)
    PT_TEV_EVAL,          // rec: the eval at that step
    PT_TEV_CHECKPOINT,    // text: the checkpoint folder written
    PT_TEV_STATE,         // state: running, paused, stopping
    PT_TEV_WARNING,       // text
    PT_TEV_DONE,          // state DONE, CANCELLED or FAILED; status and text say how it ended
} pt_train_event_kind;

typedef struct {
    pt_train_event_kind kind;
    pt_train_record rec;
    pt_train_state state;
    int status;           // DONE: PT_OK, or the error that stopped it
    char text[1100];
} pt_train_event;

// Where a job runs and who hears it. Every hook is called on the job's thread.
typedef struct {
    pt_backend *be;             // the lane to run on; NULL: the job makes its own backend (p->device)
    const pt_bweights *bw;      // the base on be; NULL: the job uploads (aliases) its own
    pt_adapter_dev *adev;       // the adapter already mirrored on be (shared); NULL: the job mirrors it
    void *ud;
    void (*on_event)(void *ud, const pt_train_event *e);
    // At each step boundary (and once when set up, at the step it starts
    // from): params (n floats, backend memory of be) are consistent until it
    // returns, so it may copy them.
    void (*on_step)(void *ud, pt_backend *be, const float *params, size_t n, int step);
    // The job's thread count now; read before every micro-batch (NULL: p->n_threads).
    int (*threads)(void *ud);
} pt_train_env;

typedef struct pt_trainer pt_trainer;

// Checks the parameters and the output folder (errors come back here) and
// makes the job; nothing heavy. The trainer borrows m, a, train and eval
// (eval may be NULL) and env's parts until trainer_free / trainer_join.
// env may be NULL: its own backend and base, no hooks.
int trainer_create(pt_trainer **out, pt_model *m, pt_adapter *a, pt_dataset *train, pt_dataset *eval,
                   const pt_train_params *p, const pt_train_env *env, pt_err *err);
// The job on the calling thread: set-up (backend, graph, optimizer, resume),
// the steps, the saves. Returns how it ended (also in the status).
int trainer_run(pt_trainer *t, pt_err *err);
void trainer_free(pt_trainer *t);
// trainer_create, then trainer_run on a thread of its own; returns at once.
int trainer_start(pt_trainer **out, pt_model *m, pt_adapter *a, pt_dataset *train, pt_dataset *eval,
                  const pt_train_params *p, const pt_train_env *env, pt_err *err);
// Each takes effect within one micro-batch, also during set-up and eval.
void trainer_pause(pt_trainer *t);
void trainer_resume(pt_trainer *t);
void trainer_stop(pt_trainer *t);       // drops the unfinished step, saves a checkpoint and the adapter, ends
void trainer_cancel(pt_trainer *t);     // drops the unfinished step, ends without writing anything more
void trainer_status(pt_trainer *t, pt_train_status *s);
// Records since the last call (up to cap); returns the count.
int trainer_poll(pt_trainer *t, pt_train_record *recs, int cap);
// Waits for the thread (of trainer_start); returns its final status code and frees t.
int trainer_join(pt_trainer *t, pt_err *err);

#endif
