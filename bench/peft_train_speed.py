#!/usr/bin/env python3
"""LoRA training speed of PEFT + transformers (PyTorch, CPU, float32) on the
same GGUF model and the same token rows peftui trains on in
bench/train_vs_peft.sh: every blank-line-separated document of DATA.txt,
tokenized as peftui's plain-text loader does (no BOS, EOS appended), cut to
SEQ tokens, loss on every token. LoraConfig r=8, alpha 16, dropout 0.05 on
q_proj and v_proj; AdamW lr 2e-4, clip 1.0, like `peftui train`'s defaults.

    .venv-ref/bin/python bench/peft_train_speed.py MODEL.gguf DATA.txt [threads] [seq] [batch] [warmup] [steps]

Prints one line "peft: tokens/s X, peak RSS Y MB, loss A -> B" (RSS from
getrusage; the shell script also measures it with /usr/bin/time).
"""
import os, resource, sys, time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

path, data = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
SEQ = int(sys.argv[4]) if len(sys.argv) > 4 else 256
B = int(sys.argv[5]) if len(sys.argv) > 5 else 4
WARMUP = int(sys.argv[6]) if len(sys.argv) > 6 else 2
STEPS = int(sys.argv[7]) if len(sys.argv) > 7 else 10

torch.set_num_threads(threads)
torch.manual_seed(0)
d, f = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32)
model.config.use_cache = False
cfg = LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"])
model = get_peft_model(model, cfg)
model.train()

docs = [x.strip() for x in open(data, encoding="utf-8").read().split("\n\n") if x.strip()]
rows = []
for doc in docs:
    ids = tok(doc, add_special_tokens=True)["input_ids"] + [tok.eos_token_id]
    rows.append(ids[:SEQ])
need = B * (WARMUP + STEPS)
if len(rows) < need:
    sys.exit(f"{data}: {len(rows)} documents, need {need}")
short = [len(r) for r in rows if len(r) < SEQ]
if short:
    sys.exit(f"{data}: {len(short)} documents shorter than {SEQ} tokens; the batches would not be full")

params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
losses, times = [], []
for step in range(WARMUP + STEPS):
    batch = torch.tensor(rows[step * B:(step + 1) * B], dtype=torch.long)
    t0 = time.perf_counter()
    out = model(input_ids=batch, labels=batch)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    times.append(time.perf_counter() - t0)
    losses.append(out.loss.item())
timed = times[WARMUP:]
tps = B * SEQ * len(timed) / sum(timed)
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"peft: tokens/s {tps:.1f}, peak RSS {rss_mb:.0f} MB, loss {losses[0]:.4f} -> {losses[-1]:.4f}, "
      f"step {sum(timed) / len(timed):.3f} s (torch {torch.__version__}, threads {threads})")
