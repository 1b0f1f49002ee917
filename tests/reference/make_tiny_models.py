#!/usr/bin/env python3
"""make_tiny_models.py - builds the tiny test models under tests/data/tiny/.

Run with the reference venv:   /opt/ref/bin/python tests/reference/make_tiny_models.py
Everything is seeded, so a rerun gives the same weights (up to torch's own
determinism on this machine). Output, about 2 MB in all:

  tokenizer (shared)      a byte-level BPE (vocab 300) trained here with `tokenizers`:
                          Digits(individual) + ByteLevel pre-tokenizer, specials
                          0 <|endoftext|>, 1 <|im_start|>, 2 <|im_end|>.
  llama-hf/               LlamaForCausalLM, hidden 64, ffn 128, 2 layers, 4 heads,
                          2 KV heads, tied embeddings, rope_theta 10000, F32
                          safetensors; chat template as transformers writes it
                          (chat_template.jinja).
  llama-hf-sharded/       the same weights, sharded (model.safetensors.index.json);
                          chat template as a string in tokenizer_config.json.
  llama-hf-bf16/          the same model stored as BF16 (its own golden logits).
  qwen2-hf/               Qwen2ForCausalLM, same sizes, q/k/v biases, untied
                          lm_head, rope_theta 1e6; chat template as a list
                          [{name, template}] in tokenizer_config.json.
  llama-f32.gguf          llama-hf written the way llama.cpp's convert_hf_to_gguf.py
                          does (q/k rows permuted, GGUF names, gpt2 tokenizer
                          metadata, ChatML template), all tensors F32. It also
                          carries `peftui.test.*` keys of every GGUF value type,
                          including a nested array, for the parser tests.
  llama-q8_0.gguf         2-D tensors Q8_0, norms F32, general.alignment = 64.
  llama-q4_1.gguf         like the shipped SmolLM2 file: token_embd Q8_0, other
                          matrices Q4_1, norms F32.
  llama-mixed.gguf        token_embd F16, attention BF16, FFN Q4_0, norms F32.
  qwen2-f16.gguf          qwen2-hf as the converter writes qwen2: q/k NOT permuted
                          (NeoX RoPE), biases, `output` present; matrices F16.
  bad-arch.gguf           general.architecture = bert (must be refused by name).
  missing-tensor.gguf     a micro llama (C 32) without blk.0.ffn_up.weight.
  q4k-tensor.gguf         a micro llama whose blk.0.attn_q.weight is Q4_K.

Golden logits, `golden_logits.bin` in each *-hf folder: transformers float32
logits of every position for a fixed token sequence. Little-endian:
    char magic[4] = "PTLG"; u32 version = 1; u32 n_tokens (N); u32 vocab (V);
    i32 tokens[N]; f32 logits[N][V]   (row t = logits after tokens[0..t])
The GGUF files hold exactly llama-hf's weights, so llama-hf/golden_logits.bin
is their reference too (Q8_0 / Q4_1 only within quantisation error).
"""
import json
import os
import shutil
import struct
import sys

import numpy as np
import torch
import gguf
from gguf import GGMLQuantizationType as QT
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast,
                          Qwen2Config, Qwen2ForCausalLM)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "data", "tiny"))

CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\\nYou are a tiny test model.<|im_end|>\\n' }}{% endif %}"
          "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

GOLDEN_TEXT = "Hello world, the quick 123 fox!"
N_GOLDEN = 12

CORPUS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "Hello world, hello there! 12345 numbers 678 and 90.",
    "peftui fine-tunes the little model; the model learns what it is shown.",
    "<|im_start|>user\nWhat is two plus two?<|im_end|>\n<|im_start|>assistant\nFour.<|im_end|>\n",
] * 10


def train_tokenizer():
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.ByteLevel(trim_offsets=False)
    tr = trainers.BpeTrainer(vocab_size=300, show_progress=False,
                             special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tk.train_from_iterator(CORPUS, tr)
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|im_start|>",
                                   eos_token="<|im_end|>", unk_token="<|endoftext|>",
                                   pad_token="<|im_end|>")


