// adapter_dev.h - a LoRA adapter as a backend sees it. On host-memory
// backends the adapter itself (aliased); on a device backend a mirror: its
// flat parameter buffer uploaded once, and module views (A, B, the saved
// modules) pointing into that copy. Training updates the mirror; download
// brings it back to the host adapter (for checkpoints and export).
#ifndef PT_ADAPTER_DEV_H
#define PT_ADAPTER_DEV_H

#include "backend/backend.h"
#include "lora/lora.h"

typedef struct {
    pt_adapter view;        // what the backend ops read: mods, params, save_* in backend memory
    pt_lora_module *mods;   // (n_layer * PT_LIN_COUNT) owned when mirrored
    float *params;          // (n_params) backend buffer, owned when mirrored
    pt_backend *be;
    int mirrored;           // 0: view is a shallow copy of the host adapter
} pt_adapter_dev;

int adapter_dev_init(pt_adapter_dev *d, pt_backend *be, const pt_adapter *a, pt_err *err);
// A mirror of its own on every backend, host ones too (a snapshot of an
// adapter that keeps changing: the one in training).
int adapter_dev_init_copy(pt_adapter_dev *d, pt_backend *be, const pt_adapter *a, pt_err *err);
void adapter_dev_free(pt_adapter_dev *d);
// host a -> mirror (after the host parameters changed, e.g. a resumed checkpoint)
void adapter_dev_upload(pt_adapter_dev *d, const pt_adapter *a);
// mirror -> host a (before saving)
void adapter_dev_download(const pt_adapter_dev *d, pt_adapter *a);

#endif
