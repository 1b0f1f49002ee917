// optimizer.c - AdamW, gradient clipping and learning-rate schedules with the
// arithmetic of torch.optim.AdamW (single-tensor float32 path: scalars in
// double, element math in float32) and transformers' schedules.
#include "optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int adamw_init(pt_adamw *o, size_t n, double beta1, double beta2, double eps, double weight_decay, pt_err *err) {
    memset(o, 0, sizeof(*o));
    if (n == 0) return pt_fail(err, PT_ERR_ARG, "optimizer: no trainable parameters");
    o->m = calloc(2 * n, sizeof(float));
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
    free(o->m);
    memset(o, 0, sizeof(*o));
}

void adamw_step(pt_adamw *o, float *params, const float *grads, double lr) {
    o->step++;
    double t = (double)o->step;
    double bc1 = 1.0 - pow(o->beta1, t);
    double bc2_sqrt = sqrt(1.0 - pow(o->beta2, t));
    // torch turns each Python scalar into the tensor's float32 before the op
    float decay = (float)(1.0 - lr * o->weight_decay);
    float w1 = (float)(1.0 - o->beta1);
    float b2 = (float)o->beta2;
    float w2 = (float)(1.0 - o->beta2);
    float step_size = (float)(lr / bc1);
    float bc2s = (float)bc2_sqrt;
    float eps = (float)o->eps;
    float *m = o->m, *v = o->v;
    size_t n = o->n;
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        float p = params[i] * decay;
        m[i] = m[i] + w1 * (g - m[i]);           // torch.lerp, weight < 0.5
        v[i] = v[i] * b2 + w2 * g * g;
        float denom = sqrtf(v[i]) / bc2s + eps;
        params[i] = p - step_size * (m[i] / denom);
    }
}

double grad_clip_norm(float *grads, size_t n, double max_norm) {
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)grads[i] * (double)grads[i];
    double norm = sqrt(ss);
    if (!isfinite(norm) || max_norm <= 0) return norm;
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
        float c = (float)coef;
        for (size_t i = 0; i < n; i++) grads[i] *= c;
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