def randomise(model, seed):
    # The default init (std 0.02) gives near-uniform logits; wider weights and
    # non-unit norms make every weight matter to the golden logits.
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=g))


def write_golden(model, ids, path):
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float().numpy()
    n, v = logits.shape
    with open(path, "wb") as f:
        f.write(b"PTLG" + struct.pack("<III", 1, n, v))
        f.write(np.asarray(ids, dtype="<i4").tobytes())
        f.write(logits.astype("<f4").tobytes())


def save_hf(model, tok, out, template_style, **kw):
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out, **kw)
    tok.save_pretrained(out)
    jinja = os.path.join(out, "chat_template.jinja")
    cfg_path = os.path.join(out, "tokenizer_config.json")
    if template_style != "jinja":   # move the template into tokenizer_config.json
        if os.path.exists(jinja):
            os.remove(jinja)
        with open(cfg_path) as f:
            tc = json.load(f)
        tc["chat_template"] = CHATML if template_style == "string" else \
            [{"name": "default", "template": CHATML}, {"name": "tool_use", "template": "unused"}]
        with open(cfg_path, "w") as f:
            json.dump(tc, f, indent=2)
    gen = os.path.join(out, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)


def permute(w, n_head, n_head_kv):  # convert_hf_to_gguf.py LlamaModel.permute
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def gguf_tensors(model, cfg, permute_qk=True):
    """HF state dict -> [(gguf name, float32 numpy)] in llama.cpp's naming.
    llama-style archs get q/k (weights and biases) permuted; qwen2 does not."""
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    nh, nkv = cfg.num_attention_heads, cfg.num_key_value_heads
    pq = (lambda w: permute(w, nh, nh)) if permute_qk else (lambda w: w)
    pk = (lambda w: permute(w, nh, nkv)) if permute_qk else (lambda w: w)
    out = [("token_embd.weight", sd["model.embed_tokens.weight"])]
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        b = f"blk.{i}."
        out += [
            (b + "attn_norm.weight", sd[p + "input_layernorm.weight"]),
            (b + "attn_q.weight", pq(sd[p + "self_attn.q_proj.weight"])),
            (b + "attn_k.weight", pk(sd[p + "self_attn.k_proj.weight"])),
            (b + "attn_v.weight", sd[p + "self_attn.v_proj.weight"]),
        ]
        if p + "self_attn.q_proj.bias" in sd:
            out += [
                (b + "attn_q.bias", pq(sd[p + "self_attn.q_proj.bias"])),
                (b + "attn_k.bias", pk(sd[p + "self_attn.k_proj.bias"])),
                (b + "attn_v.bias", sd[p + "self_attn.v_proj.bias"]),
            ]
        out += [
            (b + "attn_output.weight", sd[p + "self_attn.o_proj.weight"]),
            (b + "ffn_norm.weight", sd[p + "post_attention_layernorm.weight"]),
            (b + "ffn_gate.weight", sd[p + "mlp.gate_proj.weight"]),
            (b + "ffn_up.weight", sd[p + "mlp.up_proj.weight"]),
            (b + "ffn_down.weight", sd[p + "mlp.down_proj.weight"]),
        ]
    out.append(("output_norm.weight", sd["model.norm.weight"]))
    if not cfg.tie_word_embeddings:
        out.append(("output.weight", sd["lm_head.weight"]))
    return out


