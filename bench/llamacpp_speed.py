#!/usr/bin/env python3
"""llama.cpp's prefill and decode speed on a GGUF, through llama-cpp-python
(PyPI builds llama.cpp from source), measured the way `peftui bench` measures:
prefill of P prompt tokens in one batch, then D single-token decode steps.

    .venv-ref/bin/pip install llama-cpp-python
    .venv-ref/bin/python bench/llamacpp_speed.py MODEL.gguf [threads] [P] [D] [reps]
"""
import resource, statistics, sys, time

from llama_cpp import Llama

path = sys.argv[1]
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
P = int(sys.argv[3]) if len(sys.argv) > 3 else 128
D = int(sys.argv[4]) if len(sys.argv) > 4 else 64
reps = int(sys.argv[5]) if len(sys.argv) > 5 else 3

t0 = time.perf_counter()
llm = Llama(model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=1024, n_batch=512, verbose=False)
load_s = time.perf_counter() - t0
prompt = [(i * 7919 + 13) % 40000 + 100 for i in range(P)]
pre, dec = [], []
for _ in range(reps):
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(prompt)
    pre.append(P / (time.perf_counter() - t0))
    tok = 100
    t0 = time.perf_counter()
    for i in range(D):
        llm.eval([tok + i])
    dec.append(D / (time.perf_counter() - t0))
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"llama.cpp  threads={threads} load {load_s:.2f} s  prefill {statistics.median(pre):.1f} tok/s  "
      f"decode {statistics.median(dec):.1f} tok/s  peak RSS {rss:.0f} MiB")
