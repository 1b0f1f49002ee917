// train_graph.h - forward and backward of the decoder for training, with
// LoRA: activations of a (B, T) batch kept for the backward pass, gradients
// only for the adapter's A, B (and biases when the config asks). The base
// weights are read, never copied or changed.
#ifndef PT_TRAIN_GRAPH_H
#define PT_TRAIN_GRAPH_H

#include <stdint.h>
#include "backend/backend.h"
#include "lora/adapter_dev.h"
#include "lora/lora.h"
#include "model/model.h"
#include "model/weights_dev.h"

typedef struct pt_train_graph pt_train_graph;

// B sequences of up to T tokens a micro-batch. bw: the base on be, shared
// with the caller (who keeps it alive), or NULL to upload (alias) its own.
// On a device backend the adapter's parameters are mirrored there: the
// graph and the optimizer work on train_graph_params; download them into
// a->params before reading or saving a.
int train_graph_create(pt_train_graph **out, pt_backend *be, const pt_model *m, const pt_bweights *bw,
                       pt_adapter *a, int B, int T, pt_err *err);
// As train_graph_create, training the mirror adev of a that the caller
// already holds on be (NULL: the graph mirrors a itself). The graph updates
// adev's parameters; the caller keeps adev alive.
int train_graph_create_shared(pt_train_graph **out, pt_backend *be, const pt_model *m, const pt_bweights *bw,
                              pt_adapter *a, pt_adapter_dev *adev, int B, int T, pt_err *err);
void train_graph_free(pt_train_graph *g);

// What training an adapter costs in memory on backend be, in bytes. The job
// is what it allocates there (held to this: the measured peak is within a
// few percent); base and adapter exist already (on a host backend the base
// is the model's own arrays and the adapter its host copy: 0 and counted
// apart from the job).
typedef struct {
    size_t base;          // the base weights on be (0 where they alias the model's)
    size_t adapter;       // A, B and saved modules (the mirror on a device)
    size_t grads;         // one float per parameter
    size_t moments;       // AdamW m and v
    size_t activations;   // saved activations and the backward's buffers at batch B x T
    size_t scratch;       // the backend's own at its peak (attention, bf16 operand copies)
    size_t job;           // grads + moments + activations + scratch (+ the adapter's mirror on a device)
    size_t total;         // base + adapter + the rest of the job
} pt_train_plan;

// mods (L * PT_LIN_COUNT, r 0 where untargeted) and n_params as lora_match
// gives them; T the longest row the job will see; n_threads the job's
// (<= 0: be's).
void train_graph_plan(const pt_model *m, const pt_lora_module *mods, size_t n_params, float dropout, int B, int T,
                      pt_backend *be, int n_threads, pt_train_plan *out);

// Gradient buffer, the same layout as a->params (n_params floats), backend memory.
float *train_graph_grads(pt_train_graph *g);
// The parameters the graph reads (backend memory; a->params itself on the CPU).
float *train_graph_params(pt_train_graph *g);
void train_graph_download_params(pt_train_graph *g);  // backend -> a->params
void train_graph_upload_params(pt_train_graph *g);    // a->params -> backend
void train_graph_zero_grads(pt_train_graph *g);

// tokens (B, T), loss mask (B, T) (1 = token t is a target, predicted from
// position t-1), lengths (B) (rows are padded after their length).
// Runs forward and (when backward) backward, adding grad_scale * d(loss)/d(params)
// into the gradient buffer, where loss is the mean over target tokens of the batch.
// dropout_seed drives lora_dropout (no dropout when backward == 0).
int train_graph_step(pt_train_graph *g, const int32_t *tokens, const uint8_t *mask, const int *lengths,
                     int backward, float grad_scale, uint64_t dropout_seed,
                     float *loss, int *n_targets, pt_err *err);

#endif
