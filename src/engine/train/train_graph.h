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
