#!/usr/bin/env python3
"""make_tiny_families.py - tiny random checkpoints of the other decoder families
(issue 11), each a scaled-down copy of a real config with every flag kept, saved
by transformers as F32 safetensors under tests/data/tiny/, with golden logits.

Run with the reference venv after make_tiny_models.py (it reuses llama-hf's
tokenizer files, so token ids mean the same thing in every tiny model):
    .venv-ref/bin/python tests/reference/make_tiny_families.py

  bloom-hf/    BloomForCausalLM from bigscience/bloom-560m's config: ALiBi,
               LayerNorm (eps 1e-5) with biases, word_embeddings_layernorm,
               fused query_key_value (n_head, 3, head_dim), GELU (tanh),
               biases on every linear layer, tied head. Scaled down to
               hidden 48, 6 heads (not a power of two: BLOOM's extra ALiBi
               slopes, as in the 176B model's 112 heads), 2 layers.
  gpt2-hf/     GPT2LMHeadModel from openai-community/gpt2's config: learned
               positions (n_positions scaled to 64), LayerNorm (eps 1e-5),
               Conv1D weights stored (in, out), one c_attn (q | k | v),
               gelu_new, biases everywhere, tied head. Hidden 48, 4 heads,
               2 layers, n_inner null (4 x hidden).
  gpt_neox-hf/ GPTNeoXForCausalLM from EleutherAI/pythia-70m's config:
               rotary_pct 0.25 (RoPE on the leading quarter of each head),
               parallel residual, LayerNorm, exact GELU, query_key_value per
               head, biases, untied embed_out. Hidden 64, 4 heads (head 16,
               4 rotary dims), 2 layers, intermediate 256.

  gpt_bigcode-hf/ GPTBigCodeForCausalLM from bigcode/gpt_bigcode-santacoder's
               config: multi_query (one key/value head, c_attn = q | k | v),
               learned positions, gelu_pytorch_tanh, nn.Linear weights,
               tied head. Hidden 48, 4 heads, 2 layers.
  mpt-hf/      MptForCausalLM from mosaicml/mpt-7b's config: ALiBi
               (alibi_bias_max 8), LayerNorm without bias, Wqkv (q | k | v),
               exact GELU, no biases, tied head. Hidden 64, 8 heads, 2 layers.
  mistral-hf/  MistralForCausalLM from mistralai/Mistral-7B-v0.1's config: GQA
               (8 heads, 2 kv), sliding_window scaled to 5 (shorter than the
               golden sequence, so the window is exercised), rope_theta 1e4.
  llama3-hf/   LlamaForCausalLM from meta-llama/Meta-Llama-3-8B's config:
               GQA, rope_theta 500000, untied head, no biases.

golden_logits.bin has make_tiny_models.py's format ("PTLG", v1): transformers
float32 logits of every position for the same fixed token sequence.
"""
import os
import shutil
import sys

import torch
from transformers import BloomConfig, BloomForCausalLM, GPT2Config, GPT2LMHeadModel, GPTBigCodeConfig, GPTBigCodeForCausalLM, GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, MptConfig, MptForCausalLM, PreTrainedTokenizerFast

sys.path.insert(0, os.path.dirname(__file__))
from make_tiny_models import GOLDEN_TEXT, N_GOLDEN, ROOT, randomise, write_golden  # noqa: E402


def tokenizer():
    return PreTrainedTokenizerFast.from_pretrained(os.path.join(ROOT, "llama-hf"))


def save(model, tok, name):
    out = os.path.join(ROOT, name)
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def golden_ids(tok):
    ids = tok(GOLDEN_TEXT, add_special_tokens=False)["input_ids"]
    return (ids + [1, 2, 0] * N_GOLDEN)[:N_GOLDEN]


