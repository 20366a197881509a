"""PyTorch reference for benchmarks/mlp-vs-torch.ts: trains the same dense MLP as
benchmarks/dense-mlp.ts (nn.Linear + ReLU, He-normal weights, zero biases, BCEWithLogitsLoss,
Adam lr 1e-3) on the same batches, as a persistent worker driven by benchmarks/reference/torch.ts.

Needs PyTorch. On Debian 12 (bookworm): `apt-get install python3-torch` (it installs for the
system interpreter, /usr/bin/python3). If torch cannot be imported this script writes one line
to stderr and exits with code 3.

Protocol: one JSON object per line on stdin, one reply per line on stdout.
  {"cmd":"init","data":"<path>","batch":1024,"input":1024,"layers":[1024,512,64,1],
   "batches":N,"threads":T,"seed":S}
      reads the batches, builds the model and optimizer; T > 0 sets torch.set_num_threads(T),
      T = 0 keeps torch's default (an OpenBLAS in use gets T threads too; see openblas()).
      Reply: {"ok":true,"torch":"<version>","threads":<torch.get_num_threads()>,
              "blas":"<BLAS libraries mapped>","blas_threads":<n or null>}
  {"cmd":"run","steps":K,"start":i}
      K training steps on batches i, i+1, ... (mod N), each timed with time.perf_counter.
      Reply: {"ms":[K step times in milliseconds]}
  {"cmd":"loss","index":i}  mean loss on batch i, no update. Reply: {"loss":x}
  {"cmd":"version"}         answers before init (the TS side's liveness check).
      Reply: {"ok":true,"torch":"<version>","python":"<interpreter>"}
  {"cmd":"quit"}            exits (so does end of input).
Errors reply {"error":"<message>"} and the worker carries on.

Batch file layout (written by writeBatchFile in benchmarks/dense-mlp.ts): float32 little-endian,
no header; every x first (batch 0's batch*input values row-major, then batch 1's, ...), then
every y (batch 0's batch labels, then batch 1's, ...): N*batch*(input+1) floats in all.
"""
import ctypes
import json
import os
import sys
import time

try:
    import torch
    from torch import nn
except Exception as err:  # ImportError, or a broken install failing while loading its libraries
    print(f"cannot import torch with {sys.executable}: {type(err).__name__}: {err}".replace("\n", " "), file=sys.stderr)
    sys.exit(3)


def blas_libraries():
    """The BLAS shared libraries mapped into this process (resolved paths). Debian's torch
    (BLAS_INFO=generic) calls whatever the libblas.so.3 alternative points to: the reference
    BLAS of libblas3 (slow, one thread) unless e.g. libopenblas0-pthread is installed."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "blas" in line.lower()}
    except OSError:
        return []
    return sorted({os.path.realpath(p) for p in paths if p.startswith("/")})


def openblas():
    """ctypes handle on the OpenBLAS in use, or None. torch.set_num_threads does not reach a
    generic BLAS, so its thread count is read and set here."""
    for path in blas_libraries():
        if "openblas" in os.path.basename(path):
            try:
                return ctypes.CDLL(path)
            except OSError:
                return None
    return None


def blas_threads():
    lib = openblas()
    if lib is not None:
        return int(lib.openblas_get_num_threads())
    if any(os.path.basename(p).startswith("libblas.so") for p in blas_libraries()):
        return 1  # a reference/generic libblas has no threads of its own
    return None


class Worker:
    def __init__(self, msg):
        if msg.get("threads", 0) > 0:
            torch.set_num_threads(int(msg["threads"]))
            lib = openblas()
            if lib is not None:
                lib.openblas_set_num_threads(int(msg["threads"]))
        batch, width, n = int(msg["batch"]), int(msg["input"]), int(msg["batches"])
        with open(msg["data"], "rb") as f:
            raw = bytearray(f.read())
        expected = n * batch * (width + 1) * 4
        if len(raw) != expected:
            raise ValueError(f"{msg['data']}: {len(raw)} bytes, expected {expected}")
        # frombuffer reads native order; x86 and ARM Linux are little-endian like the file.
        if sys.byteorder != "little":
            raise ValueError("the batch file is little-endian; this host is not")
        flat = torch.frombuffer(raw, dtype=torch.float32)
        xs = flat[: n * batch * width].view(n, batch, width)
        ys = flat[n * batch * width :].view(n, batch, 1)
        self.batches = [(xs[i].clone(), ys[i].clone()) for i in range(n)]

        torch.manual_seed(int(msg.get("seed", 0)))
        modules = []
        fan_in = width
        layers = [int(u) for u in msg["layers"]]
        for i, units in enumerate(layers):
            linear = nn.Linear(fan_in, units)
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")  # He-normal: std sqrt(2 / fan_in)
            nn.init.zeros_(linear.bias)
            modules.append(linear)
            if i < len(layers) - 1:
                modules.append(nn.ReLU())
            fan_in = units
        self.model = nn.Sequential(*modules)
        self.loss_fn = nn.BCEWithLogitsLoss()
        # eps 1e-7 is tfjs's Adam default (torch's is 1e-8): the same update rule on both sides.
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=float(msg.get("lr", 1e-3)), eps=1e-7)

    def step(self, index):
        x, y = self.batches[index % len(self.batches)]
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        self.optimizer.step()

    def run(self, steps, start):
        times = []
        for k in range(steps):
            t0 = time.perf_counter()
            self.step(start + k)  # CPU torch is synchronous: the step is done when this returns
            times.append((time.perf_counter() - t0) * 1000.0)
        return times

    def loss(self, index):
        x, y = self.batches[index % len(self.batches)]
        with torch.no_grad():
            return float(self.loss_fn(self.model(x), y))


    def init_reply(self):
        return {}

    def handle(self, cmd, msg):
        if cmd == "run":
            return {"ms": self.run(int(msg["steps"]), int(msg.get("start", 0)))}
        if cmd == "loss":
            return {"loss": self.loss(int(msg["index"]))}
        raise ValueError(f"unknown cmd {cmd!r}")


def serve(make_worker):
    """The JSON-lines loop of a worker (protocol above): `make_worker(msg)` at each init, whose
    init_reply() adds to the init reply and handle(cmd, msg) answers every other command."""
    worker = None
    while True:
        line = sys.stdin.readline()  # returns at each newline (no read-ahead wait on a pipe)
        if not line:
            break
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
            cmd = msg.get("cmd")
            if cmd == "quit":
                break
            if cmd == "version":
                reply = {"ok": True, "torch": torch.__version__, "python": sys.executable}
            elif cmd == "init":
                worker = make_worker(msg)
                reply = {
                    "ok": True,
                    "torch": torch.__version__,
                    "threads": torch.get_num_threads(),
                    "blas": ", ".join(blas_libraries()) or "none loaded",
                    "blas_threads": blas_threads(),
                    **worker.init_reply(),
                }
            elif worker is None:
                reply = {"error": f"'{cmd}' before 'init'"}
            else:
                reply = worker.handle(cmd, msg)
        except Exception as err:
            reply = {"error": f"{type(err).__name__}: {err}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def main():
    serve(Worker)


if __name__ == "__main__":
    main()
