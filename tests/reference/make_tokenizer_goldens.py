#!/usr/bin/env python3
"""make_tokenizer_goldens.py - reference token ids for tests/test_tokenizer.c.

Recreate the reference venv (the files here were made with tokenizers 0.23,
transformers 5.x, gguf 0.19):

    python3 -m venv /opt/ref
    /opt/ref/bin/pip install -r tests/reference/requirements.txt

Run from the repository root (needs models/SmolLM2-135M-Instruct.Q4_1.gguf):

    /opt/ref/bin/python tests/reference/make_tokenizer_goldens.py [--retrain]

It writes, under tests/data/tokenizer/:

  smollm2/          tokenizer.json + tokenizer_config.json taken from the GGUF by
                    transformers (pre-tokenizer put back to the original, see
                    below; chat template in the config), goldens.jsonl
  spm-tiny/         a trained SentencePiece-style BPE with byte fallback (Llama-2
                    shape: Prepend/Replace normalizer, no pre-tokenizer),
                    tokenizer.json, tokenizer_config.json, goldens.jsonl, and
                    spm-tiny.gguf (tokenizer.ggml.model=llama, scores, no merges)
                    with goldens_gguf.jsonl = what transformers makes of that GGUF
  spm-tiny-metaspace/  the same vocabulary in the transformers-5 LlamaTokenizer
                    shape (Metaspace pre-tokenizer, prepend_scheme "first")
  spm-tiny-metaspace-split/  and as older Metaspace files (prepend "always",
                    split into words)
  bpe-llama3-tiny/  a trained byte-level BPE with Llama-3's Split regex (isolated)
                    + ByteLevel(use_regex=false), ignore_merges, a BOS template,
                    one non-special added token; goldens.jsonl, and
                    bpe-llama3-tiny.gguf (model=gpt2, pre=llama-bpe) with
                    goldens_gguf.jsonl from transformers on that GGUF

Each goldens file is JSON lines {"text": str, "add_special": 0|1, "ids": [...]}.
Every text is encoded with the special tokens written in it recognised (HF's
default), add_special_tokens as given. The texts: fixed ones (English, Chinese,
Japanese, emoji with ZWJ sequences, long numbers, runs of spaces, tabs, \n\n\n,
\r\n, contractions, code, chat markup with special tokens, odd Unicode spaces)
and 300 random mixes of those from a fixed seed.

Findings about SmolLM2 (recorded here and in src/engine/text/tokenizer_gguf.c):
  * The GGUF says bos=1 <|im_start|>, eos=2 <|im_end|>, unk=0, pad=2,
    add_bos_token=false. transformers loading it adds no BOS (its post-processor
    template is just $A), the same as the original HF SmolLM2 tokenizer. So
    add_special adds nothing for SmolLM2.
  * transformers does NOT map tokenizer.ggml.pre=smollm to a pre-tokenizer: it
    builds plain ByteLevel(use_regex=true) and drops the Digits(individual_digits)
    step that the original HuggingFaceTB/SmolLM2 tokenizer.json has and that
    llama.cpp applies for pre=smollm. The two differ on text such as "x  2024"
    (Digits first gives "x","ĠĠ","2",...; plain ByteLevel gives "x","Ġ","Ġ2"
    split as "Ġ","2"). The model was trained with the Digits step, so the saved
    tokenizer.json gets the original pre-tokenizer back, and the goldens follow
    it (and llama.cpp). The number of golden texts on which transformers-on-GGUF
    differs is printed when this script runs.
"""

import json
import os
import random
import shutil
import sys
import tempfile

from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models,
                        normalizers, pre_tokenizers, processors, trainers)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "data", "tokenizer")
GGUF = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
# tokenizers' BpeTrainer is not deterministic here (ties between equal pair counts come
# out in a different order from run to run), so the tiny vocabularies are trained only
# when their tokenizer.json is missing or with --retrain; otherwise the committed
# vocabularies are reused and only the goldens and GGUFs are rewritten.
RETRAIN = "--retrain" in sys.argv

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# ---------------------------------------------------------------- texts

