"""Per-operator times of a PyTorch twin's training step (or prediction), the PyTorch side of
benchmarks/profile.ts. The twin is built from a prepared dataset's schema.json with random ids and
weights (moving variances 1): speed only. Run under /usr/bin/python3 with the malloc settings
benchmarks/twins.ts gives the twin, e.g.

  MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=4000000000 /usr/bin/python3 benchmarks/reference/profile_twin.py \
      results/bench/prepared/douban-book-music/schema.json din [stage] [--paper] [--eval] [--steps 10]
"""
import argparse
import json
import os
import sys
import time

import torch
from torch.profiler import profile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from twins_models import build  # noqa: E402

CPU_SIZES = dict(embedding_dim=8, mlp=[256, 128], tower=[64], attention=[36], hfa_dim=64, cke_levels=[256, 128], cke_shared_experts=1, cke_entity_experts=1)
PAPER_SIZES = {**CPU_SIZES, "mlp": [1024, 512], "cke_levels": [1024, 512]}
# The models' own spec sections at their defaults (docs/specs.md).
SECTIONS = {"gamma": 0.1, "mem": {"hfa_cross_layers": 2}, "mmoe": {"experts": 3}, "fibinet": {"senet_reduction": 3}}


def random_batch(schema, size, source, seed=1):
    g = torch.Generator().manual_seed(seed)
    vocab = {f["column"]: f["vocabSize"] for f in schema["features"]}
    batch = {"size": size, "source": source, "label": (torch.rand(size, generator=g) > 0.5).float()}
    batch["features"] = {c: torch.randint(0, v, (size,), dtype=torch.int32, generator=g) for c, v in vocab.items()}
    batch["sequences"] = {}
    for s in schema["sequences"]:
        L = s["maxlen"]
        ids = {e: torch.randint(0, vocab[c], (size, L), dtype=torch.int32, generator=g) for e, c in s["elements"].items()}
        batch["sequences"][s["name"]] = {"mask": (torch.rand(size, L, generator=g) > 0.3).float(), "ids": ids}
    return batch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("schema")
    parser.add_argument("model")
    parser.add_argument("stage", nargs="?")
    parser.add_argument("--paper", action="store_true")
    parser.add_argument("--eval", action="store_true")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--top", type=int, default=20)
    a = parser.parse_args()
    with open(a.schema) as f:
        schema = json.load(f)
    stage = a.stage or ("pretrain" if a.model in ("mkt", "finetune") else "source" if a.model == "ctnet" else "train")
    model = build(a.model, stage, schema, PAPER_SIZES if a.paper else CPU_SIZES, SECTIONS)
    for t in model.mkt_tensors().values():
        with torch.no_grad():
            if isinstance(t, torch.nn.Parameter):
                t.uniform_(-0.05, 0.05)
            else:
                t.fill_(1.0)
    joint = stage == "pretrain" and a.model == "mkt" or a.model in ("mmoe", "ple", "star", "conet", "minet")
    batch = random_batch(schema, 8192 if a.eval else 1024, 0 if a.eval or not joint else 600)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3, eps=1e-7)

    def step():
        if a.eval:
            with torch.inference_mode():
                model.predict(batch)
            return
        optimizer.zero_grad(set_to_none=True)
        loss = model.loss(batch)
        loss.backward()
        optimizer.step()
        loss.item()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    ms = (time.perf_counter() - t0) / a.steps * 1000
    with profile() as prof:
        for _ in range(a.steps):
            step()
    print(f"{a.model}/{stage} {'paper' if a.paper else 'cpu'} {'eval' if a.eval else 'train'}, batch {batch['size']}: {ms:.1f} ms per step ({batch['size'] / ms * 1000:.0f} samples/s)")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.top))


if __name__ == "__main__":
    main()
