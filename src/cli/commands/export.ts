import { join } from "node:path";
import { InvalidArgumentError, type Command } from "commander";
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

function parseSeed(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError("expected an integer seed");
  return Number(value);
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
    .option("--seed <n>", "seed of the run to export (default: the spec's first seed)", parseSeed)
    .action((file: string, options: { seed?: number }, command: Command) =>
      withExperiment(file, command, async ({ experiment, dataset, global }) => {
        const { spec, runDir } = experiment;
        const seed = options.seed ?? spec.seeds[0]!;
        if (!spec.seeds.includes(seed)) log().warn({ seed, seeds: spec.seeds }, "the seed is not one of the spec's seeds");
        const buildOptions = { schema: dataset.schema, spec, seed };
        const tem = buildTem(buildOptions, buildMem(buildOptions));
        try {
          const dir = modelDir(runDir, "mkt", seed);
          const runner = new StageRunner(dataset, spec, seed, dir, { progress: false });
          await runner.requireStage("finetune", tem, `run 'mkt pretrain ${file}' and 'mkt finetune ${file}' first`);
          const result = await exportServingModel(tem, dataset.schema, servingDir(runDir, seed), { preparedDir: dataset.dir });
          const text = [
            `MKT serving model (seed ${seed}) → ${result.dir}`,
            `  ${result.files.join(", ")} (${int(result.weightBytes)} bytes of weights); load with plain @tensorflow/tfjs, see README.md`,
            "",
            `inputs (${INPUTS_FILE}; pass them to model.predict in this order):`,
            inputsTable(result),
            "",
            `output: ${result.description.output.name} [B, 1], ${result.description.output.description}`,
          ].join("\n");
          print(global, text, { dir: result.dir, seed, files: result.files, inputs: result.description.inputs, output: result.description.output });
        } finally {
          tem.dispose();
        }
      }),
    );
}