FIXED = [
    "Hello world",
    "Hello, world! How are you doing today?",
    "The quick brown fox jumps over the lazy dog.",
    " leading space",
    "   three leading spaces",
    "trailing space ",
    "trailing spaces   ",
    " ",
    "  ",
    "\n",
    "a\n\n\nb",
    "line one\r\nline two\r\n",
    "tab\tseparated\t\tvalues\t",
    "mixed \t \n  whitespace \n\n  end",
    "don't I'LL we're they've she'd you'm it's DON'T We'Re",
    "'s 't 're 've 'm 'll 'd",
    "12345678901234567890",
    "The year 2024 had 366 days; pi is 3.14159265358979.",
    "x  2024-01-02, 1,000,000 and 0.5%",
    "Phone: +1 (555) 123-4567",
    "Ⅻ ½ ² ٣ ४ numbers in other scripts",
    "你好，世界！今天天气很好。",
    "中文和English混合123",
    "日本語のテキストです。カタカナとひらがな。",
    "한국어 텍스트",
    "Привет, мир!",
    "مرحبا بالعالم",
    "café naïve résumé e\u0301",
    "emoji: 😀 👍🏽 🇫🇷 ❤️",
    "family: 👨‍👩‍👧‍👦 and 🏳️‍🌈 and 👩🏽‍💻",
    "def f(x):\n    return x * 2  # double\n",
    "int main(void) { printf(\"%d\\n\", 42); return 0; }",
    "for (i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
    "<|im_start|>user\nhi<|im_end|>\n",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|><|endoftext|>text<|im_end|>",
    "<|im_start|><|im_end|>",
    "<|im_start",
    "<s>Hello</s> <unk> <s> spaced </s>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "think: <think>hmm</think> done",
    "non\u00a0breaking\u3000ideographic\u2028separator",
    "odd spaces:\u180e \u0085\u200b\u2009 \n\n\u180e x\u000b\u000c",
    "<0x41> looks like a byte token",
    "▁already▁has▁metaspace",
    "https://example.com/path?query=1&b=two#frag",
    "email@example.org, @user #hashtag",
    "!!!???...---___***",
    "ALL CAPS TEXT AND MiXeD cAsE",
    "a",
    "ab",
    "\u00e9",
]

POOLS = [
    ["the", "of", "and", "token", "izer", "Hello", "WORLD", "quick", "lazy", "running",
     "don't", "I'LL", "we've", "it's", "x", "A", "zebra", "fine-tune"],
    ["你", "好", "世界", "中文", "模型", "训练", "的", "是", "。", "，"],
    ["日本", "語", "です", "カタカナ", "ひらがな", "の", "テスト"],
    ["😀", "👍", "👍🏽", "🇫🇷", "❤️", "👨‍👩‍👧‍👦", "🏳️‍🌈", "👩🏽‍💻", "🤖", "✨"],
    ["0", "7", "42", "2024", "3.14", "1000000", "65536", "99999999999"],
    [" ", "  ", "   ", "\t", "\n", "\n\n", "\n\n\n", "\r\n", " \n", "\t\t", "\u00a0", "\u3000"],
    [".", ",", "!", "?", "'", "\"", "(", ")", "{", "}", "[", "]", "#", "->", "::", "==", "...", "'s", "'ll"],
    ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<unk>", "<|eot_id|>",
     "<|begin_of_text|>", "<think>", "<|im_", "|>"],
    ["café", "naïve", "Привет", "мир", "مرحبا", "한국어", "e\u0301", "Ωμέγα", "ß"],
]
POOL_WEIGHTS = [10, 3, 2, 2, 3, 6, 4, 1, 2]


def random_texts(seed, n):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 14)):
            pool = rng.choices(POOLS, weights=POOL_WEIGHTS)[0]
            parts.append(rng.choice(pool))
            if rng.random() < 0.4:
                parts.append(" ")
        out.append("".join(parts))
    return out


TEXTS = FIXED + random_texts(1234, 300)

