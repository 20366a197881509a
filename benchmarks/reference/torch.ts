/**
 * Client of the PyTorch reference workers (benchmarks/reference/torch_mlp.py, the dense MLP, and
 * twins.py, every model's twin): spawns one under a Python interpreter and talks its JSON-lines
 * protocol (one request, then one reply, at a time).
 *
 * Unavailability is a value, not an exception: `TorchReference.open()` returns
 * `{ available: false, reason }` when no interpreter can run the worker with torch importable.
 * Interpreters tried, first that works wins: `options.python`, else $MKT_TORCH_PYTHON, else
 * `python3` from PATH and then `/usr/bin/python3` — Debian's python3-torch installs for the system
 * interpreter only, and a `python3` earlier on PATH (pyenv, a venv) usually cannot import it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const MLP_SCRIPT = fileURLToPath(new URL("./torch_mlp.py", import.meta.url));
/** The worker's exit code when torch cannot be imported (its stderr line is the reason). */
const NO_TORCH_EXIT = 3;

export interface TorchInit {
  /** The batch file written by writeBatchFile (benchmarks/dense-mlp.ts). */
  data: string;
  batch: number;
  input: number;
  layers: number[];
  batches: number;
  /** torch.set_num_threads when > 0; 0 keeps torch's default. */
  threads: number;
  seed?: number;
}

export interface TorchInitReply {
  torch: string;
  /** torch.get_num_threads() after init. */
  threads: number;
  /** The BLAS libraries the worker process has mapped (resolved paths). */
  blas: string;
  /** Threads of that BLAS (OpenBLAS: its own pool, which torch.set_num_threads does not reach); null if unknown. */
  blasThreads: number | null;
}

export type TorchOpenResult =
  | { available: true; reference: TorchReference }
  | { available: false; reason: string };

type Reply = Record<string, unknown>;

export class TorchReference {
  private readonly pending: { resolve(r: Reply): void; reject(e: Error): void }[] = [];
  private stderr = "";
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    /** The interpreter running the worker. */
    readonly python: string,
  ) {
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4000);
    });
    createInterface({ input: child.stdout }).on("line", (line) => {
      const waiter = this.pending.shift();
      if (waiter === undefined) return; // nothing asked: not part of the protocol, ignore
      try {
        waiter.resolve(JSON.parse(line) as Reply);
      } catch {
        waiter.reject(new Error(`torch worker: not JSON: ${line.slice(0, 200)}`));
      }
    });
    // A write after the worker died raises EPIPE on stdin; the exit handler reports it instead.
    child.stdin.on("error", () => {});
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, spawnError?: NodeJS.ErrnoException) => {
        if (this.exitCode !== undefined) return;
        this.exitCode = code;
        if (spawnError !== undefined) this.stderr = spawnError.code === "ENOENT" ? "not found" : spawnError.message;
        const why = this.failureReason(code);
        for (const waiter of this.pending.splice(0)) waiter.reject(new Error(why));
        resolve(code);
      };
      child.on("error", (err) => done(null, err));
      child.on("close", (code) => done(code)); // "close", not "exit": stderr has been read to its end
    });
  }

  /**
   * Starts a worker (default: the dense-MLP one, torch_mlp.py; `script`: another worker speaking
   * the same protocol, e.g. twins.py) under the first interpreter that can import torch.
   */
  static async open(options: { python?: string; script?: string; env?: NodeJS.ProcessEnv } = {}): Promise<TorchOpenResult> {
    const fromEnv = process.env["MKT_TORCH_PYTHON"];
    const candidates = options.python ?? fromEnv;
    const pythons = candidates !== undefined && candidates !== "" ? [candidates] : ["python3", "/usr/bin/python3"];
    const reasons: string[] = [];
    for (const python of pythons) {
      const child = spawn(python, [options.script ?? MLP_SCRIPT], { stdio: ["pipe", "pipe", "pipe"], env: options.env ?? process.env });
      const reference = new TorchReference(child, python);
      try {
        await reference.request({ cmd: "version" });
        return { available: true, reference };
      } catch (err) {
        reasons.push(`${python}: ${err instanceof Error ? err.message : String(err)}`);
        await reference.close();
      }
    }
    return { available: false, reason: reasons.join("; ") };
  }

  async init(options: TorchInit): Promise<TorchInitReply> {
    const reply = await this.request({ cmd: "init", ...options });
    const blasThreads = reply["blas_threads"];
    return {
      torch: String(reply["torch"]),
      threads: Number(reply["threads"]),
      blas: String(reply["blas"]),
      blasThreads: typeof blasThreads === "number" ? blasThreads : null,
    };
  }

  /** `steps` training steps on batches start, start+1, … (mod N); per-step milliseconds. */
  async run(steps: number, start: number): Promise<number[]> {
    const reply = await this.request({ cmd: "run", steps, start });
    const ms = reply["ms"];
    if (!Array.isArray(ms) || ms.length !== steps) throw new Error(`torch worker: bad run reply ${JSON.stringify(reply)}`);
    return ms.map(Number);
  }

  /** Mean loss on one batch with the current weights (no update). */
  async loss(index: number): Promise<number> {
    return Number((await this.request({ cmd: "loss", index }))["loss"]);
  }

  /** Asks the worker to quit and waits for it; kills it if it has not gone within 5 s. */
  async close(): Promise<void> {
    if (this.exitCode === undefined && this.child.stdin.writable) this.child.stdin.end(JSON.stringify({ cmd: "quit" }) + "\n");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(timer);
  }

  /** One request of the worker's protocol and its reply (a reply {"error": …} rejects). */
  request(message: Record<string, unknown>): Promise<Reply> {
    if (this.exitCode !== undefined) return Promise.reject(new Error(this.failureReason(this.exitCode)));
    return new Promise<Reply>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.child.stdin.write(JSON.stringify(message) + "\n");
    }).then((reply) => {
      if (typeof reply["error"] === "string") throw new Error(`torch worker: ${reply["error"]}`);
      return reply;
    });
  }

  private failureReason(code: number | null): string {
    const lastLine = this.stderr.trim().split("\n").pop() ?? "";
    if ((code === NO_TORCH_EXIT || code === null) && lastLine !== "") return lastLine;
    return `torch worker exited (code ${code})${lastLine !== "" ? `: ${lastLine}` : ""}`;
  }
}
