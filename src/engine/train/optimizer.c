// optimizer.c - AdamW, gradient clipping and learning-rate schedules with the
// arithmetic of torch.optim.AdamW (single-tensor float32 path: scalars in
// double, element math in float32) and transformers' schedules.
#include "train/optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int adamw_init(pt_adamw *o, pt_backend *be, size_t n, double beta1, double beta2, double eps, double weight_decay,
               pt_err *err) {
    memset(o, 0, sizeof(*o));
    if (n == 0) return pt_fail(err, PT_ERR_ARG, "optimizer: no trainable parameters");
    o->be = be;
    o->m = be ? be->ops->alloc(be, 2 * n * sizeof(float)) : calloc(2 * n, sizeof(float));  // zeroed either way
    if (!o->m) return pt_fail(err, PT_ERR_NOMEM, "optimizer: out of memory for %zu moments", 2 * n);
    o->v = o->m + n;
    o->n = n;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    return PT_OK;
}

void adamw_free(pt_adamw *o) {
    if (o->be && o->m) o->be->ops->free(o->be, o->m);
    else free(o->m);
    memset(o, 0, sizeof(*o));
}

void adamw_step(pt_adamw *o, float *params, const float *grads, double lr) {
    o->step++;
    double t = (double)o->step;
    double bc1 = 1.0 - pow(o->beta1, t);
    double bc2_sqrt = sqrt(1.0 - pow(o->beta2, t));
    // torch turns each Python scalar into the tensor's float32 before the op
    pt_adamw_scalars s = {
        .decay = (float)(1.0 - lr * o->weight_decay),
        .w1 = (float)(1.0 - o->beta1),
        .b2 = (float)o->beta2,
        .w2 = (float)(1.0 - o->beta2),
        .step_size = (float)(lr / bc1),
        .bc2s = (float)bc2_sqrt,
        .eps = (float)o->eps,
    };
    if (o->be) {
        o->be->ops->adamw(o->be, params, grads, o->m, o->v, o->n, &s);
        return;
    }
    for (size_t i = 0; i < o->n; i++) pt_adamw_elem(&params[i], grads[i], &o->m[i], &o->v[i], &s);
}

void adamw_get_moments(const pt_adamw *o, float *mv) {
    if (o->be) {
        o->be->ops->synchronize(o->be);
        o->be->ops->download(o->be, mv, o->m, 2 * o->n * sizeof(float));
    } else {
        memcpy(mv, o->m, 2 * o->n * sizeof(float));
    }
}

void adamw_set_moments(pt_adamw *o, const float *mv) {
    if (o->be) o->be->ops->upload(o->be, o->m, mv, 2 * o->n * sizeof(float));
    else memcpy(o->m, mv, 2 * o->n * sizeof(float));
}

double grad_clip_norm(pt_backend *be, float *grads, size_t n, double max_norm) {
    double ss = 0.0;
    if (be) {
        ss = be->ops->sumsq(be, grads, n);
    } else {
        for (size_t i = 0; i < n; i++) ss += (double)grads[i] * (double)grads[i];
    }
    double norm = sqrt(ss);
    if (!isfinite(norm) || max_norm <= 0) return norm;
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
        float c = (float)coef;
        if (be) {
            be->ops->scale(be, grads, n, c);
        } else {
            for (size_t i = 0; i < n; i++) grads[i] *= c;
        }
    }
    return norm;
}

double lr_schedule(pt_sched sched, double base_lr, int step, int warmup, int total) {
    if (step < warmup) {
        double w = sched == PT_SCHED_CONSTANT ? fmax(1.0, (double)warmup) : (double)(warmup > 1 ? warmup : 1);
        return base_lr * ((double)step / w);
    }
    if (sched == PT_SCHED_CONSTANT) return base_lr;
    int span = total - warmup > 1 ? total - warmup : 1;
    if (sched == PT_SCHED_LINEAR) {
        double f = (double)(total - step) / (double)span;
        return base_lr * (f > 0.0 ? f : 0.0);
    }
    double progress = (double)(step - warmup) / (double)span;
    double f = 0.5 * (1.0 + cos(M_PI * 0.5 * 2.0 * progress));   // num_cycles 0.5
    return base_lr * (f > 0.0 ? f : 0.0);
}