# A training corpus for the tiny vocabularies: fixed, so the files come out the same.
CORPUS_BASE = [
    "The quick brown fox jumps over the lazy dog. The dog sleeps in the sun.",
    "Tokenizers split text into pieces that a language model can read.",
    "We fine-tune small models with LoRA adapters on a single GPU.",
    "Hello world! Hello there, how are you doing today? I'm fine, thanks.",
    "She said she'd come, but they've left and we're waiting. Don't worry, I'll call.",
    "In 2024 the model saw 1,000,000 tokens; in 2025 it saw 2,500,000 more.",
    "def train(model, data):\n    for batch in data:\n        loss = model(batch)\n        loss.backward()\n",
    "int main(void) {\n\tprintf(\"hello, world\\n\");\n\treturn 0;\n}\n",
    "The training loss went down from 3.2 to 1.7 after 500 steps.",
    "你好世界，中文模型训练。",
    "日本語のテキストです。",
    "Emoji are fun 😀 and so are flags 🇫🇷.",
]


def corpus():
    rng = random.Random(99)
    lines = []
    for _ in range(40):
        lines.extend(CORPUS_BASE)
    lines.extend(random_texts(4321, 400))
    rng.shuffle(lines)
    return lines


# ---------------------------------------------------------------- helpers

def write_goldens(path, enc, n_special=12, n_vocab=None):
    """enc(text, add_special) -> ids. All texts without specials added, the first
    n_special also with them. With n_vocab, texts giving an id >= n_vocab are left out."""
    with open(path, "w", encoding="utf-8") as f:
        for i, text in enumerate(TEXTS):
            for add in ([0, 1] if i < n_special else [0]):
                ids = enc(text, bool(add))
                if n_vocab is not None and any(x >= n_vocab for x in ids):
                    continue
                f.write(json.dumps({"text": text, "add_special": add, "ids": ids},
                                   ensure_ascii=False) + "\n")
    print("wrote", os.path.relpath(path, ROOT))


def hf_tok_from_dir(d):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(d)


def hf_encode(tok):
    return lambda text, add: tok(text, add_special_tokens=add)["input_ids"]


def tok_encode(tok):
    return lambda text, add: tok.encode(text, add_special_tokens=add).ids


def check_same(name, a, b):
    bad = [t for t in TEXTS for add in (False, True) if a(t, add) != b(t, add)]
    if bad:
        sys.exit(f"{name}: transformers and tokenizers disagree on {len(bad)} texts, e.g. {bad[0]!r}")


# ---------------------------------------------------------------- SmolLM2

def make_smollm2():
    from transformers import AutoTokenizer
    d = os.path.join(OUT, "smollm2")
    os.makedirs(d, exist_ok=True)
    hf_gguf = AutoTokenizer.from_pretrained(os.path.dirname(GGUF), gguf_file=os.path.basename(GGUF))
    with tempfile.TemporaryDirectory() as tmp:
        hf_gguf.save_pretrained(tmp)
        with open(os.path.join(tmp, "tokenizer.json"), encoding="utf-8") as f:
            tj = json.load(f)
        with open(os.path.join(tmp, "tokenizer_config.json"), encoding="utf-8") as f:
            tc = json.load(f)
    # The original SmolLM2 pre-tokenizer (see the note at the top).
    tj["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, separators=(",", ":"))
    tc.pop("backend", None)
    tc.setdefault("add_bos_token", False)
    # transformers 5 writes the template to chat_template.jinja; keep it in the config,
    # where the original SmolLM2 repo has it.
    tc.setdefault("chat_template", hf_gguf.chat_template)
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tc, f, ensure_ascii=False, indent=1)
    hf = hf_tok_from_dir(d)
    check_same("smollm2", hf_encode(hf), tok_encode(Tokenizer.from_file(os.path.join(d, "tokenizer.json"))))
    write_goldens(os.path.join(d, "goldens.jsonl"), hf_encode(hf))
    diff = [t for t in TEXTS if hf_encode(hf)(t, False) != hf_encode(hf_gguf)(t, False)]
    print(f"smollm2: transformers-on-GGUF (no Digits step) differs on {len(diff)}/{len(TEXTS)} texts,"
          f" e.g. {diff[:2]!r}")
    for add in (False, True):
        assert hf_encode(hf)("hi", add) == hf_encode(hf_gguf)("hi", add), "BOS behaviour differs"


# ---------------------------------------------------------------- SPM-style tiny

