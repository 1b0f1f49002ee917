#!/usr/bin/env python3
"""Golden logits of the default model, computed by Hugging Face transformers
loading the same GGUF file peftui loads (transformers dequantises Q4_1/Q8_0 to
float32 exactly as the block formats define, and undoes the q/k row
permutation), so peftui's float32 forward pass can be compared with it.

Regenerate (needs the reference venv, see requirements.txt):
    python3 -m venv .venv-ref && .venv-ref/bin/pip install -r tests/reference/requirements.txt
    .venv-ref/bin/python tests/reference/make_logits_goldens.py [models/SmolLM2-135M-Instruct.Q4_1.gguf]

Writes tests/data/logits/smollm2.json:
  {"model_sha256", "prompts": [{"text", "ids", "top": [[ [id, logit] x20 ] per position],
    "last_logits_file", "greedy_ids", "greedy_text"}]}
and tests/data/logits/smollm2_<i>.f32: the full last-position logits, float32 LE.
"""
import hashlib, json, os, sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
out_dir = os.path.join(root, "tests", "data", "logits")
os.makedirs(out_dir, exist_ok=True)

torch.manual_seed(0)
tok = AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                             torch_dtype=torch.float32)
model.eval()

chat = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
texts = [
    "The capital of France is",
    chat,
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n\n# 北京是中国的首都 😀 1234567",
]
sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
doc = {"model_sha256": sha, "tolerance_note": "see tests/test_logits.c", "prompts": []}
for i, text in enumerate(texts):
    ids = tok(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float().numpy()  # (N, V)
    top = []
    for row in logits:
        idx = np.argsort(-row, kind="stable")[:20]
        top.append([[int(j), float(row[j])] for j in idx])
    fname = f"smollm2_{i}.f32"
    logits[-1].astype("<f4").tofile(os.path.join(out_dir, fname))
    with torch.no_grad():
        gen = model.generate(torch.tensor([ids]), max_new_tokens=16, do_sample=False,
                             eos_token_id=[2], pad_token_id=2)[0][len(ids):].tolist()
    doc["prompts"].append({"text": text, "ids": ids, "top": top, "last_logits_file": fname,
                           "greedy_ids": gen, "greedy_text": tok.decode(gen)})
    print(i, len(ids), repr(tok.decode(gen)))
with open(os.path.join(out_dir, "smollm2.json"), "w") as f:
    json.dump(doc, f)
