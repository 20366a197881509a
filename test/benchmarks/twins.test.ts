import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { modelNames } from "../../src/models/registry.ts";

// bench:train's PyTorch twins (benchmarks/reference/twins_models.py) must stay the mkt models they
// twin: this fails when a model changes (a parameter renamed, resized, added, or the arithmetic
// changed) without its twin. Skipped where PyTorch is not installed (Debian: python3-torch).
const python = process.env["MKT_TORCH_PYTHON"] ?? "/usr/bin/python3";
const probe = spawnSync(python, ["-c", "import torch"], { encoding: "utf8" });
const reason = probe.status === 0 ? "" : ` (skipped: ${python} cannot import torch)`;

interface Row {
  model: string;
  stage: string;
  parameters: number;
  check: { mktLoss: number; torchLoss: number; maxPredictionDiff: number };
}

const out = mkdtempSync(join(tmpdir(), "mkt-twins-test-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe.skipIf(probe.status !== 0)(`PyTorch twins${reason}`, () => {
  it("have every training stage's tensors, by name, size and trainability, and its loss and predictions from its weights", () => {
    // The child of benchmarks/twins.ts with no timing rounds: it throws (a non-zero exit) on any difference.
    const stdout = execFileSync(
      process.execPath,
      ["--import", "tsx", "benchmarks/twins.ts", "--child", "--sizes", "cpu", "--models", modelNames().join(","), "--rounds", "0", "--no-epoch", "--dataset", "datasets/synthetic-tiny.yaml", "--out", out],
      { encoding: "utf8", maxBuffer: 1 << 26, stdio: ["ignore", "pipe", "pipe"] },
    );
    const rows = (JSON.parse(stdout.trim().split("\n").at(-1)!) as { rows: Row[] }).rows;
    expect(rows.map((r) => `${r.model}/${r.stage}`)).toEqual([
      "mkt/pretrain",
      "mkt/finetune",
      "mlp/train",
      "din/train",
      "fibinet/train",
      "mmoe/train",
      "ple/train",
      "star/train",
      "conet/train",
      "minet/train",
      "finetune/pretrain",
      "finetune/finetune",
      "ctnet/source",
      "ctnet/target",
    ]);
    for (const r of rows) {
      expect(r.parameters).toBeGreaterThan(0);
      expect(Math.abs(r.check.mktLoss - r.check.torchLoss)).toBeLessThan(1e-4);
      expect(r.check.maxPredictionDiff).toBeLessThan(1e-4);
    }
  }, 900_000);
});
