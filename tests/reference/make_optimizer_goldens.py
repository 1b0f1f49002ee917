#!/usr/bin/env python3
"""Goldens for peftui's optimizer (src/engine/train/optimizer.c): torch.optim.AdamW
driven by transformers' learning-rate schedules, torch.nn.utils.clip_grad_norm_,
and the schedules' learning rate at every step.

Regenerate (needs the reference venv, see requirements.txt):
    .venv-ref/bin/python tests/reference/make_optimizer_goldens.py

Writes tests/data/optim/adamw.json:
  {"adamw": [{"lr", "betas", "eps", "weight_decay", "sched", "warmup", "total",
              "params0": [...], "grads": [[...] per step],
              "lrs": [lr used by step i], "params": [[...] after step i]}],
   "schedules": {"warmup", "total", "base_lr", "constant": [...], "linear": [...], "cosine": [...]},
   "clip": [{"max_norm", "grads": [...], "norm", "clipped": [...]}]}
All arrays are float32 values written as decimal; params and grads are one
flat vector (two tensors of 7 and 5 elements, concatenated).
"""
import json, os

import torch
from transformers import (get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup,
                          get_linear_schedule_with_warmup)

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out_dir = os.path.join(root, "tests", "data", "optim")
os.makedirs(out_dir, exist_ok=True)

SIZES = (7, 5)
STEPS = 10


def make_sched(opt, name, warmup, total):
    if name == "constant":
        return get_constant_schedule_with_warmup(opt, warmup)
    if name == "linear":
        return get_linear_schedule_with_warmup(opt, warmup, total)
    return get_cosine_schedule_with_warmup(opt, warmup, total)


def flat(ts):
    return [float(x) for t in ts for x in t.detach().reshape(-1).tolist()]


def adamw_case(seed, lr, betas, eps, wd, sched, warmup, total):
    g = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(n, generator=g)) for n in SIZES]
    params0 = flat(params)
    opt = torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=wd)
    sch = make_sched(opt, sched, warmup, total)
    grads, lrs, after = [], [], []
    for _ in range(STEPS):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g) * 0.5
        grads.append(flat([p.grad for p in params]))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
        after.append(flat(params))
    return {"lr": lr, "betas": list(betas), "eps": eps, "weight_decay": wd, "sched": sched,
            "warmup": warmup, "total": total, "params0": params0, "grads": grads, "lrs": lrs, "params": after}


def schedules(warmup, total, base_lr):
    out = {"warmup": warmup, "total": total, "base_lr": base_lr}
    for name in ("constant", "linear", "cosine"):
        opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
        sch = make_sched(opt, name, warmup, total)
        lrs = []
        for _ in range(total + 2):   # two steps past the end: the schedules floor at 0
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sch.step()
        out[name] = lrs
    return out


def clip_case(seed, max_norm, scale):
    g = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.zeros(n)) for n in SIZES]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g) * scale
    grads = flat([p.grad for p in params])
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return {"max_norm": max_norm, "grads": grads, "norm": float(norm), "clipped": flat([p.grad for p in params])}


gold = {
    "adamw": [
        adamw_case(1, 1e-2, (0.9, 0.999), 1e-8, 0.01, "linear", 2, STEPS),
        adamw_case(2, 3e-3, (0.8, 0.99), 1e-6, 0.0, "cosine", 3, STEPS),
        adamw_case(3, 1e-1, (0.9, 0.999), 1e-8, 0.1, "constant", 0, STEPS),
    ],
    "schedules": schedules(3, 10, 2e-4),
    "clip": [clip_case(4, 1.0, 1.0), clip_case(5, 100.0, 1.0), clip_case(6, 0.5, 0.01)],
}
path = os.path.join(out_dir, "adamw.json")
with open(path, "w") as f:
    json.dump(gold, f, indent=1)
    f.write("\n")
print("wrote", path)
