#!/usr/bin/env python3
"""Speed of transformers (+ PEFT for training) on a random model of a named
shape, float32 on the CPU: the other side of bench/family_vs_peft.sh.

    .venv-ref/bin/python bench/family_peft_speed.py SHAPE [threads] [seq] [batch] [warmup] [steps]

SHAPE is bloom-560m (bigscience/bloom-560m's config) or gpt2
(openai-community/gpt2's), the shapes of `peftui bench --shape`.
  prefill: one forward of 128 tokens (median of 3), tokens/s
  decode:  64 tokens one at a time through the KV cache (median of 3), tokens/s
  train:   LoRA r=8, alpha 16, no dropout, on every linear layer (PEFT's
           "all-linear", as `peftui bench --train`), AdamW lr 2e-4, batch x seq
           random tokens, loss on every token; tokens/s over the timed steps
Prints one line per measure, "peft SHAPE prefill X tok/s" and so on, and the
peak RSS.
"""
import resource
import statistics
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import BloomConfig, BloomForCausalLM, GPT2Config, GPT2LMHeadModel


def make(shape):
    if shape == "bloom-560m":
        return BloomForCausalLM(BloomConfig(vocab_size=250880, hidden_size=1024, n_layer=24, n_head=16))
    if shape == "gpt2":
        return GPT2LMHeadModel(GPT2Config(vocab_size=50257, n_embd=768, n_layer=12, n_head=12, n_positions=1024))
    sys.exit(f"unknown shape {shape} (bloom-560m, gpt2)")


def main():
    shape = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    seq = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    warmup = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    steps = int(sys.argv[6]) if len(sys.argv) > 6 else 5
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = make(shape).float().eval()
    V = model.config.vocab_size

    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(3, V, (1, 128), generator=g)
    pre, dec = [], []
    with torch.inference_mode():
        for _ in range(3):
            t0 = time.perf_counter()
            out = model(input_ids=prompt, use_cache=True)
            pre.append(128 / (time.perf_counter() - t0))
            past, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
            t0 = time.perf_counter()
            for _ in range(64):
                out = model(input_ids=nxt, past_key_values=past, use_cache=True)
                past, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
            dec.append(64 / (time.perf_counter() - t0))
    print(f"peft {shape} prefill {statistics.median(pre):.1f} tok/s")
    print(f"peft {shape} decode {statistics.median(dec):.1f} tok/s")

    model.config.use_cache = False
    pm = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear",
                                          task_type="CAUSAL_LM"))
    pm.train()
    params = [p for p in pm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-4, weight_decay=0.0)
    times, losses = [], []
    for step in range(warmup + steps):
        rows = torch.randint(3, V, (batch, seq), generator=g)
        t0 = time.perf_counter()
        loss = pm(input_ids=rows, labels=rows).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
        losses.append(float(loss))
    tps = batch * seq * steps / sum(times[warmup:])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peft {shape} train {tps:.1f} tok/s (r 8 all-linear, batch {batch} x {seq}), peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
