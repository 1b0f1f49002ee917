#!/usr/bin/env python3
"""Renders the real Jinja chat templates with transformers (the code behind
tokenizer.apply_chat_template) and writes tests/data/template_goldens.h, which
tests/test_chat_template.c compares peftui's renders against byte for byte.

Run from the repo root:  /opt/ref/bin/python tests/reference/make_template_goldens.py
"""
import json
import os
import sys

from transformers.utils.chat_template_utils import render_jinja_template

# The Jinja templates as the models ship them (tokenizer_config.json / GGUF).
SMOLLM2 = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
           "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
           "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
           "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
LLAMA2 = ("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
          "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
          "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
          "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
          "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
          "{% if loop.index0 == 0 and system_message != false %}"
          "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
          "{% else %}{% set content = message['content'] %}{% endif %}"
          "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
          "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")
LLAMA3 = ("{% set loop_messages = messages %}{% for message in loop_messages %}"
          "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
          "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
MISTRAL = ("{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
           "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
           "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
           "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
           "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}")
# chujiezheng/chat_templates alpaca.jinja, on one line, rendered with empty BOS/EOS.
ALPACA = ("{% if messages[0]['role'] == 'system' %}{% set system_message = messages[0]['content'] | trim + '\n\n' %}"
          "{% set messages = messages[1:] %}{% else %}{% set system_message = '' %}{% endif %}"
          "{{ bos_token + system_message }}{% for message in messages %}"
          "{% if message['role'] == 'user' %}{{ '### Instruction:\n' + message['content'] | trim + '\n\n' }}"
          "{% elif message['role'] == 'assistant' %}{{ '### Response:\n' + message['content'] | trim + eos_token + '\n\n' }}"
          "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '### Response:\n' }}{% endif %}")
ALPACA_SYSTEM = ("Below is an instruction that describes a task. "
                 "Write a response that appropriately completes the request.")

CONVS = [
    [("user", "What is the capital of France?")],
    [("system", "You are terse."), ("user", "hi")],
    [("system", " Be brief.\n"), ("user", "Hello"), ("assistant", "Hi there"), ("user", "  Who are you?  ")],
    [("user", "Hello"), ("assistant", "   I am an assistant   "), ("user", "Another question")],
    [("user", "2+2?"), ("assistant", "4")],
]

# (template file, Jinja, bos, eos, conversations, extra system prepended when absent)
CASES = [
    ("chatml", SMOLLM2, "", "", [0, 1, 2, 3, 4], None),
    ("llama2", LLAMA2, "<s>", "</s>", [0, 1, 2, 3, 4], None),
    ("llama3", LLAMA3, "<|begin_of_text|>", "<|eot_id|>", [0, 1, 2, 3, 4], None),
    ("mistral", MISTRAL, "<s>", "</s>", [0, 3, 4], None),
    ("alpaca", ALPACA, "", "", [0, 1, 2, 3, 4], ALPACA_SYSTEM),
]


def c_str(s):
    out = []
    for ch in s.encode("utf-8"):
        c = chr(ch)
        if c == "\\": out.append("\\\\")
        elif c == '"': out.append('\\"')
        elif c == "\n": out.append("\\n")
        elif c == "\t": out.append("\\t")
        elif 32 <= ch < 127: out.append(c)
        else: out.append("\\%03o" % ch)
    return '"' + "".join(out) + '"'


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = os.path.join(root, "tests", "data", "template_goldens.h")
    lines = ["// template_goldens.h - generated by tests/reference/make_template_goldens.py; do not edit.",
             "// Renders of the real Jinja chat templates by transformers' render_jinja_template.",
             "", "typedef struct { const char *role, *content; } golden_msg;", ""]
    for i, conv in enumerate(CONVS):
        msgs = ", ".join("{%s, %s}" % (c_str(r), c_str(c)) for r, c in conv)
        lines.append("static const golden_msg GOLDEN_CONV%d[] = {%s};" % (i, msgs))
    lines += ["", "static const struct { const golden_msg *msgs; int n; } GOLDEN_CONVS[] = {"]
    lines += ["    {GOLDEN_CONV%d, %d}," % (i, len(c)) for i, c in enumerate(CONVS)]
    lines += ["};", "",
              "// template file, conversation, add_generation, expected text",
              "static const struct { const char *tmpl; int conv; int add_generation; const char *expect; } TEMPLATE_GOLDENS[] = {"]
    for name, jinja, bos, eos, convs, default_sys in CASES:
        for ci in convs:
            msgs = [{"role": r, "content": c} for r, c in CONVS[ci]]
            if default_sys and msgs[0]["role"] != "system":
                msgs = [{"role": "system", "content": default_sys}] + msgs
            for gen in (1, 0):
                if gen == 0 and msgs[-1]["role"] != "assistant":
                    continue
                if gen == 1 and msgs[-1]["role"] == "assistant":
                    continue
                rendered, _ = render_jinja_template(conversations=[msgs], chat_template=jinja,
                                                    add_generation_prompt=bool(gen), bos_token=bos, eos_token=eos)
                lines.append("    {%s, %d, %d, %s}," % (c_str(name), ci, gen, c_str(rendered[0])))
    lines += ["};", ""]
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write("\n".join(lines))
    print("wrote", out, file=sys.stderr)


if __name__ == "__main__":
    main()
