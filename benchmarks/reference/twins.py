"""PyTorch worker for benchmarks/twins.ts: trains and evaluates the PyTorch twin of one mkt training
stage (twins_models.py) on the very batches mkt's reader produced, written by the TS side.

Needs PyTorch (Debian 12: `apt-get install python3-torch`, for /usr/bin/python3). If torch cannot
be imported this script writes one line to stderr and exits with code 3.

Protocol (JSON lines, one reply per request, as benchmarks/reference/torch_mlp.py):
  {"cmd":"version"}
  {"cmd":"init","layout":"<layout.json>"}
      builds the twin, loads mkt's weights by name, sets Adam (mkt's lr, betas and epsilon) on the
      variables mkt trains. Reply: {"torch", "threads", "blas", "blas_threads",
      "tensors": [[name, size, trainable], ...] (every parameter and buffer of the twin, by mkt's name)}
  {"cmd":"loss","set":S,"index":i}    loss on batch i of set S, no update ("train" mode: moving statistics move, as mkt's do)
  {"cmd":"predict","set":S,"index":i} target-path probabilities of batch i: {"p": [...]}
  {"cmd":"steps","set":S,"index":i,"count":K}  K training steps on batch i: {"ms": [...]}
  {"cmd":"evals","set":S,"index":i,"count":K}  K predictions of batch i: {"ms": [...]}
  {"cmd":"epoch","set":S}      one training pass over every batch of S in order: {"seconds", "samples", "loss"}
  {"cmd":"eval_epoch","set":S} predictions of every batch of S into one output tensor: {"seconds", "samples"}
  {"cmd":"quit"}

Batch sets (written by benchmarks/twins.ts writeBatchSet): `<file>.json` indexes `<file>.bin`,
little-endian, per batch: label float32[B], each feature column int32[B], then per sequence its
mask float32[B*L] and each element's ids int32[B*L]; rows source-first as mkt's model sees them.
The PyTorch side reads a whole set into memory before timing: a batch is a set of tensor views.
"""
import json
import os
import sys
import time

try:
    import torch
except Exception as err:
    print(f"cannot import torch with {sys.executable}: {type(err).__name__}: {err}".replace("\n", " "), file=sys.stderr)
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_mlp import serve  # noqa: E402
from twins_models import build  # noqa: E402


def read_set(path):
    with open(path + ".json") as f:
        index = json.load(f)
    with open(path + ".bin", "rb") as f:
        raw = bytearray(f.read())
    if sys.byteorder != "little":
        raise ValueError("batch sets are little-endian; this host is not")
    batches = []
    for b in index["batches"]:
        size, offset = b["size"], b["offset"]

        def take(dtype, count):
            nonlocal offset
            t = torch.frombuffer(raw, dtype=dtype, count=count, offset=offset)
            offset += 4 * count
            return t

        batch = {"size": size, "source": b["source"], "label": take(torch.float32, size)}
        batch["features"] = {c: take(torch.int32, size) for c in index["columns"]}
        batch["sequences"] = {}
        for s in index["sequences"]:
            L = s["maxlen"]
            mask = take(torch.float32, size * L).view(size, L)
            ids = {e: take(torch.int32, size * L).view(size, L) for e in s["elements"]}
            batch["sequences"][s["name"]] = {"mask": mask, "ids": ids}
        batches.append(batch)
    return batches


class Worker:
    def __init__(self, msg):
        with open(msg["layout"]) as f:
            layout = json.load(f)
        self.model = build(layout["recipe"], layout["stage"], layout["schema"], layout["sizes"], layout["sections"])
        tensors = self.model.mkt_tensors()
        expected = {p["name"]: p for p in layout["tensors"]}
        missing = sorted(set(expected) - set(tensors))
        extra = sorted(set(tensors) - set(expected))
        if missing or extra:
            raise ValueError(f"twin and mkt differ: only in mkt {missing[:8]}, only in the twin {extra[:8]}")
        with open(layout["weights"], "rb") as f:
            raw = bytearray(f.read())
        offset = 0
        for p in layout["tensors"]:
            t = tensors[p["name"]]
            count = t.numel()
            if list(t.shape) != p["shape"]:
                raise ValueError(f"{p['name']}: twin shape {list(t.shape)}, mkt {p['shape']}")
            with torch.no_grad():
                t.copy_(torch.frombuffer(raw, dtype=torch.float32, count=count, offset=offset).view(t.shape))
            offset += 4 * count
            if isinstance(t, torch.nn.Parameter):
                t.requires_grad_(bool(p["trainable"]))
            elif p["trainable"]:
                raise ValueError(f"{p['name']}: trainable in mkt, a buffer in the twin")
        self.tensors = tensors
        trainable = [tensors[p["name"]] for p in layout["tensors"] if p["trainable"]]
        opt = layout["adam"]
        self.optimizer = torch.optim.Adam(trainable, lr=opt["lr"], betas=(opt["beta1"], opt["beta2"]), eps=opt["epsilon"])
        self.sets = {name: read_set(path) for name, path in layout["sets"].items()}

    def step(self, batch):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.model.loss(batch)
        loss.backward()
        self.optimizer.step()
        return loss.item()  # mkt reads its loss back after each step too

    def steps(self, batch, count):
        times = []
        for _ in range(count):
            t0 = time.perf_counter()
            self.step(batch)
            times.append((time.perf_counter() - t0) * 1000.0)
        return times

    def evals(self, batch, count):
        times = []
        for _ in range(count):
            t0 = time.perf_counter()
            with torch.inference_mode():
                p = self.model.predict(batch)
            p.clone()  # mkt copies its scores out of the backend
            times.append((time.perf_counter() - t0) * 1000.0)
        return times

    def epoch(self, batches):
        total, samples = 0.0, 0
        t0 = time.perf_counter()
        for batch in batches:
            total += self.step(batch) * batch["size"]
            samples += batch["size"]
        return {"seconds": time.perf_counter() - t0, "samples": samples, "loss": total / max(samples, 1)}

    def eval_epoch(self, batches):
        samples = sum(b["size"] for b in batches)
        t0 = time.perf_counter()
        out = torch.empty(samples)
        offset = 0
        with torch.inference_mode():
            for batch in batches:
                out[offset : offset + batch["size"]] = self.model.predict(batch)
                offset += batch["size"]
        return {"seconds": time.perf_counter() - t0, "samples": samples}

    def init_reply(self):
        return {"tensors": [[n, t.numel(), bool(t.requires_grad)] for n, t in self.tensors.items()]}

    def handle(self, cmd, msg):
        if cmd == "loss":
            return {"loss": float(self.model.loss(self.sets[msg["set"]][msg["index"]]))}
        if cmd == "predict":
            with torch.inference_mode():
                return {"p": self.model.predict(self.sets[msg["set"]][msg["index"]]).tolist()}
        if cmd == "steps":
            return {"ms": self.steps(self.sets[msg["set"]][msg["index"]], int(msg["count"]))}
        if cmd == "evals":
            return {"ms": self.evals(self.sets[msg["set"]][msg["index"]], int(msg["count"]))}
        if cmd == "epoch":
            return self.epoch(self.sets[msg["set"]])
        if cmd == "eval_epoch":
            return self.eval_epoch(self.sets[msg["set"]])
        raise ValueError(f"unknown cmd {cmd!r}")


def main():
    serve(Worker)


if __name__ == "__main__":
    main()
