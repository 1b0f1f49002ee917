#!/usr/bin/env python3
"""make_family_goldens.py - PEFT goldens for the tiny checkpoints of the other
decoder families (make_tiny_families.py), read by tests/test_families.c.

    .venv-ref/bin/python tests/reference/make_family_goldens.py

For each family NAME (tests/data/tiny/NAME-hf):

  tests/data/peft/NAME-lora/     PeftModel.save_pretrained of the seed's
        LoraConfig on PEFT's default targets for the model type (for BLOOM:
        r=8, lora_alpha=32, lora_dropout=0.1, target_modules
        {"query_key_value"}), with init_lora_weights=False so that A and B
        are both random and the adapter changes the logits; golden_logits.bin
        ("PTLG" v1, as make_tiny_models.py) of the PeftModel in eval mode on
        the base's golden tokens.
  tests/data/train/NAME-step.safetensors / NAME-step.json
        one training step with r=4, lora_alpha=8, no dropout, on every linear
        layer of the family (the default targets are among them): the initial
        lora_A / lora_B under PEFT's keys and their gradients (key + ".grad");
        the json has r, alpha, targets, tokens (B, T), mask, lengths, loss,
        as make_train_goldens.py writes for the llama.

Check mode (no files written):
  make_family_goldens.py --check DIR
DIR as test_families writes it when PEFTUI_EXPORT_DIR=DIR is set: per family
DIR/NAME/peft (an adapter peftui trained and saved), DIR/NAME/merged (the base
with it merged, exported by peftui), DIR/NAME/logits.bin (peftui's logits with
the adapter). Loads peft/ with PeftModel.from_pretrained onto the tiny base and
merged/ with transformers; both must give peftui's logits within 1e-4.
Exit status 1 on a mismatch.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np
import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(__file__))
from make_tiny_models import ROOT, write_golden  # noqa: E402

DATA = os.path.dirname(ROOT)
# family -> (PEFT's default targets for the model type, every linear layer)
FAMILIES = {
    "bloom": (["query_key_value"], ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"]),
    "gpt2": (["c_attn"], ["c_attn", "c_proj", "c_fc"]),
    "gpt_neox": (["query_key_value"], ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"]),
    "gpt_bigcode": (["c_attn"], ["c_attn", "c_proj", "c_fc"]),
    "mpt": (["Wqkv"], ["Wqkv", "out_proj", "up_proj", "down_proj"]),
    "mistral": (["q_proj", "v_proj"], ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
    "llama3": (["q_proj", "v_proj"], ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
}


def golden_ids(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"PTLG"
    _, n, _ = struct.unpack("<III", data[4:16])
    return list(struct.unpack(f"<{n}i", data[16:16 + 4 * n]))


def peft_adapter(name, targets):
    base = os.path.join(ROOT, f"{name}-hf")
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    torch.manual_seed(21)
    cfg = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.1, target_modules=targets, init_lora_weights=False,
                     task_type="CAUSAL_LM")
    pm = get_peft_model(model, cfg)
    out = os.path.join(DATA, "peft", f"{name}-lora")
    shutil.rmtree(out, ignore_errors=True)
    pm.save_pretrained(out)
    cfg_path = os.path.join(out, "adapter_config.json")   # a path that is the same on every checkout
    with open(cfg_path) as f:
        saved = json.load(f)
    saved["base_model_name_or_path"] = f"tests/data/tiny/{name}-hf"
    with open(cfg_path, "w") as f:
        json.dump(saved, f, indent=2)
    os.remove(os.path.join(out, "README.md"))   # PEFT's model card, nothing to test
    ids = golden_ids(os.path.join(base, "golden_logits.bin"))
    write_golden(pm, ids, os.path.join(out, "golden_logits.bin"))
    print(f"{name}-lora: {sorted(os.listdir(out))}")


# Mistral's sliding window (5 in the tiny model) is longer than no training row
# may be (peftui refuses rows past it): its batch is 5 tokens wide.
SHORT = {"mistral": (5, [5, 3, 4], [1, 1, 2])}


def train_step(name, targets):
    base = os.path.join(ROOT, f"{name}-hf")
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    r, alpha = 4, 8
    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=targets, task_type="CAUSAL_LM")
    pm = get_peft_model(model, cfg)
    rng = np.random.default_rng(4321)
    init = {}
    for pname, p in pm.named_parameters():
        if "lora_" in pname:
            p.data = torch.tensor(rng.uniform(-0.3, 0.3, size=tuple(p.shape)), dtype=torch.float32)
            init[pname.replace(".default", "")] = p
    V = model.config.vocab_size
    B, (T, lengths, starts) = 3, SHORT.get(name, (11, [11, 7, 9], [2, 1, 4]))
    tokens = rng.integers(3, V, size=(B, T))
    mask = np.zeros((B, T), dtype=np.int64)
    for b in range(B):
        tokens[b, lengths[b]:] = 0
        mask[b, starts[b]:lengths[b]] = 1     # prompt tokens before the start are not targets
    labels = torch.tensor(np.where(mask == 1, tokens, -100))
    attn = torch.tensor((np.arange(T)[None, :] < np.array(lengths)[:, None]).astype(np.int64))
    res = pm(input_ids=torch.tensor(tokens), attention_mask=attn, labels=labels)
    res.loss.backward()
    tensors = {}
    for key, p in init.items():
        tensors[key] = p.detach().clone().contiguous()
        tensors[key + ".grad"] = p.grad.detach().clone().contiguous()
    out = os.path.join(DATA, "train")
    save_file(tensors, os.path.join(out, f"{name}-step.safetensors"))
    with open(os.path.join(out, f"{name}-step.json"), "w") as f:
        json.dump({"r": r, "alpha": alpha, "targets": targets, "tokens": tokens.tolist(), "mask": mask.tolist(),
                   "lengths": lengths, "loss": float(res.loss)}, f)
    print(f"{name}-step: loss {float(res.loss):.6f}, {len(tensors)} tensors")


def read_logits(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"PTLG"
    _, n, v = struct.unpack("<III", data[4:16])
    ids = list(struct.unpack(f"<{n}i", data[16:16 + 4 * n]))
    return ids, np.frombuffer(data[16 + 4 * n:], dtype="<f4").reshape(n, v)


def logits(model, ids):
    model.eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def check(root):
    from peft import PeftModel
    bad = 0
    for name in FAMILIES:
        d = os.path.join(root, name)
        if not os.path.isdir(d):
            print(f"{name}: {d} absent (run test_families with PEFTUI_EXPORT_DIR={root})")
            bad += 1
            continue
        ids, want = read_logits(os.path.join(d, "logits.bin"))
        base = AutoModelForCausalLM.from_pretrained(os.path.join(ROOT, f"{name}-hf"), dtype=torch.float32)
        pm = PeftModel.from_pretrained(base, os.path.join(d, "peft"))
        e1 = float(np.abs(logits(pm, ids) - want).max())
        merged = AutoModelForCausalLM.from_pretrained(os.path.join(d, "merged"), dtype=torch.float32)
        e2 = float(np.abs(logits(merged, ids) - want).max())
        print(f"{name}: PEFT loading peftui's adapter: max |logit diff| {e1:.3g}; "
              f"transformers loading peftui's merged model: {e2:.3g}")
        bad += not (e1 < 1e-4 and e2 < 1e-4)
    print("OK" if not bad else "MISMATCH")
    return 1 if bad else 0


def bias_goldens():
    """Qwen2's q/k/v biases trained as PEFT does: bias "all" (every linear bias,
    k_proj's too though LoRA targets q_proj and v_proj) and "lora_only".
      tests/data/peft/qwen2-bias-{all,lora_only}/  saved adapters (biases moved
          off the base's, LoRA random) + golden_logits.bin of the PeftModel
      tests/data/train/qwen2-bias-step.*  one step with bias "all": loss, and
          the gradients of every lora_A / lora_B and every trained bias (keys as
          PEFT names the parameters, ".default" dropped)"""
    base = os.path.join(ROOT, "qwen2-hf")
    ids = golden_ids(os.path.join(base, "golden_logits.bin"))
    for bias in ("all", "lora_only"):
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        torch.manual_seed(31)
        pm = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                                              bias=bias, init_lora_weights=False, task_type="CAUSAL_LM"))
        g = torch.Generator().manual_seed(32)
        with torch.no_grad():
            for n, p in pm.named_parameters():
                if p.requires_grad and n.endswith("bias"):
                    p.add_(0.5 * torch.randn(p.shape, generator=g))
        out = os.path.join(DATA, "peft", f"qwen2-bias-{bias}")
        shutil.rmtree(out, ignore_errors=True)
        pm.save_pretrained(out)
        cfg_path = os.path.join(out, "adapter_config.json")
        with open(cfg_path) as f:
            saved = json.load(f)
        saved["base_model_name_or_path"] = "tests/data/tiny/qwen2-hf"
        with open(cfg_path, "w") as f:
            json.dump(saved, f, indent=2)
        os.remove(os.path.join(out, "README.md"))
        write_golden(pm, ids, os.path.join(out, "golden_logits.bin"))
        print(f"qwen2-bias-{bias}: {sorted(os.listdir(out))}")

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    pm = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                                          bias="all", task_type="CAUSAL_LM"))
    rng = np.random.default_rng(77)
    init = {}
    for pname, p in pm.named_parameters():
        if not p.requires_grad:
            continue
        if "lora_" in pname:
            p.data = torch.tensor(rng.uniform(-0.3, 0.3, size=tuple(p.shape)), dtype=torch.float32)
        init[pname.replace(".default", "")] = p
    V = model.config.vocab_size
    B, T, lengths, starts = 3, 11, [11, 7, 9], [2, 1, 4]
    tokens = rng.integers(3, V, size=(B, T))
    mask = np.zeros((B, T), dtype=np.int64)
    for b in range(B):
        tokens[b, lengths[b]:] = 0
        mask[b, starts[b]:lengths[b]] = 1
    labels = torch.tensor(np.where(mask == 1, tokens, -100))
    attn = torch.tensor((np.arange(T)[None, :] < np.array(lengths)[:, None]).astype(np.int64))
    res = pm(input_ids=torch.tensor(tokens), attention_mask=attn, labels=labels)
    res.loss.backward()
    tensors = {}
    for key, p in init.items():
        tensors[key] = p.detach().clone().contiguous()
        tensors[key + ".grad"] = p.grad.detach().clone().contiguous()
    save_file(tensors, os.path.join(DATA, "train", "qwen2-bias-step.safetensors"))
    with open(os.path.join(DATA, "train", "qwen2-bias-step.json"), "w") as f:
        json.dump({"r": 4, "alpha": 8, "targets": ["q_proj", "v_proj"], "bias": "all", "tokens": tokens.tolist(),
                   "mask": mask.tolist(), "lengths": lengths, "loss": float(res.loss)}, f)
    print(f"qwen2-bias-step: loss {float(res.loss):.6f}, {len(tensors)} tensors")


def main():
    if sys.argv[1:] == ["bias"]:
        bias_goldens()
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    which = sys.argv[1:] or list(FAMILIES)
    for name in which:
        default, every = FAMILIES[name]
        peft_adapter(name, default)
        train_step(name, every)


if __name__ == "__main__":
    main()
