import { join } from "node:path";
import type { Command } from "commander";
import { exportServingModel, INPUTS_FILE, type ExportResult } from "../../export/serving.ts";
import { buildMem, buildTem } from "../../models/mkt/index.ts";
import { modelDir } from "../../run/model-run.ts";
import { StageRunner } from "../../run/stages.ts";
import { log } from "../../util/log.ts";
import { int, textTable } from "../format.ts";
import { print, withExperiment } from "../experiment-command.ts";

/** Directory of the serving export of one seed: `<runDir>/mkt/seed-<seed>/serving`. */
export function servingDir(runDir: string, seed: number): string {
  return join(modelDir(runDir, "mkt", seed), "serving");
}

/** The inputs summary printed after an export. */
export function inputsTable(result: ExportResult): string {
  return textTable(
    ["input", "dtype", "shape", "kind", "vocabulary column", "vocabulary size"],
    result.description.inputs.map((i) => [
      i.name,
      i.dtype,
      `[${i.shape.map((d) => d ?? "B").join(", ")}]`,
      i.kind,
      i.vocabulary?.column ?? "–",
      i.vocabulary ? int(i.vocabulary.size) : "–",
    ]),
  );
}

export function registerExport(program: Command): void {
  program
    .command("export")
    .description("export the fine-tuned MKT target model (TEM + the MEM parts it uses) as one tfjs LayersModel loadable with plain @tensorflow/tfjs")
    .argument("<experiment-spec>", "experiment spec (experiments/*.yaml)")
    // Same form as the other experiment commands' --seed (withExperiment keeps only these of the spec's seeds).
    .option("--seed <seed...>", "seeds whose fine-tuned model to export (default: the spec's first seed)")
    .action((file: string, options: { seed?: string[] }, command: Command) =>
      withExperiment(file, command, async ({ experiment, dataset, global }) => {
        const { spec, runDir } = experiment;
        const seeds = options.seed?.length ? spec.seeds : spec.seeds.slice(0, 1);
        const exported: ExportResult[] = [];
        for (const seed of seeds) {
          const buildOptions = { schema: dataset.schema, spec, seed };
          const tem = buildTem(buildOptions, buildMem(buildOptions));
          try {
            const runner = new StageRunner(dataset, spec, seed, modelDir(runDir, "mkt", seed), { progress: false });
            await runner.requireStage("finetune", tem, `run 'mkt pretrain ${file}' and 'mkt finetune ${file}' first`);
            const result = await exportServingModel(tem, dataset.schema, servingDir(runDir, seed), { preparedDir: dataset.dir });
            log().info({ seed, dir: result.dir }, "serving model exported");
            exported.push(result);
          } finally {
            tem.dispose();
          }
        }
        const first = exported[0]!;
        const text = [
          ...exported.map((r, k) => `MKT serving model (seed ${seeds[k]}) → ${r.dir}`),
          `  ${first.files.join(", ")} (${int(first.weightBytes)} bytes of weights); load with plain @tensorflow/tfjs, see README.md there`,
          "",
          `inputs (${INPUTS_FILE}; pass them to model.predict in this order):`,
          inputsTable(first),
          "",
          `output: ${first.description.output.name} [B, 1], ${first.description.output.description}`,
        ].join("\n");
        const json = exported.map((r, k) => ({ seed: seeds[k], dir: r.dir, files: r.files, inputs: r.description.inputs, output: r.description.output }));
        print(global, text, json);
      }, { trainsMkt: true }),
    );
}