def add_tokenizer_kv(w, tok):
    # As convert_hf_to_gguf.py's _set_vocab_gpt2 does.
    vocab = tok.get_vocab()
    n = len(vocab)
    rev = {i: t for t, i in vocab.items()}
    added = {t.content: t for t in tok.backend_tokenizer.get_added_tokens_decoder().values()}
    tokens, types = [], []
    for i in range(n):
        t = rev[i]
        tokens.append(t)
        if t in added:
            types.append(gguf.TokenType.CONTROL if added[t].special else gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
    merges = [" ".join(m) if isinstance(m, list) else m
              for m in json.loads(tok.backend_tokenizer.to_str())["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_pad_token_id(2)
    w.add_add_bos_token(False)
    w.add_chat_template(CHATML)


def add_test_kv(w):
    # One key of every GGUF value type, for test_gguf.c.
    T = gguf.GGUFValueType
    w.add_uint8("peftui.test.u8", 200)
    w.add_int8("peftui.test.i8", -100)
    w.add_uint16("peftui.test.u16", 60000)
    w.add_int16("peftui.test.i16", -30000)
    w.add_uint32("peftui.test.u32", 4000000000)
    w.add_int32("peftui.test.i32", -2000000000)
    w.add_float32("peftui.test.f32", 1.5)
    w.add_bool("peftui.test.bool", True)
    w.add_string("peftui.test.str", "héllo")
    w.add_uint64("peftui.test.u64", 10000000000)
    w.add_int64("peftui.test.i64", -10000000000)
    w.add_float64("peftui.test.f64", -2.25)
    w.add_key_value("peftui.test.arr_i16", [1, -2, 3], T.ARRAY, sub_type=T.INT16)
    w.add_key_value("peftui.test.arr_f32", [0.5, 0.25], T.ARRAY, sub_type=T.FLOAT32)
    w.add_key_value("peftui.test.nested", [[1, 2], [3, 4, 5]], T.ARRAY, sub_type=T.ARRAY)
    w.add_key_value("peftui.test.nested_str", [["a", "bc"], ["def"]], T.ARRAY, sub_type=T.ARRAY)
    w.add_uint32("peftui.test.after", 7)   # proves the nested arrays were skipped right


def quant(arr, qt):
    return gguf.quants.quantize(np.ascontiguousarray(arr, dtype=np.float32), qt), qt


def write_gguf(path, model, cfg, tok, choose, file_type, alignment=None, test_kv=False,
               arch="llama", drop=(), override=None, name="tiny llama"):
    w = gguf.GGUFWriter(path, arch)
    if alignment:
        w.data_alignment = alignment
        w.add_custom_alignment(alignment)
    w.add_type("model")
    w.add_name(name)
    hd = cfg.hidden_size // cfg.num_attention_heads
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(float(cfg.rope_parameters["rope_theta"]))
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_file_type(file_type)
    w.add_vocab_size(cfg.vocab_size)
    w.add_rope_dimension_count(hd)
    if tok is not None:
        add_tokenizer_kv(w, tok)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    if test_kv:
        add_test_kv(w)
    for name, arr in gguf_tensors(model, cfg, permute_qk=arch != "qwen2"):
        if name in drop:
            continue
        if override and name in override:
            data, qt = override[name]
            w.add_tensor(name, data, raw_dtype=qt)
            continue
        qt = choose(name, arr)
        if qt == QT.F32:
            w.add_tensor(name, arr.astype(np.float32))
        elif qt == QT.F16:
            w.add_tensor(name, arr.astype(np.float16))
        else:
            data, _ = quant(arr, qt)
            w.add_tensor(name, data, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    os.makedirs(ROOT, exist_ok=True)
    torch.manual_seed(0)
    tok = train_tokenizer()
    tok.chat_template = CHATML
    ids = tok(GOLDEN_TEXT, add_special_tokens=False)["input_ids"]
    ids = (ids + [1, 2, 0] * N_GOLDEN)[:N_GOLDEN]

    common = dict(vocab_size=len(tok.get_vocab()), hidden_size=64, intermediate_size=128,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  bos_token_id=1, eos_token_id=2, pad_token_id=2)
    lcfg = LlamaConfig(max_position_embeddings=256, rms_norm_eps=1e-5, rope_theta=10000.0,
                       tie_word_embeddings=True, **common)
    llama = LlamaForCausalLM(lcfg)
    randomise(llama, 1)
    llama.tie_weights()

    out = os.path.join(ROOT, "llama-hf")
    save_hf(llama, tok, out, "jinja")
    write_golden(llama, ids, os.path.join(out, "golden_logits.bin"))

    out = os.path.join(ROOT, "llama-hf-sharded")
    save_hf(llama, tok, out, "string", max_shard_size="100KB")
    write_golden(llama, ids, os.path.join(out, "golden_logits.bin"))

    out = os.path.join(ROOT, "llama-hf-bf16")
    llama_bf16 = LlamaForCausalLM(lcfg)
    llama_bf16.load_state_dict(llama.state_dict())
    llama_bf16 = llama_bf16.to(torch.bfloat16)
    save_hf(llama_bf16, tok, out, "jinja")
    # reference: float32 maths on the bf16-rounded weights (a fresh model, so
    # the RoPE inv_freq buffer is not bf16-rounded as .to(bfloat16) leaves it)
    llama_r = LlamaForCausalLM(lcfg)
    llama_r.load_state_dict({k: v.float() for k, v in llama_bf16.state_dict().items()})
    write_golden(llama_r, ids, os.path.join(out, "golden_logits.bin"))

    qcfg = Qwen2Config(max_position_embeddings=512, rms_norm_eps=1e-6, rope_theta=1000000.0,
                       tie_word_embeddings=False, **common)
    qwen = Qwen2ForCausalLM(qcfg)
    randomise(qwen, 2)
    out = os.path.join(ROOT, "qwen2-hf")
    save_hf(qwen, tok, out, "list")
    write_golden(qwen, ids, os.path.join(out, "golden_logits.bin"))

    def all_f32(name, arr):
        return QT.F32

    def q8(name, arr):
        return QT.Q8_0 if arr.ndim == 2 else QT.F32

    def q41(name, arr):
        if arr.ndim == 1:
            return QT.F32
        return QT.Q8_0 if name == "token_embd.weight" else QT.Q4_1

    def mixed(name, arr):
        if arr.ndim == 1:
            return QT.F32
        if name == "token_embd.weight":
            return QT.F16
        return QT.BF16 if ".attn_" in name else QT.Q4_0

    write_gguf(os.path.join(ROOT, "llama-f32.gguf"), llama, lcfg, tok, all_f32, 0, test_kv=True)
    write_gguf(os.path.join(ROOT, "llama-q8_0.gguf"), llama, lcfg, tok, q8, 7, alignment=64)
    write_gguf(os.path.join(ROOT, "llama-q4_1.gguf"), llama, lcfg, tok, q41, 3)
    write_gguf(os.path.join(ROOT, "llama-mixed.gguf"), llama, lcfg, tok, mixed, 1)

    def f16(name, arr):  # convert_hf_to_gguf.py --outtype f16
        return QT.F16 if arr.ndim == 2 else QT.F32

    write_gguf(os.path.join(ROOT, "qwen2-f16.gguf"), qwen, qcfg, tok, f16, 1, arch="qwen2",
               name="tiny qwen2")

    # Micro models for the error messages: no tokenizer, tiny tensors.
    mcfg = LlamaConfig(vocab_size=16, hidden_size=32, intermediate_size=32, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                       rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True)
    micro = LlamaForCausalLM(mcfg)
    randomise(micro, 3)
    write_gguf(os.path.join(ROOT, "bad-arch.gguf"), micro, mcfg, None, all_f32, 0, arch="bert")
    write_gguf(os.path.join(ROOT, "missing-tensor.gguf"), micro, mcfg, None, all_f32, 0,
               drop=("blk.0.ffn_up.weight",))
    q4k = np.random.default_rng(0).integers(0, 255, size=(1, 144), dtype=np.uint8)  # one Q4_K block
    write_gguf(os.path.join(ROOT, "q4k-tensor.gguf"), micro, mcfg, None, all_f32, 0,
               override={"blk.0.attn_q.weight": (q4k, QT.Q4_K)})

    total = 0
    for dirpath, _, files in os.walk(ROOT):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    print(f"tests/data/tiny: {total / 1e6:.2f} MB; golden tokens {ids}")


if __name__ == "__main__":
    sys.exit(main())