def train_spm_tiny():
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(vocab_size=800 - 256, special_tokens=["<unk>", "<s>", "</s>"],
                                  limit_alphabet=120, show_progress=False)
    tok.train_from_iterator(corpus(), trainer=trainer)
    m = json.loads(tok.to_str())["model"]
    # Llama-2 layout: <unk> <s> </s>, then the 256 byte tokens, then the learned pieces.
    learned = sorted(m["vocab"].items(), key=lambda kv: kv[1])
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece, _ in learned:
        if piece not in vocab:
            vocab[piece] = len(vocab)
    merges = [m if isinstance(m, str) else " ".join(m) for m in m["merges"]]
    return vocab, merges


def spm_tokenizer(vocab, merges, metaspace):
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(x.split(" ")) for x in merges],
                               unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    if metaspace == "split":  # older Metaspace files: always prepend, split into words
        tok.normalizer = None
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    elif metaspace:   # transformers-5 LlamaTokenizer shape
        tok.normalizer = None
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    else:           # Llama-2 tokenizer.json shape
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in ["<unk>", "<s>", "</s>"]])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    return tok


def save_dir(d, tok, config):
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=1)


SPM_CONFIG = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>", "add_bos_token": True, "add_eos_token": False,
              "chat_template": "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}</s>{% endfor %}"}


def make_spm_tiny():
    path = os.path.join(OUT, "spm-tiny", "tokenizer.json")
    if os.path.exists(path) and not RETRAIN:
        m = json.load(open(path, encoding="utf-8"))["model"]
        vocab = m["vocab"]
        merges = [x if isinstance(x, str) else " ".join(x) for x in m["merges"]]
    else:
        vocab, merges = train_spm_tiny()
    for name, metaspace in (("spm-tiny", False), ("spm-tiny-metaspace", True),
                            ("spm-tiny-metaspace-split", "split")):
        d = os.path.join(OUT, name)
        tok = spm_tokenizer(vocab, merges, metaspace)
        save_dir(d, tok, SPM_CONFIG)
        check_same(name, hf_encode(hf_tok_from_dir(d)), tok_encode(tok))
        write_goldens(os.path.join(d, "goldens.jsonl"), tok_encode(tok))
    # The same vocabulary as a llama.cpp SentencePiece GGUF: scores, no merges.
    import gguf
    d = os.path.join(OUT, "spm-tiny")
    path = os.path.join(d, "spm-tiny.gguf")
    tokens = sorted(vocab, key=vocab.get)
    types, scores = [], []
    for i, t in enumerate(tokens):
        if i == 0:
            types.append(gguf.TokenType.UNKNOWN); scores.append(0.0)
        elif i < 3:
            types.append(gguf.TokenType.CONTROL); scores.append(0.0)
        elif i < 259:
            types.append(gguf.TokenType.BYTE); scores.append(0.0)
        else:
            types.append(gguf.TokenType.NORMAL); scores.append(float(-i))
    w = gguf.GGUFWriter(path, "llama")
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_chat_template(SPM_CONFIG["chat_template"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    write_gguf_goldens(path, len(tokens))


def write_gguf_goldens(path, n_vocab):
    """Goldens = what transformers makes of the GGUF. One quirk is left out: for a
    gpt2-model GGUF without an unknown token, transformers' GPT2Tokenizer invents
    "<|endoftext|>" as a NEW token (id n_vocab, past the model's vocabulary), so texts
    that contain that string are skipped here."""
    from transformers import AutoTokenizer
    # A tokenizer.json beside the GGUF would be read instead of the GGUF: load a lone copy.
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(path, tmp)
        hf = AutoTokenizer.from_pretrained(tmp, gguf_file=os.path.basename(path))
    enc = hf_encode(hf)
    skipped = sum(1 for t in TEXTS if any(i >= n_vocab for i in enc(t, False)))
    write_goldens(os.path.join(os.path.dirname(path), "goldens_gguf.jsonl"), enc, n_vocab=n_vocab)
    if skipped:
        print(f"  skipped {skipped} texts that transformers maps to ids past the vocabulary")


# ---------------------------------------------------------------- Llama-3-style tiny

def make_llama3_tiny():
    d = os.path.join(OUT, "bpe-llama3-tiny")
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                "<|eot_id|>"]
    if os.path.exists(os.path.join(d, "tokenizer.json")) and not RETRAIN:
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    else:
        tok = train_llama3_tiny(specials)
    bos = tok.token_to_id("<|begin_of_text|>")
    return write_llama3_tiny(d, tok, specials, bos)


def train_llama3_tiny(specials):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=[], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), trainer=trainer)
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in specials])
    tok.add_tokens([AddedToken("<think>", normalized=False, special=False)])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    return tok


