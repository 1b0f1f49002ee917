#!/usr/bin/env python3
"""PEFT + transformers on one GPU (or the CPU, for trying the script out):
LoRA training and greedy decode speed on a model of a given shape with random
weights, the counterpart of `peftui bench --train --device cuda --shape ...`.
bench/gpu_train_vs_peft.sh runs each configuration in its own process and
then `report` to make the table.

    peft_gpu_train_speed.py train  --shape smollm2-135m --seq 512 --batch 1 --steps 10 [--warmup 3] [--device cuda]
    peft_gpu_train_speed.py decode --shape smollm2-135m [--prompt-tokens 128 --gen-tokens 128] [--device cuda]
    peft_gpu_train_speed.py record --impl peftui --mode train --shape S --seq N --batch B --status ok --raw FILE
    peft_gpu_train_speed.py report RESULTS.jsonl --json bench.json [--peak-flops F]
    peft_gpu_train_speed.py flops  --shape S --seq N

train/decode print one JSON line (the last line of their output).

Model: LlamaForCausalLM from a LlamaConfig, built on the device in bf16
(dtype=torch.bfloat16, attn_implementation="sdpa"), random weights (seed 0),
use_cache off for training. LoRA (get_peft_model): r 16, alpha 32, dropout 0
on q,k,v,o,gate,up,down_proj; the adapter stays fp32 (PEFT's default
autocast_adapter_dtype). AdamW lr 1e-4 over the LoRA parameters, gradient
clipping at 1.0 (peftui train's default; a few microseconds on LoRA's
parameters); no gradient checkpointing. Token ids: torch.randint from seed 0,
a new batch each step, labels = inputs (loss on every token but the last).
Warm-up steps, then N steps each timed between two synchronisations; the
median step time gives tokens/s (as in peftui's bench --train).
Peak memory: torch.cuda.max_memory_allocated over the whole run, weights
included (on the CPU: the process's peak RSS).

MFU, the one formula (peftui's own `mfu` must use the same one):
    per-token FLOPs = 4 * P_linear + 6 * L * (NH * HD) * S
where P_linear counts every linear weight that the tokens pass through, the
LM head included (also when tied to the embedding): forward 2 P, backward
2 P for the input gradient only, the base weights being frozen. The second
term is causal attention: QK^T and PV forward are 2 * S * NH*HD per token
each, halved by the causal mask, backward twice forward. LoRA's own matmuls
(2 * r * (in + out) per module, times 3 for forward and both gradients) are
left out: under 1% at r 16 for these shapes. MFU = FLOPs/token * tokens/s /
peak, with peak the GPU's dense bf16 rate: 989e12 for H100 SXM and H200
(the datasheets' figure without sparsity); the peak used is printed.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

# shape name -> Llama config fields (HF names)
SHAPES = {
    # HuggingFaceTB/SmolLM2-135M
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, vocab_size=49152,
                         tie_word_embeddings=True, rope_theta=100000.0, rms_norm_eps=1e-5,
                         max_position_embeddings=8192),
    # meta-llama/Llama-2-7b-hf
    "llama2-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=32, vocab_size=32000,
                      tie_word_embeddings=False, rope_theta=10000.0, rms_norm_eps=1e-5,
                      max_position_embeddings=4096),
    # for trying the scripts out on a CPU
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, vocab_size=512,
                 tie_word_embeddings=True, rope_theta=10000.0, rms_norm_eps=1e-5,
                 max_position_embeddings=4096),
}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# dense bf16 peak FLOP/s by device name (datasheet, no sparsity)
PEAKS = [("H100", 989e12), ("H200", 989e12), ("A100", 312e12)]


def linear_params(shape):
    """Every linear weight a token passes through, the LM head included."""
    s = SHAPES[shape]
    h, i, L = s["hidden_size"], s["intermediate_size"], s["num_hidden_layers"]
    nh, nkv, V = s["num_attention_heads"], s["num_key_value_heads"], s["vocab_size"]
    hd = h // nh
    per_layer = h * nh * hd + 2 * h * nkv * hd + nh * hd * h + 3 * h * i
    return L * per_layer + h * V


def flops_per_token(shape, seq):
    """4 * P_linear + 6 * L * (NH*HD) * S: LoRA training, frozen base (see the docstring)."""
    s = SHAPES[shape]
    nh = s["num_attention_heads"]
    hd = s["hidden_size"] // nh
    return 4 * linear_params(shape) + 6 * s["num_hidden_layers"] * nh * hd * seq


def peak_for(device_name):
    for key, peak in PEAKS:
        if key in (device_name or ""):
            return peak
    return None


def versions():
    import peft
    import torch
    import transformers
    return {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}


def build_model(shape, device):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig
    cfg = LlamaConfig(hidden_act="silu", attention_bias=False, mlp_bias=False, use_cache=False,
                      bos_token_id=1, eos_token_id=2, pad_token_id=None, **SHAPES[shape])
    theta = getattr(cfg, "rope_theta", None) or (getattr(cfg, "rope_parameters", None) or {}).get("rope_theta")
    if theta != SHAPES[shape]["rope_theta"]:
        print(f"warning: rope_theta is {theta}, wanted {SHAPES[shape]['rope_theta']}", file=sys.stderr)
    torch.manual_seed(0)
    with torch.device(device):
        try:
            model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16, attn_implementation="sdpa")
        except TypeError:   # transformers 4.x spelling
            model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16, attn_implementation="sdpa")
    model.to(device=device, dtype=torch.bfloat16)
    # check the FLOPs formula's parameter count against the model itself
    n_lin = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    if n_lin != linear_params(shape):
        print(f"warning: model has {n_lin} linear weights, the formula counts {linear_params(shape)}", file=sys.stderr)
    return model


class Timer:
    """Wall time between synchronisations (CUDA events would give the same: one stream)."""
    def __init__(self, device):
        import torch
        self.sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def now(self):
        self.sync()
        return time.perf_counter()


def peak_mib(device):
    import torch
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_name(device):
    import torch
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(0)
    return "cpu"


def cmd_train(a):
    import torch
    from peft import LoraConfig, get_peft_model
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t_build = time.perf_counter()
    model = build_model(a.shape, a.device)
    cfg = LoraConfig(task_type="CAUSAL_LM", r=a.r, lora_alpha=a.alpha, lora_dropout=0.0, target_modules=TARGETS)
    model = get_peft_model(model, cfg)
    model.train()
    lora_dtypes = sorted({str(p.dtype) for p in model.parameters() if p.requires_grad})
    params = [p for p in model.parameters() if p.requires_grad]
    n_lora = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    V = SHAPES[a.shape]["vocab_size"]
    g = torch.Generator(device="cpu").manual_seed(0)
    n = a.warmup + a.steps
    data = torch.randint(0, V, (n, a.batch, a.seq), generator=g).to(a.device)
    build_s = time.perf_counter() - t_build
    timer = Timer(a.device)
    losses = []

    def step(i):
        out = model(input_ids=data[i], labels=data[i])
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return out.loss.detach()

    times = []
    for i in range(n):   # each step timed between synchronisations, as peftui's bench does
        t0 = timer.now()
        losses.append(step(i))
        if i >= a.warmup:
            times.append(timer.now() - t0)
    losses = [float(x) for x in losses]
    if not all(math.isfinite(x) for x in losses):
        print(f"warning: non-finite loss {losses}", file=sys.stderr)
    step_s = sorted(times)[len(times) // 2]   # the median, like peftui's bench --train
    res = {"impl": "peft", "mode": "train", "shape": a.shape, "seq": a.seq, "batch": a.batch, "status": "ok",
           "tokens_per_s": a.batch * a.seq / step_s, "step_s": step_s, "mean_step_s": sum(times) / len(times),
           "peak_mib": peak_mib(a.device),
           "peak_kind": "cuda_max_allocated" if a.device.startswith("cuda") else "rss",
           "device": device_name(a.device), "steps": a.steps, "warmup": a.warmup,
           "loss_first": losses[0], "loss_last": losses[-1], "lora_params": n_lora, "lora_dtype": lora_dtypes,
           "build_s": build_s, **versions()}
    print(json.dumps(res))


def cmd_decode(a):
    import torch
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    model = build_model(a.shape, a.device)
    model.eval()
    model.config.use_cache = True
    V = SHAPES[a.shape]["vocab_size"]
    g = torch.Generator(device="cpu").manual_seed(0)
    prompt = torch.randint(0, V, (1, a.prompt_tokens), generator=g).to(a.device)
    mask = torch.ones_like(prompt)
    timer = Timer(a.device)
    gen_kw = dict(attention_mask=mask, do_sample=False, pad_token_id=0, use_cache=True)

    def gen(n):   # seconds for generate() of n new tokens, and how many it made
        t0 = timer.now()
        out = model.generate(prompt, **dict(gen_kw, max_new_tokens=n, min_new_tokens=n))
        return timer.now() - t0, out.shape[1] - prompt.shape[1]

    with torch.inference_mode():
        gen(8)   # warm-up
        # generate(1) is the prefill that gives the first token, plus generate's own set-up;
        # the difference to generate(N) is N - 1 decode steps
        t1 = sorted(gen(1)[0] for _ in range(3))[1]
        gen_s, new = gen(a.gen_tokens)
        pre = []
        for _ in range(3):   # the prefill alone: one forward over the prompt
            t0 = timer.now()
            model(input_ids=prompt, attention_mask=mask, use_cache=True)
            pre.append(timer.now() - t0)
        prefill_s = sorted(pre)[1]
    dec_s = gen_s - t1
    res = {"impl": "peft", "mode": "decode", "shape": a.shape, "seq": a.prompt_tokens, "batch": 1,
           "status": "ok" if new == a.gen_tokens and dec_s > 0 else f"bad timing: {new} tokens, {gen_s:.4f} s - {t1:.4f} s",
           "gen_tokens": int(new), "generate_s": gen_s, "generate_1_s": t1,
           "prefill_s": prefill_s, "prefill_tokens_per_s": a.prompt_tokens / prefill_s,
           "decode_tokens_per_s": (new - 1) / dec_s if dec_s > 0 else None,
           "generate_tokens_per_s": new / gen_s,
           "peak_mib": peak_mib(a.device), "device": device_name(a.device), "note": "transformers generate, no LoRA",
           **versions()}
    print(json.dumps(res))


def cmd_record(a):
    """One result line for a run that printed (or did not print) a JSON object."""
    res = {"impl": a.impl, "mode": a.mode, "shape": a.shape, "seq": a.seq, "batch": a.batch, "status": a.status}
    raw = None
    if a.raw and os.path.exists(a.raw):
        for line in open(a.raw, encoding="utf-8", errors="replace"):
            line = line.strip()
            if line.startswith("{") and line.endswith("}"):
                try:
                    raw = json.loads(line)
                except ValueError:
                    pass
    if raw is not None:
        for k, v in raw.items():
            res.setdefault(k, v)
        if raw.get("status", "ok") != "ok":   # the run's own verdict
            res["status"] = raw["status"]
        if "peak_gpu_mib" in raw and "peak_mib" not in raw:   # the CPU backend reports 0: then peak RSS
            gpu = raw["peak_gpu_mib"] or 0
            res["peak_mib"] = gpu if gpu > 0 else raw.get("peak_rss_mib")
            res["peak_kind"] = "device" if gpu > 0 else "rss"
        if "mfu" in raw:
            res["mfu_reported"] = raw["mfu"]
    elif a.status == "ok":
        res["status"] = "no JSON in output"
    print(json.dumps(res))


def fmt(x, spec, none="-"):
    return none if x is None else format(x, spec)


def pct(x):
    return "-" if x is None else f"{100 * x:.1f}%"


def cmd_report(a):
    rows = [json.loads(l) for l in open(a.results, encoding="utf-8") if l.strip()]
    # the GPU's name: --gpu-name (nvidia-smi), else what PyTorch called it
    dev = a.gpu_name or next((r["device"] for r in rows if r.get("impl") == "peft" and r.get("device")), None) \
        or next((r["device"] for r in rows if r.get("device")), None)
    peak = a.peak_flops or peak_for(dev)
    lines = [f"device: {dev or '?'}; MFU peak: " + (f"{peak:.3g} FLOP/s (dense bf16)" if peak else "unknown, MFU not computed")
             + "; MFU = (4*P_linear + 6*L*NH*HD*S) * tokens/s / peak, LoRA's own FLOPs left out"]

    def mfu(r):
        if not peak or r.get("status") != "ok" or not r.get("tokens_per_s"):
            return None
        return flops_per_token(r["shape"], r["seq"]) * r["tokens_per_s"] / peak

    def status_of(r):   # short, for a table cell; the notes give the whole status
        st = "missing" if r is None else r.get("status", "?")
        for long, short in (("not available", "n/a"), ("timeout", "timeout"), ("OOM", "OOM"),
                            ("skipped", "skipped"), ("failed", "failed"), ("no JSON", "no JSON")):
            if st.startswith(long):
                return short
        return st

    keys = []
    for r in rows:
        if r.get("mode") == "train" and (r["shape"], r["seq"], r["batch"]) not in keys:
            keys.append((r["shape"], r["seq"], r["batch"]))
    get = lambda impl, mode, k: next((r for r in rows if r.get("impl") == impl and r.get("mode") == mode
                                      and (r["shape"], r["seq"], r["batch"]) == k), None)
    hdr = f"{'shape':<13} {'seq':>5} {'b':>2} {'peftui tok/s':>13} {'PEFT tok/s':>11} {'ratio':>6} " \
          f"{'pt MFU':>7} {'PEFT MFU':>8} {'pt MiB':>8} {'PEFT MiB':>8}"
    lines += ["LoRA training (r 16, alpha 32, q,k,v,o,gate,up,down; AdamW; bf16 base, random weights)", hdr]
    out = {"device": dev, "peak_flops": peak, "train": [], "decode": []}
    notes = []
    for k in keys:
        p, q = get("peftui", "train", k), get("peft", "train", k)
        ok = lambda r: r is not None and r.get("status") == "ok" and r.get("tokens_per_s")
        pt = p["tokens_per_s"] if ok(p) else None
        pf = q["tokens_per_s"] if ok(q) else None
        pm, qm = (mfu(p) if ok(p) else None), (mfu(q) if ok(q) else None)
        ratio = pt / pf if pt and pf else None
        lines.append(f"{k[0]:<13} {k[1]:>5} {k[2]:>2} {fmt(pt, '13.0f', status_of(p)[:13]):>13} "
                     f"{fmt(pf, '11.0f', status_of(q)[:11]):>11} {fmt(ratio, '6.2f'):>6} "
                     f"{pct(pm):>7} {pct(qm):>8} "
                     f"{fmt(p.get('peak_mib') if ok(p) else None, '8.0f'):>8} "
                     f"{fmt(q.get('peak_mib') if ok(q) else None, '8.0f'):>8}")
        for name, r in (("peftui", p), ("PEFT", q)):
            if r is not None and r.get("status") != "ok":
                notes.append(f"{name} {k[0]} seq {k[1]} batch {k[2]}: {r.get('status')}")
        if p and ok(p) and p.get("mfu_reported") is not None and pm and abs(p["mfu_reported"] - pm) > 0.01 * max(pm, 1e-9) + 1e-4:
            notes.append(f"peftui {k}: its own mfu {p['mfu_reported']:.4f} differs from the formula's {pm:.4f}")
        if ok(p) and ok(q) and p.get("trainable") and q.get("lora_params") and p["trainable"] != q["lora_params"]:
            notes.append(f"{k}: peftui trains {p['trainable']} LoRA parameters, PEFT {q['lora_params']}: not the same work")
        out["train"].append({"shape": k[0], "seq": k[1], "batch": k[2], "flops_per_token": flops_per_token(k[0], k[1]),
                             "peftui": p, "peft": q, "ratio": ratio, "peftui_mfu": pm, "peft_mfu": qm})
    dkeys = []
    for r in rows:
        if r.get("mode") == "decode" and (r["shape"], r["seq"], r["batch"]) not in dkeys:
            dkeys.append((r["shape"], r["seq"], r["batch"]))
    if dkeys:
        lines += ["Decode, batch 1, greedy, bf16, random weights (tokens/s after the prompt)",
                  f"{'shape':<13} {'prompt':>6} {'peftui tok/s':>13} {'HF tok/s':>9} {'ratio':>6}"]
    for k in dkeys:
        p, q = get("peftui", "decode", k), get("peft", "decode", k)
        dec = lambda r: None if r is None or r.get("status") != "ok" else \
            r.get("decode_tokens_per_s", r.get("decode_tok_s", r.get("tokens_per_s")))
        pt, pf = dec(p), dec(q)
        ratio = pt / pf if pt and pf else None
        lines.append(f"{k[0]:<13} {k[1]:>6} {fmt(pt, '13.1f', status_of(p)[:13]):>13} {fmt(pf, '9.1f', status_of(q)[:9]):>9} "
                     f"{fmt(ratio, '6.2f'):>6}")
        for name, r in (("peftui", p), ("HF", q)):
            if r is not None and r.get("status") != "ok":
                notes.append(f"{name} decode {k[0]}: {r.get('status')}")
        out["decode"].append({"shape": k[0], "prompt_tokens": k[1], "peftui": p, "peft": q, "ratio": ratio})
    vers = next((r for r in rows if r.get("torch")), None)
    if vers:
        lines.append(f"torch {vers['torch']}, transformers {vers['transformers']}, peft {vers['peft']}")
    lines += notes
    out["notes"] = notes
    text = "\n".join(lines)
    print(text)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
    if a.text:
        with open(a.text, "w", encoding="utf-8") as f:
            f.write(text + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("train", "decode"):
        p = sub.add_parser(name)
        p.add_argument("--shape", choices=sorted(SHAPES), required=True)
        p.add_argument("--device", default="cuda")
        p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
        if name == "train":
            p.add_argument("--seq", type=int, required=True)
            p.add_argument("--batch", type=int, default=1)
            p.add_argument("--steps", type=int, default=10)
            p.add_argument("--warmup", type=int, default=3)
            p.add_argument("--r", type=int, default=16)
            p.add_argument("--alpha", type=float, default=32)
        else:
            p.add_argument("--prompt-tokens", type=int, default=128)
            p.add_argument("--gen-tokens", type=int, default=128)
    p = sub.add_parser("record")
    p.add_argument("--impl", required=True)
    p.add_argument("--mode", choices=["train", "decode"], required=True)
    p.add_argument("--shape", required=True)
    p.add_argument("--seq", type=int, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--status", required=True)
    p.add_argument("--raw")
    p = sub.add_parser("report")
    p.add_argument("results")
    p.add_argument("--json")
    p.add_argument("--text")
    p.add_argument("--peak-flops", type=float, default=None)
    p.add_argument("--gpu-name", default=None)
    p = sub.add_parser("flops")
    p.add_argument("--shape", choices=sorted(SHAPES), required=True)
    p.add_argument("--seq", type=int, required=True)
    a = ap.parse_args()
    if a.cmd == "flops":
        print(json.dumps({"shape": a.shape, "seq": a.seq, "linear_params": linear_params(a.shape),
                          "flops_per_token": flops_per_token(a.shape, a.seq)}))
        return
    {"train": cmd_train, "decode": cmd_decode, "record": cmd_record, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
