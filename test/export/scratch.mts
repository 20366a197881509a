import { buildProgram } from "../../src/cli/main.ts";
import { registerExport } from "../../src/cli/commands/export.ts";
const program = buildProgram();
if (!program.commands.some((c) => c.name() === "export")) registerExport(program);
const out = ["--log-level", "warn", "--backend", "cpu", "--out", "/tmp/mkt-e2e"];
const t = performance.now();
for (const cmd of ["pretrain", "finetune", "export"]) {
  await buildProgramFor().parseAsync([...out, cmd, "experiments/tiny.yaml"], { from: "user" });
  console.error(cmd, ((performance.now() - t) / 1000).toFixed(1), "s");
}
function buildProgramFor() { const p = buildProgram(); if (!p.commands.some((c) => c.name() === "export")) registerExport(p); return p; }
