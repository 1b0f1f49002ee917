#!/usr/bin/env python3
"""Does llama.cpp accept a GGUF LoRA peftui exported, and does it shift the
output the way the adapter should? Through llama-cpp-python (PyPI builds
llama.cpp from source).

    /opt/ref/bin/python bench/llamacpp_lora_check.py BASE.gguf LORA.gguf \
        [--scale S] [--tokens PTLG] [--golden-base PTLG] [--golden-lora PTLG]

Runs the base alone and the base with --lora at scale S over a token sequence
(the tokens of --tokens / --golden-lora, else a fixed list) with all logits,
and prints:
  - whether llama.cpp loaded the adapter (its own error otherwise, exit 1);
  - max |logits(base+LoRA) - logits(base)|: the adapter's shift (must be > 0);
  - with --golden-lora (PTLG logits of the same base with the adapter, e.g.
    PEFT's tests/data/peft/tiny-lora/golden_logits.bin): max |llama.cpp - golden|
    and the correlation of llama.cpp's shift with the golden's shift (needs
    --golden-base, the base's own PTLG logits);
  - the greedy continuation (8 tokens) with and without the adapter.
A base GGUF llama.cpp cannot read because of peftui's parser-test keys
(tests/data/tiny/llama-f32.gguf carries nested arrays under peftui.test.*) is
copied without those keys to a temporary file first.

To reproduce the check in tests/test_export.c's notes:
    PEFTUI_EXPORT_DIR=/tmp/pexp build/test_export
    /opt/ref/bin/python bench/llamacpp_lora_check.py tests/data/tiny/llama-f32.gguf \
        /tmp/pexp/tiny-lora.gguf --golden-lora tests/data/peft/tiny-lora/golden_logits.bin \
        --golden-base tests/data/tiny/llama-hf/golden_logits.bin
PTLG: char magic[4] "PTLG"; u32 version 1; u32 n; u32 vocab; i32 tokens[n]; f32 logits[n][vocab].
"""
import argparse
import os
import struct
import sys
import tempfile

import numpy as np


def read_ptlg(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"PTLG":
        sys.exit(f"{path}: not a PTLG file")
    _, n, v = struct.unpack("<III", data[4:16])
    toks = list(struct.unpack(f"<{n}i", data[16:16 + 4 * n]))
    return toks, np.frombuffer(data[16 + 4 * n:], dtype="<f4").reshape(n, v)


def strip_test_keys(path, out):
    """path without its peftui.test.* keys, for llama.cpp's stricter reader."""
    import gguf
    r = gguf.GGUFReader(path)
    arch = r.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(out, arch)
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name.startswith("peftui.test.") or name == "general.architecture":
            continue
        vtype = f.types[0]
        sub = f.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(name, f.contents(), vtype, sub)
    for t in r.tensors:
        w.add_tensor(t.name, t.data, raw_shape=list(reversed([int(x) for x in t.shape])), raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def run(llama_cls, base, lora, scale, toks, n_ctx):
    kw = dict(model_path=base, logits_all=True, verbose=False, n_ctx=n_ctx, n_threads=2, seed=0)
    if lora:
        kw.update(lora_path=lora, lora_scale=scale)
    llm = llama_cls(**kw)
    llm.eval(toks)
    logits = np.array(llm.scores[:len(toks)], dtype=np.float32)
    # greedy continuation
    out = []
    for _ in range(8):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(nxt)
        llm.eval([nxt])
    return logits, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("lora")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--tokens")
    ap.add_argument("--golden-base")
    ap.add_argument("--golden-lora")
    a = ap.parse_args()
    from llama_cpp import Llama, __version__

    toks = [1, 42, 278, 78, 81, 223, 286, 84, 78, 70]
    g_lora = g_base = None
    if a.golden_lora:
        toks, g_lora = read_ptlg(a.golden_lora)
    elif a.tokens:
        toks, _ = read_ptlg(a.tokens)
    if a.golden_base:
        tb, g_base = read_ptlg(a.golden_base)
        assert tb == toks, "--golden-base holds another token sequence"
    base = a.base
    tmp = tempfile.TemporaryDirectory()
    try:
        base_l, base_gen = run(Llama, base, None, 1.0, toks, 64 + len(toks))
    except ValueError:
        print(f"llama.cpp cannot read {base} as is; retrying without its peftui.test.* keys")
        base = strip_test_keys(base, os.path.join(tmp.name, "base.gguf"))
        base_l, base_gen = run(Llama, base, None, 1.0, toks, 64 + len(toks))
    print(f"llama-cpp-python {__version__}; base {a.base}, {len(toks)} tokens")
    try:
        lora_l, lora_gen = run(Llama, base, a.lora, a.scale, toks, 64 + len(toks))
    except Exception as e:  # llama.cpp logs why on stderr
        print(f"llama.cpp REFUSED the LoRA {a.lora}: {e}")
        return 1
    shift = np.abs(lora_l - base_l).max()
    print(f"llama.cpp accepted {a.lora} at scale {a.scale}")
    print(f"  adapter shift: max |logits(base+LoRA) - logits(base)| = {shift:.4f}")
    ok = shift > 1e-3
    if g_base is not None:
        print(f"  base vs golden base: max |diff| {np.abs(base_l - g_base).max():.2e}")
    if g_lora is not None:
        d = np.abs(lora_l - g_lora).max()
        print(f"  base+LoRA vs golden adapter logits: max |diff| {d:.2e}")
        ok &= bool(d < 1e-2 * max(1.0, np.abs(g_lora).max()))
        if g_base is not None:
            s1, s2 = (lora_l - base_l).ravel(), (g_lora - g_base).ravel()
            corr = float(np.dot(s1, s2) / (np.linalg.norm(s1) * np.linalg.norm(s2)))
            print(f"  correlation of llama.cpp's shift with the golden shift: {corr:.6f}")
            ok &= corr > 0.99
    print(f"  greedy continuation, base:      {base_gen}")
    print(f"  greedy continuation, base+LoRA: {lora_gen}")
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
