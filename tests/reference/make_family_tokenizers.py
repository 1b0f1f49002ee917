#!/usr/bin/env python3
"""make_family_tokenizers.py - tiny byte-level BPE tokenizers with the exact
normalizer / pre-tokenizer / decoder of the other families' real
tokenizer.json files (issue 11), trained on make_tokenizer_goldens.py's
multilingual corpus, with goldens from `tokenizers` for tests/test_tokenizer.c.

    .venv-ref/bin/python tests/reference/make_family_tokenizers.py [--retrain]

Under tests/data/tokenizer/:
  bpe-bloom-tiny/  bigscience/bloom's: Split(" ?[^(\\s|[.,!?…。，、।۔،])]+",
                   isolated) then ByteLevel(add_prefix_space false, use_regex
                   false). The pattern is Oniguruma's nested class: "(", "|"
                   and ")" end a word as white space and the listed punctuation
                   (Chinese "，。、" among it) do.
  bpe-gpt2-tiny/   openai-community/gpt2's: ByteLevel(add_prefix_space false,
                   use_regex true), no normalizer.
  bpe-neox-tiny/   EleutherAI/pythia's: NFC normalizer, then ByteLevel as GPT-2.
Each has tokenizer.json, tokenizer_config.json and goldens.jsonl (the format of
make_tokenizer_goldens.py: {"text", "add_special", "ids"}) over its TEXTS plus
texts aimed at each pre-tokenizer (parentheses, pipes, Chinese punctuation,
decomposed accents). transformers loading each folder must agree with
`tokenizers` (checked here).
"""
import json
import os
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

sys.path.insert(0, os.path.dirname(__file__))
import make_tokenizer_goldens as base  # noqa: E402

EXTRA = [
    "f(x) = (a|b) | c",
    "（全角括号）和(半角括号)",
    "你好，世界。这是、一个测试！真的吗？是的…",
    "हिन्दी। اردو۔ عربي، end",
    "bloom-1b4-zh 在 alpaca-zh 上训练：指令、输入、输出。",
    "e\u0301 vs \u00e9, A\u030a vs \u00c5",
    "Tweet text : I love this! Label : positive",
]
TEXTS = base.TEXTS + EXTRA
BLOOM_SPLIT = " ?[^(\\s|[.,!?…。，、।۔،])]+"
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<|endoftext|>"]


def pipeline(name, tok):
    if name == "bloom":
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(BLOOM_SPLIT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    else:
        if name == "neox":
            tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)


def train(name):
    tok = Tokenizer(models.BPE())
    pipeline(name, tok)
    trainer = trainers.BpeTrainer(vocab_size=800, special_tokens=[], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(base.corpus() + EXTRA * 20, trainer=trainer)
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in SPECIALS])
    return tok


def encode(tok):
    return lambda text, add: tok.encode(text, add_special_tokens=add).ids


def main():
    for name in ("bloom", "gpt2", "neox"):
        d = os.path.join(base.OUT, f"bpe-{name}-tiny")
        path = os.path.join(d, "tokenizer.json")
        tok = Tokenizer.from_file(path) if os.path.exists(path) and not base.RETRAIN else train(name)
        base.save_dir(d, tok, {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>",
                               "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"})
        hf = base.hf_tok_from_dir(d)
        mine, theirs = encode(tok), base.hf_encode(hf)
        bad = [t for t in TEXTS for add in (False, True) if mine(t, add) != theirs(t, add)]
        if bad:
            sys.exit(f"{name}: transformers and tokenizers disagree on {len(bad)} texts, e.g. {bad[0]!r}")
        with open(os.path.join(d, "goldens.jsonl"), "w", encoding="utf-8") as f:
            for i, text in enumerate(TEXTS):
                for add in ([0, 1] if i < 12 else [0]):
                    f.write(json.dumps({"text": text, "add_special": add, "ids": mine(text, bool(add))},
                                       ensure_ascii=False) + "\n")
        pieces = tok.encode(EXTRA[0]).tokens
        print(f"bpe-{name}-tiny: {tok.get_vocab_size()} tokens, {len(TEXTS)} texts; {EXTRA[0]!r} -> {pieces}")


if __name__ == "__main__":
    main()
