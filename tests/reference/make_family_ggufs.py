#!/usr/bin/env python3
"""make_family_ggufs.py - the tiny family checkpoints (make_tiny_families.py)
converted to GGUF by llama.cpp's own converter, so the GGUF loader is held to
what llama.cpp writes (for example BLOOM's query_key_value, stored there as
q | k | v), not to our reading of it.

    .venv-ref/bin/pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d /tmp/lcp
    tar xzf /tmp/lcp/llama_cpp_python-0.3.36.tar.gz -C /tmp/lcp
    .venv-ref/bin/python tests/reference/make_family_ggufs.py /tmp/lcp/llama_cpp_python-0.3.36/vendor/llama.cpp

Writes tests/data/tiny/{bloom,gpt2,gpt_bigcode,gpt_neox,mpt}-f32.gguf (F32), and
tests/data/peft/{bloom,gpt_bigcode,gpt_neox,mpt}-lora/llamacpp-lora.gguf: PEFT's adapters
(make_family_goldens.py) through llama.cpp's convert_lora_to_gguf.py, what
peftui's gguf-lora export must equal. Not GPT-2's: the converter transposes its
Conv1D LoRA as if PEFT's B @ A were stored (in, out), and llama.cpp's own
loader (llama-adapter.cpp) then refuses the result's shapes. The tiny models
share a test tokenizer whose hash llama.cpp does not know, so the converter is
told its pre-tokenizer is "gpt-2" (what the tests then expect). GPT-2's
converter reads config.json's n_ctx, which transformers 5 no longer writes:
a copy of the folder gets it back from n_positions. GPT-NeoX's converter
reads rotary_pct, which transformers 5 folds into rope_parameters before the
converter sees it: the shim hands it back.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "data", "tiny"))
# Both converters run with llama.cpp's gguf-py, a pre-tokenizer name for the
# test tokenizer, and GPT-NeoX's rotary_pct / rotary_emb_base handed back:
# transformers 5 folds them into rope_parameters, where the converter
# (written for 4) does not look.
PRELUDE = """
import os, runpy, sys
sys.path.insert(0, {gguf_py!r})
sys.path.insert(0, {lc!r})
from conversion import base as cb
cb.TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
_load = cb.ModelBase.load_hparams
def load_hparams(dir_model, is_mistral_format):
    h = _load(dir_model, is_mistral_format)
    rp = h.get("rope_parameters") or {{}}
    if h.get("model_type") == "gpt_neox":
        h.setdefault("rotary_pct", rp.get("partial_rotary_factor", 1.0))
        h.setdefault("rotary_emb_base", rp.get("rope_theta", 10000.0))
    return h
cb.ModelBase.load_hparams = staticmethod(load_hparams)
"""
SHIM = PRELUDE + """
import convert_hf_to_gguf as c
sys.argv = ["convert_hf_to_gguf.py"] + sys.argv[1:]
c.main()
"""
LORA_SHIM = PRELUDE + """
sys.argv = ["convert_lora_to_gguf.py"] + sys.argv[1:]
runpy.run_path(os.path.join({lc!r}, "convert_lora_to_gguf.py"), run_name="__main__")
"""

def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    lc = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp()
    shim = os.path.join(tmp, "convert.py")
    with open(shim, "w") as f:
        f.write(SHIM.format(gguf_py=os.path.join(lc, "gguf-py"), lc=lc))
    for name in ("bloom", "gpt2", "gpt_bigcode", "gpt_neox", "mpt"):
        src = os.path.join(tmp, name)
        shutil.copytree(os.path.join(ROOT, f"{name}-hf"), src)
        cfg_path = os.path.join(src, "config.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        if name == "gpt2":
            cfg["n_ctx"] = cfg["n_positions"]
        if name == "mpt":   # the converter knows MosaicML's class name, which real MPT checkpoints carry
            cfg["architectures"] = ["MPTForCausalLM"]
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=2)
        out = os.path.join(ROOT, f"{name}-f32.gguf")
        subprocess.run([sys.executable, shim, src, "--outtype", "f32", "--outfile", out], check=True)
        print("wrote", out)
    lora_shim = os.path.join(tmp, "convert_lora.py")
    with open(lora_shim, "w") as f:
        f.write(LORA_SHIM.format(gguf_py=os.path.join(lc, "gguf-py"), lc=lc))
    for name in ("bloom", "gpt_bigcode", "gpt_neox", "mpt"):
        adapter = os.path.join(os.path.dirname(ROOT), "peft", f"{name}-lora")
        out = os.path.join(adapter, "llamacpp-lora.gguf")
        subprocess.run([sys.executable, lora_shim, adapter, "--base", os.path.join(tmp, name), "--outtype", "f32",
                        "--outfile", out], check=True)
        print("wrote", out)
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