def bloom(tok):
    # bigscience/bloom-560m: hidden 1024, 24 layers, 16 heads, eps 1e-5,
    # apply_residual_connection_post_layernorm false, slow_but_exact false,
    # pretraining_tp 1, tied embeddings.
    cfg = BloomConfig(vocab_size=len(tok.get_vocab()), hidden_size=48, n_layer=2, n_head=6,
                      layer_norm_epsilon=1e-5, apply_residual_connection_post_layernorm=False,
                      slow_but_exact=False, pretraining_tp=1, tie_word_embeddings=True,
                      bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(11)
    m = BloomForCausalLM(cfg).float()
    randomise(m, 11)
    with torch.no_grad():  # ln_f is a norm too, though its name does not end in "norm.weight"
        g = torch.Generator().manual_seed(12)
        m.transformer.ln_f.weight.copy_(1.0 + 0.1 * torch.randn(48, generator=g))
    m.tie_weights()
    out = save(m, tok, "bloom-hf")
    write_golden(m, golden_ids(tok), os.path.join(out, "golden_logits.bin"))


def gpt2(tok):
    # openai-community/gpt2: n_embd 768, 12 layers, 12 heads, n_positions 1024,
    # gelu_new, layer_norm_epsilon 1e-5, scale_attn_weights true, tied.
    cfg = GPT2Config(vocab_size=len(tok.get_vocab()), n_embd=48, n_layer=2, n_head=4, n_positions=64, n_inner=None,
                     activation_function="gelu_new", layer_norm_epsilon=1e-5, scale_attn_weights=True,
                     scale_attn_by_inverse_layer_idx=False, reorder_and_upcast_attn=False, tie_word_embeddings=True,
                     bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(13)
    m = GPT2LMHeadModel(cfg).float()
    randomise(m, 13)
    with torch.no_grad():  # the LayerNorms are ln_1, ln_2, ln_f: not "...norm.weight"
        g = torch.Generator().manual_seed(14)
        for name, p in m.named_parameters():
            if ".ln_" in name and name.endswith(".weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
    m.tie_weights()
    out = save(m, tok, "gpt2-hf")
    write_golden(m, golden_ids(tok), os.path.join(out, "golden_logits.bin"))


def neox(tok):
    # EleutherAI/pythia-70m: hidden 512, 6 layers, 8 heads, intermediate 2048,
    # rotary_pct 0.25, rotary_emb_base 10000, use_parallel_residual true,
    # hidden_act gelu, layer_norm_eps 1e-5, untied.
    cfg = GPTNeoXConfig(vocab_size=len(tok.get_vocab()), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=256, hidden_act="gelu", max_position_embeddings=2048,
                        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
                        use_parallel_residual=True, attention_bias=True, layer_norm_eps=1e-5, tie_word_embeddings=False,
                        bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(15)
    m = GPTNeoXForCausalLM(cfg).float()
    randomise(m, 15)
    with torch.no_grad():  # final_layer_norm ends in "norm.weight", the others in "layernorm.weight": all norms
        g = torch.Generator().manual_seed(16)
        for name, p in m.named_parameters():
            if "layernorm.weight" in name or "layer_norm.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
    out = save(m, tok, "gpt_neox-hf")
    write_golden(m, golden_ids(tok), os.path.join(out, "golden_logits.bin"))


def bigcode(tok):
    # bigcode/gpt_bigcode-santacoder: n_embd 2048, 24 layers, 16 heads,
    # n_positions 2048, multi_query, gelu_pytorch_tanh, tied.
    cfg = GPTBigCodeConfig(vocab_size=len(tok.get_vocab()), n_embd=48, n_layer=2, n_head=4, n_positions=64,
                           n_inner=None, activation_function="gelu_pytorch_tanh", layer_norm_epsilon=1e-5,
                           multi_query=True, scale_attn_weights=True, tie_word_embeddings=True,
                           bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(21)
    m = GPTBigCodeForCausalLM(cfg).float()
    randomise(m, 21)
    with torch.no_grad():
        g = torch.Generator().manual_seed(22)
        for name, p in m.named_parameters():
            if ".ln_" in name and name.endswith(".weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
    m.tie_weights()
    out = save(m, tok, "gpt_bigcode-hf")
    write_golden(m, golden_ids(tok), os.path.join(out, "golden_logits.bin"))


def mpt(tok):
    # mosaicml/mpt-7b: d_model 4096, 32 heads, 32 layers, expansion_ratio 4,
    # alibi, no_bias, tied.
    cfg = MptConfig(vocab_size=len(tok.get_vocab()), d_model=64, n_heads=8, n_layers=2, expansion_ratio=4,
                    max_seq_len=2048, layer_norm_epsilon=1e-5, no_bias=True,
                    attn_config={"alibi": True, "alibi_bias_max": 8, "attn_type": "multihead_attention"},
                    tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(23)
    m = MptForCausalLM(cfg).float()
    randomise(m, 23)
    with torch.no_grad():
        g = torch.Generator().manual_seed(24)
        for name, p in m.named_parameters():
            if ("norm_" in name or "norm_f" in name) and name.endswith(".weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
    m.tie_weights()
    out = save(m, tok, "mpt-hf")
    write_golden(m, golden_ids(tok), os.path.join(out, "golden_logits.bin"))


def mistral(tok):
    cfg = MistralConfig(vocab_size=len(tok.get_vocab()), hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                        num_attention_heads=8, num_key_value_heads=2, head_dim=8, sliding_window=5,
                        max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                        bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(17)
    m = MistralForCausalLM(cfg).float()
    randomise(m, 17)
    out = save(m, tok, "mistral-hf")
    write_golden(m, golden_ids(tok), os.path.join(out, "golden_logits.bin"))


def llama3(tok):
    cfg = LlamaConfig(vocab_size=len(tok.get_vocab()), hidden_size=64, intermediate_size=224, num_hidden_layers=2,
                      num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=8192, rms_norm_eps=1e-5,
                      rope_theta=500000.0, tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
                      bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(19)
    m = LlamaForCausalLM(cfg).float()
    randomise(m, 19)
    out = save(m, tok, "llama3-hf")
    write_golden(m, golden_ids(tok), os.path.join(out, "golden_logits.bin"))


def main():
    tok = tokenizer()
    which = sys.argv[1:] or ["bloom", "gpt2", "gpt_neox", "gpt_bigcode", "mpt", "mistral", "llama3"]
    if "bloom" in which:
        bloom(tok)
    if "gpt2" in which:
        gpt2(tok)
    if "gpt_neox" in which:
        neox(tok)
    if "gpt_bigcode" in which:
        bigcode(tok)
    if "mpt" in which:
        mpt(tok)
    if "mistral" in which:
        mistral(tok)
    if "llama3" in which:
        llama3(tok)


if __name__ == "__main__":
    main()
