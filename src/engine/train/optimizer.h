// optimizer.h - AdamW exactly as torch.optim.AdamW, global gradient-norm
// clipping as torch.nn.utils.clip_grad_norm_, and the learning-rate schedules
// of transformers' get_{constant,linear,cosine}_schedule_with_warmup.
//
// n is the number of trainable floats: the adapter's flat parameter buffer
// (pt_adapter.params), its gradients and both moments share that layout.
#ifndef PT_OPTIMIZER_H
#define PT_OPTIMIZER_H

#include <stddef.h>
#include <stdint.h>
#include "backend/backend.h"
#include "core/pt_error.h"
#include "train/trainer.h"

typedef struct {
    double beta1, beta2, eps, weight_decay;
    size_t n;
    int64_t step;   // optimizer steps taken (torch's state["step"])
    pt_backend *be; // where m, v, params and grads live; NULL: plain host memory
    float *m;       // (n) first moment
    float *v;       // (n) second moment; m and v are one allocation, owned by m
} pt_adamw;

// be: the backend holding params and grads (its memory gets m and v), or NULL for host arrays.
int adamw_init(pt_adamw *o, pt_backend *be, size_t n, double beta1, double beta2, double eps, double weight_decay,
               pt_err *err);
void adamw_free(pt_adamw *o);
// One update of params (n) from grads (n) at learning rate lr:
//   p *= 1 - lr*wd;  m = lerp(m, g, 1-b1);  v = b2*v + (1-b2)*g*g
//   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
void adamw_step(pt_adamw *o, float *params, const float *grads, double lr);
// m then v (2n floats) to or from host memory, wherever they live (checkpoints).
void adamw_get_moments(const pt_adamw *o, float *mv);
void adamw_set_moments(pt_adamw *o, const float *mv);

// L2 norm over all of grads (n) (on be, or host memory when be is NULL);
// when max_norm > 0 and the clip factor max_norm / (norm + 1e-6) is below 1,
// grads are scaled by it. Returns the norm before clipping (NaN/Inf pass
// through, grads then left untouched).
double grad_clip_norm(pt_backend *be, float *grads, size_t n, double max_norm);

// Learning rate of optimizer step `step` (0-based: the first update uses
// step 0) out of `total`, as transformers' LambdaLR gives it.
double lr_schedule(pt_sched sched, double base_lr, int step, int warmup, int total);

#endif