def write_llama3_tiny(d, tok, specials, bos):
    save_dir(d, tok, {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>",
                      "eos_token": "<|eot_id|>"})
    check_same("bpe-llama3-tiny", hf_encode(hf_tok_from_dir(d)), tok_encode(tok))
    write_goldens(os.path.join(d, "goldens.jsonl"), tok_encode(tok))

    # As a llama.cpp GGUF: model gpt2, pre llama-bpe (transformers maps it to the same Split regex).
    import gguf
    j = json.loads(tok.to_str())
    n = tok.get_vocab_size()
    tokens = [tok.id_to_token(i) for i in range(n)]
    types = [gguf.TokenType.NORMAL] * n
    for t in specials:
        types[tok.token_to_id(t)] = gguf.TokenType.CONTROL
    types[tok.token_to_id("<think>")] = gguf.TokenType.USER_DEFINED
    merges = [m if isinstance(m, str) else " ".join(m) for m in j["model"]["merges"]]
    path = os.path.join(d, "bpe-llama3-tiny.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(bos)
    w.add_eos_token_id(tok.token_to_id("<|eot_id|>"))
    w.add_add_bos_token(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    write_gguf_goldens(path, n)


# ---------------------------------------------------------------- broken GGUFs

def make_corrupt_ggufs():
    """Small GGUFs whose tokenizer metadata is wrong in one way each; the loader must
    refuse them cleanly. Name -> (model, tokens, types, merges, scores)."""
    import gguf
    d = os.path.join(OUT, "corrupt")
    os.makedirs(d, exist_ok=True)
    toks = ["a", "b", "ab", "<s>"]
    cases = {
        "merge-unknown-token": ("gpt2", toks, [1, 1, 1, 3], ["a c"], None),
        "merge-unknown-result": ("gpt2", toks, [1, 1, 1, 3], ["b a"], None),
        "merge-no-space": ("gpt2", toks, [1, 1, 1, 3], ["ab"], None),
        "no-merges": ("gpt2", toks, [1, 1, 1, 3], None, None),
        "types-short": ("gpt2", toks, [1, 1], ["a b"], None),
        "type-out-of-range": ("gpt2", toks, [1, 1, 9, 3], ["a b"], None),
        "model-unknown": ("bert", toks, [1, 1, 1, 3], ["a b"], None),
        "no-scores": ("llama", toks, [1, 1, 1, 3], None, None),
        "bos-out-of-range": ("llama", toks, [1, 1, 1, 3], None, [0.0, 0.0, -1.0, 0.0]),
        "pre-unknown": ("gpt2", toks, [1, 1, 1, 3], ["a b"], None),
    }
    for name, (model, tokens, types, merges, scores) in cases.items():
        w = gguf.GGUFWriter(os.path.join(d, name + ".gguf"), "llama")
        w.add_tokenizer_model(model)
        w.add_tokenizer_pre("no-such-pre" if name == "pre-unknown" else "default")
        w.add_token_list(tokens)
        w.add_token_types(types)
        if merges is not None:
            w.add_token_merges(merges)
        if scores is not None:
            w.add_token_scores(scores)
        w.add_bos_token_id(99 if name == "bos-out-of-range" else 3)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    print("wrote", len(cases), "broken GGUFs in", os.path.relpath(d, ROOT))


def main():
    os.makedirs(OUT, exist_ok=True)
    make_corrupt_ggufs()
    if not os.path.exists(GGUF):
        sys.exit(f"{GGUF} is missing")
    make_smollm2()
    make_spm_tiny()
    make_llama3_tiny()


if __name__ == "__main__":
    main()
