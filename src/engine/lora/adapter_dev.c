// adapter_dev.c - mirrors of an adapter's parameters on a backend.
#include "lora/adapter_dev.h"

#include <stdlib.h>
#include <string.h>

// p's place in the device copy: same offset from params.
static float *moved(const pt_adapter *a, float *dev, float *p) { return p ? dev + (p - a->params) : NULL; }

static int dev_init(pt_adapter_dev *d, pt_backend *be, const pt_adapter *a, int copy, pt_err *err) {
    memset(d, 0, sizeof *d);
    d->be = be;
    d->view = *a;
    if (be->ops->host_memory && !copy) {
        d->params = a->params;
        return PT_OK;
    }
    size_t nm = (size_t)a->n_layer * PT_LIN_COUNT;
    d->mods = malloc(sizeof *d->mods * (nm ? nm : 1));
    d->params = be->ops->alloc(be, sizeof(float) * (a->n_params ? a->n_params : 1));
    if (!d->mods || !d->params) {
        adapter_dev_free(d);
        return pt_fail(err, PT_ERR_NOMEM, "out of %s memory for the adapter (%.1f MiB)", be->ops->name,
                       a->n_params * 4.0 / 1048576.0);
    }
    d->mirrored = 1;
    for (size_t i = 0; i < nm; i++) {
        d->mods[i] = a->mods[i];
        d->mods[i].A = moved(a, d->params, a->mods[i].A);
        d->mods[i].B = moved(a, d->params, a->mods[i].B);
        d->mods[i].bias = moved(a, d->params, a->mods[i].bias);
    }
    d->view.mods = d->mods;
    d->view.params = d->params;
    d->view.save_embed = moved(a, d->params, a->save_embed);
    d->view.save_head = moved(a, d->params, a->save_head);
    adapter_dev_upload(d, a);
    return be->ops->check(be, err);
}

int adapter_dev_init(pt_adapter_dev *d, pt_backend *be, const pt_adapter *a, pt_err *err) {
    return dev_init(d, be, a, 0, err);
}

int adapter_dev_init_copy(pt_adapter_dev *d, pt_backend *be, const pt_adapter *a, pt_err *err) {
    return dev_init(d, be, a, 1, err);
}

void adapter_dev_free(pt_adapter_dev *d) {
    if (d->mirrored && d->params) d->be->ops->free(d->be, d->params);
    free(d->mods);
    memset(d, 0, sizeof *d);
}

void adapter_dev_upload(pt_adapter_dev *d, const pt_adapter *a) {
    if (d->mirrored) d->be->ops->upload(d->be, d->params, a->params, sizeof(float) * a->n_params);
}

void adapter_dev_download(const pt_adapter_dev *d, pt_adapter *a) {
    if (!d->mirrored) return;
    d->be->ops->synchronize(d->be);
    d->be->ops->download(d->be, a->params, d->params, sizeof(float) * a->n_params);
}
