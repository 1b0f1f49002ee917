#!/usr/bin/env python3
"""One LoRA training step of the tiny llama in PEFT + transformers (float32):
the loss and the gradients of every lora_A / lora_B, for given A and B, so
peftui's training graph can be checked against them (tests/test_train_graph.c).

    .venv-ref/bin/python tests/reference/make_train_goldens.py

Writes tests/data/train/step.safetensors: for every targeted module the
initial `...lora_A.weight` (r, in) and `...lora_B.weight` (out, r) under
PEFT's keys, and their gradients under the same keys + ".grad"; and
tests/data/train/step.json: {"r", "alpha", "targets", "tokens": (B, T),
"mask": (B, T), "lengths": (B), "loss"}. mask[b][t] = 1 when token t is a
target (its label is kept); padding and prompt tokens have label -100.
B is random (not PEFT's zero init) so that every gradient is non-zero.
"""
import json, os

import numpy as np
import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
tiny = os.path.join(root, "tests", "data", "tiny", "llama-hf")
out = os.path.join(root, "tests", "data", "train")
os.makedirs(out, exist_ok=True)

torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32)
targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
r, alpha = 4, 8
cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=targets, task_type="CAUSAL_LM")
pm = get_peft_model(model, cfg)
rng = np.random.default_rng(1234)
init = {}
for name, p in pm.named_parameters():
    if "lora_" in name:
        p.data = torch.tensor(rng.uniform(-0.3, 0.3, size=tuple(p.shape)), dtype=torch.float32)
        key = name.replace(".default", "")
        init[key] = p

V = model.config.vocab_size
B, T = 3, 11
lengths = [11, 7, 9]
tokens = rng.integers(3, V, size=(B, T))
mask = np.zeros((B, T), dtype=np.int64)
for b in range(B):
    tokens[b, lengths[b]:] = 0
    start = [2, 1, 4][b]                # prompt tokens before `start` are not targets
    mask[b, start:lengths[b]] = 1
labels = torch.tensor(np.where(mask == 1, tokens, -100))
attn = torch.tensor((np.arange(T)[None, :] < np.array(lengths)[:, None]).astype(np.int64))
res = pm(input_ids=torch.tensor(tokens), attention_mask=attn, labels=labels)
res.loss.backward()

tensors = {}
for key, p in init.items():
    tensors[key] = p.detach().clone().contiguous()
    tensors[key + ".grad"] = p.grad.detach().clone().contiguous()
save_file(tensors, os.path.join(out, "step.safetensors"))
json.dump({"r": r, "alpha": alpha, "targets": targets, "tokens": tokens.tolist(), "mask": mask.tolist(),
           "lengths": lengths, "loss": float(res.loss)}, open(os.path.join(out, "step.json"), "w"))
print("loss", float(res.loss), "tensors", len(tensors))

# The same batch with modules_to_save: whole trainable copies of lm_head and
# embed_tokens (PEFT's ModulesToSaveWrapper; they start as the base weights,
# here perturbed so that the two copies of the tied matrix differ) and LoRA on
# q_proj, v_proj. Written to step_mts.safetensors with the same key scheme
# (the copies under PEFT's on-disk keys) and step_mts.json.
model = AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32)
cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                 modules_to_save=["lm_head", "embed_tokens"], task_type="CAUSAL_LM")
pm = get_peft_model(model, cfg)
init = {}
for name, p in pm.named_parameters():
    if not p.requires_grad:
        continue
    if "lora_" in name:
        p.data = torch.tensor(rng.uniform(-0.3, 0.3, size=tuple(p.shape)), dtype=torch.float32)
    else:
        p.data = p.data + torch.tensor(rng.uniform(-0.05, 0.05, size=tuple(p.shape)), dtype=torch.float32)
    key = name.replace(".modules_to_save.default", "").replace(".default", "")
    init[key] = p
res = pm(input_ids=torch.tensor(tokens), attention_mask=attn, labels=labels)
res.loss.backward()
tensors = {}
for key, p in init.items():
    tensors[key] = p.detach().clone().contiguous()
    tensors[key + ".grad"] = p.grad.detach().clone().contiguous()
save_file(tensors, os.path.join(out, "step_mts.safetensors"))
json.dump({"r": r, "alpha": alpha, "targets": ["q_proj", "v_proj"], "modules_to_save": ["lm_head", "embed_tokens"],
           "tokens": tokens.tolist(), "mask": mask.tolist(), "lengths": lengths, "loss": float(res.loss)},
          open(os.path.join(out, "step_mts.json"), "w"))
print("modules_to_save loss", float(res.loss), sorted(k for k in tensors if "lora" not in k))
