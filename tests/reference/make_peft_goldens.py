#!/usr/bin/env python3
"""make_peft_goldens.py - PEFT-made LoRA adapters and their logits, for the
adapter tests (tests/test_adapter.c, test_lora_config.c, test_export.c).

Run with the reference venv:   /opt/ref/bin/python tests/reference/make_peft_goldens.py
Base model: tests/data/tiny/llama-hf (make_tiny_models.py). Token sequence:
the one in tests/data/tiny/llama-hf/golden_logits.bin. Output, tests/data/peft/:

  tiny-lora/      LoraConfig(r=4, lora_alpha=8, all seven projections,
                  init_lora_weights=False, so A and B are both random and the
                  adapter changes the logits), saved by PeftModel.save_pretrained,
                  plus golden_logits.bin (PTLG, as in make_tiny_models.py) of
                  the PeftModel. merge_and_unload() is checked to give the same
                  logits (max |diff| printed; asserted < 1e-4).
  tiny-rslora/    use_rslora with rank_pattern {q_proj: 2,
                  model.layers.1.mlp.down_proj: 6} and alpha_pattern {v_proj: 3}
                  on q/v/gate/down, init False; logits as above.
  tiny-lora-half/ tiny-lora's tensors stored as A F16 and B BF16, under the
                  keys PEFT uses in memory (".lora_A.default.weight"), and the
                  logits of PeftModel with those rounded values.
  tiny-other/     r=2 on q_proj/v_proj of a llama with other sizes (hidden 32,
                  ffn 48): loading it onto the tiny model must fail on a shape.
  dora/           use_dora=True (adapter_config.json + tensors): refused by name.
  targets.json    for a list of configs, the modules PEFT targets in the tiny
                  llama with their r and scaling, or "error" when PEFT refuses
                  the config or finds no module.

Check mode (no files written):
  make_peft_goldens.py --check DIR
DIR as test_export writes it when PEFTUI_EXPORT_DIR=DIR is set: peft/ (an
adapter peftui made and saved), merged/ (the model with it merged, exported by
peftui), logits.bin (peftui's logits with the adapter active). Loads peft/ with
PeftModel.from_pretrained and merged/ with transformers, and compares both with
peftui's logits (tolerance 1e-4 absolute). Exit status 1 on a mismatch.
"""
import json
import os
import re
import shutil
import struct
import sys
import warnings

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "..", "data", "tiny", "llama-hf")
OUT = os.path.join(HERE, "..", "data", "peft")
ALL7 = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def read_golden(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"PTLG"
    _, n, v = struct.unpack("<III", data[4:16])
    ids = list(struct.unpack(f"<{n}i", data[16:16 + 4 * n]))
    logits = np.frombuffer(data[16 + 4 * n:], dtype="<f4").reshape(n, v)
    return ids, logits


def logits_of(model, ids):
    model.eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def write_golden(logits, ids, path):
    n, v = logits.shape
    with open(path, "wb") as f:
        f.write(b"PTLG" + struct.pack("<III", 1, n, v))
        f.write(np.asarray(ids, dtype="<i4").tobytes())
        f.write(logits.astype("<f4").tobytes())


def base():
    return LlamaForCausalLM.from_pretrained(TINY, dtype=torch.float32)


def save(model, name, base_name="tests/data/tiny/llama-hf"):
    """save_pretrained, with the base path made repository-relative."""
    out = os.path.join(OUT, name)
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out)
    path = os.path.join(out, "adapter_config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg["base_model_name_or_path"] = base_name
    for key in ("target_modules", "exclude_modules"):  # sets: an order that does not change per run
        if isinstance(cfg.get(key), list):
            cfg[key] = sorted(cfg[key])
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    readme = os.path.join(out, "README.md")  # PEFT's model card
    if os.path.exists(readme):
        os.remove(readme)
    return out


def make_adapter(name, cfg, ids, seed, with_logits=True):
    torch.manual_seed(seed)
    model = get_peft_model(base(), cfg)
    out = save(model, name)
    if with_logits:
        lg = logits_of(model, ids)
        write_golden(lg, ids, os.path.join(out, "golden_logits.bin"))
        # reload from disk: what a reader of the folder gets
        again = logits_of(PeftModel.from_pretrained(base(), out), ids)
        merged = logits_of(PeftModel.from_pretrained(base(), out).merge_and_unload(), ids)
        d_base = np.abs(lg - logits_of(base(), ids)).max()
        d_re, d_m = np.abs(lg - again).max(), np.abs(lg - merged).max()
        print(f"{name}: |adapter - base| max {d_base:.3f}, reload {d_re:.2e}, merged {d_m:.2e}")
        assert d_re < 1e-6 and d_m < 1e-4 and d_base > 0.05
    return out


def make_half(ids):
    from safetensors.torch import load_file, save_file
    src, out = os.path.join(OUT, "tiny-lora"), os.path.join(OUT, "tiny-lora-half")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    shutil.copy(os.path.join(src, "adapter_config.json"), out)
    sd = load_file(os.path.join(src, "adapter_model.safetensors"))
    half, rounded = {}, {}
    for k, v in sd.items():
        t = v.to(torch.float16 if ".lora_A." in k else torch.bfloat16)
        half[k.replace(".weight", ".default.weight")] = t
        rounded[k] = t.float()
    save_file(half, os.path.join(out, "adapter_model.safetensors"), metadata={"format": "pt"})
    model = PeftModel.from_pretrained(base(), src)
    # load_state_dict needs the in-memory names (with the adapter name)
    sd_mem = {k.replace("lora_A.weight", "lora_A.default.weight").replace("lora_B.weight", "lora_B.default.weight"): v
              for k, v in rounded.items()}
    missing, unexpected = model.load_state_dict(sd_mem, strict=False)
    assert not unexpected, unexpected
    write_golden(logits_of(model, ids), ids, os.path.join(out, "golden_logits.bin"))


TARGET_CASES = [
    {"target_modules": ["q_proj", "v_proj"]},
    {},  # target_modules null: PEFT's default for llama
    {"target_modules": r".*\.(q|k)_proj"},
    {"target_modules": r"model\.layers\.1\..*proj"},
    {"target_modules": r"q_proj"},  # a regex must match the whole name: nothing
    {"target_modules": "all-linear"},
    {"target_modules": "all-linear", "exclude_modules": ["down_proj", "model.layers.0.self_attn.o_proj"]},
    {"target_modules": ["q_proj", "k_proj", "v_proj"], "exclude_modules": r"model\.layers\.0\..*"},
    {"target_modules": ["q_proj", "up_proj"], "layers_to_transform": [1]},
    {"target_modules": ["q_proj"], "layers_to_transform": 0, "layers_pattern": "layers"},
    {"target_modules": ["q_proj"], "layers_to_transform": [0], "layers_pattern": "h"},
    {"target_modules": ["model.layers.0.self_attn.q_proj", "down_proj"], "layers_to_transform": [1]},
    {"target_modules": ["self_attn.q_proj", "mlp.up_proj"]},
    {"target_modules": ["proj"]},
    {"target_modules": ["q_proj", "v_proj"], "exclude_modules": ["q_proj", "v_proj"]},
    {"target_modules": ["lm_head"]},
    {"target_modules": "all-linear", "r": 4, "lora_alpha": 8, "use_rslora": True,
     "rank_pattern": {"q_proj": 2, r"layers\.1\.mlp\..*": 6, "model.layers.0.self_attn.v_proj": 3},
     "alpha_pattern": {"o_proj": 32, "up_proj": 5}},
    {"target_modules": ["q_proj", "v_proj"], "r": 8, "lora_alpha": 16,
     "rank_pattern": {"proj": 2, "v_proj": 4}},
    {"target_modules": "all-linear", "layers_to_transform": [0]},
]


def target_goldens():
    cases = []
    for case in TARGET_CASES:
        entry = {"config": case}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cfg = LoraConfig(**case)
                model = get_peft_model(base(), cfg)
            mods = []
            for name, mod in model.base_model.model.named_modules():
                if hasattr(mod, "lora_A") and "default" in mod.lora_A:
                    mods.append({"name": name, "r": mod.r["default"], "scale": mod.scaling["default"]})
            entry["modules"] = mods
        except Exception as e:  # PEFT refuses the config or targets nothing
            entry["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        cases.append(entry)
    return cases


def make_all():
    ids, _ = read_golden(os.path.join(TINY, "golden_logits.bin"))
    os.makedirs(OUT, exist_ok=True)
    make_adapter("tiny-lora", LoraConfig(r=4, lora_alpha=8, target_modules=ALL7, lora_dropout=0.05,
                                         init_lora_weights=False, task_type="CAUSAL_LM"), ids, 1)
    make_adapter("tiny-rslora", LoraConfig(
        r=4, lora_alpha=8, use_rslora=True, target_modules=["q_proj", "v_proj", "gate_proj", "down_proj"],
        rank_pattern={"q_proj": 2, "model.layers.1.mlp.down_proj": 6}, alpha_pattern={"v_proj": 3},
        init_lora_weights=False, task_type="CAUSAL_LM"), ids, 2)
    make_half(ids)
    # another base: same layer names, other sizes
    other = LlamaConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
                        num_key_value_heads=1, head_dim=16, vocab_size=300, tie_word_embeddings=True)
    torch.manual_seed(3)
    m = get_peft_model(LlamaForCausalLM(other), LoraConfig(r=2, target_modules=["q_proj", "v_proj"],
                                                          init_lora_weights=False))
    save(m, "tiny-other", "made-up-llama-hidden-32")
    torch.manual_seed(4)
    m = get_peft_model(base(), LoraConfig(r=2, target_modules=["q_proj"], use_dora=True))
    save(m, "dora")
    with open(os.path.join(OUT, "targets.json"), "w") as f:
        json.dump(target_goldens(), f, indent=1)
    print("tests/data/peft written; tokens", ids)


def check(d):
    ids, mine = read_golden(os.path.join(d, "logits.bin"))
    ok = True
    peft_lg = logits_of(PeftModel.from_pretrained(base(), os.path.join(d, "peft")), ids)
    diff = np.abs(peft_lg - mine).max()
    print(f"PEFT loading peftui's adapter: max |logit diff| vs peftui {diff:.2e}")
    ok &= bool(diff < 1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        merged = AutoModelForCausalLM.from_pretrained(os.path.join(d, "merged"), dtype=torch.float32)
    diff = np.abs(logits_of(merged, ids) - mine).max()
    print(f"transformers loading peftui's merged model: max |logit diff| vs peftui {diff:.2e}")
    ok &= bool(diff < 1e-4)
    cfg = LoraConfig.from_pretrained(os.path.join(d, "peft"))
    print(f"LoraConfig.from_pretrained: r={cfg.r} alpha={cfg.lora_alpha} rslora={cfg.use_rslora} "
          f"targets={sorted(cfg.target_modules) if not isinstance(cfg.target_modules, str) else cfg.target_modules} "
          f"rank_pattern={cfg.rank_pattern}")
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    make_all()
