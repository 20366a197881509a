import type { Command } from "commander";
import { replicaCount } from "../../train/parallel/count.ts";
import { print } from "../experiment-command.ts";
import { globalOptions } from "../options.ts";

export function registerInfo(program: Command): void {
  program
    .command("info")
    .description("print the tfjs backend mkt would use, versions, active kernel overrides, and why faster backends are unavailable")
    .action(async (_options: unknown, command: Command) => {
      const global = globalOptions(command);
      const { describeBackends, selectBackend } = await import("../../engine/index.ts");
      const backends = await describeBackends();
      const chosen = await selectBackend(global.backend, { kernelOverrides: global.kernelOverrides });
      const replicas = replicaCount(global.workers, chosen.name);
      const info = { backend: chosen.name, tfjsBackend: chosen.tfjsBackend, versions: chosen.versions, kernelOverrides: chosen.kernelOverrides, blas: chosen.blas ?? null, replicas, backends: backends.backends };
      const lines = [
        `backend: ${chosen.name} (tfjs backend '${chosen.tfjsBackend}', chosen by --backend ${global.backend})`,
        `versions: ${Object.entries(chosen.versions).map(([k, v]) => `${k} ${v}`).join(", ")}`,
        `kernel overrides: ${chosen.kernelOverrides.length ? chosen.kernelOverrides.join(", ") : "none"}${global.kernelOverrides ? "" : " (--no-kernel-overrides)"}`,
        ...(chosen.blas ? [`OpenBLAS matmuls: ${chosen.blas}`] : []),
        `training replicas: ${replicas} (--workers ${global.workers})`,
        "backends (auto tries them in this order):",
        ...backends.backends.map((b) => `  ${b.name.padEnd(5)} ${b.available ? "available" : `unavailable: ${b.reason}`}`),
      ];
      print(global, lines.join("\n"), info);
    });
}
