import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import type { StageRecord } from "../../models/recipe.ts";
import type { ModelRunOptions } from "../../run/model-run.ts";
import { textTable } from "../format.ts";
import { forEachRun, groupsTable, importanceTable, print, resultsTable, runModels, seedOption, withExperiment, type ExperimentContext } from "../experiment-command.ts";

const SPEC_ARG = "experiment spec (experiments/*.yaml)";

/** What the commands run, loaded (with tfjs and DuckDB) only once the spec is checked. */
async function training() {
  const [{ mktRecipe }, { modelDir, runModel }] = await Promise.all([import("../../models/mkt/recipe.ts"), import("../../run/model-run.ts")]);
  return { mktRecipe, modelDir, runModel };
}

export function registerMktCommands(program: Command): void {
  stageCommand(program, "pretrain", "stage 1: pre-train MKT's multi-entity model (MEM) on source + target samples (per seed)", "MEM pre-trained", () => ({}));
  stageCommand(program, "finetune", "stage 2: fine-tune MKT's target entity model (TEM) on the frozen pre-trained MEM (per seed)", "TEM fine-tuned", (file) => ({
    requireFinished: { stages: ["pretrain"], hint: `run 'mkt pretrain ${file}' first` },
  }));
  mktCommand(program, "eval", "evaluate the fine-tuned MKT on the target test split: metrics JSON, predictions CSV, HFA importance (a finished evaluation is printed, not redone)",
    async (file, context) => {
      const { experiment, global } = context;
      const { mktRecipe } = await training();
      const results = await runModels(context, [mktRecipe()], {
        failOnCorruptResult: { rerun: `mkt eval ${file}` },
        requireFinished: { hint: `run 'mkt pretrain ${file}' and 'mkt finetune ${file}' first` },
      });
      const first = results[0]!;
      const text = [
        `MKT on ${experiment.prepared.stats.dataset}, target test split → ${experiment.runDir}/mkt`,
        "",
        resultsTable(results),
        "",
        `user groups (seed ${first.seed}):`,
        groupsTable(first),
        "",
        `HFA importance (seed ${first.seed}):`,
        importanceTable(first),
      ].join("\n");
      print(global, text, results);
    });
  mktCommand(program, "ablate", "train and evaluate full MKT and the spec's ablations (default all three: w/o TEM finetune, w/o PDL, w/o HFA)",
    async (_file, context) => {
      const { experiment, global } = context;
      const { mktRecipe } = await training();
      const results = await runModels(context, [mktRecipe(), ...experiment.spec.ablations.map((a) => mktRecipe(a))]);
      print(global, `MKT ablations on ${experiment.prepared.stats.dataset} → ${experiment.runDir}\n\n${resultsTable(results)}`, results);
    });
}

/** An MKT command on an experiment spec, per seed (`--seed`). */
function mktCommand(program: Command, name: string, description: string, run: (file: string, context: ExperimentContext) => Promise<void>): void {
  seedOption(program.command(name))
    .description(description)
    .argument("<experiment-spec>", SPEC_ARG)
    .action((file: string, _o: unknown, command: Command) => withExperiment(file, command, (context) => run(file, context), { alsoTrains: ["mkt"] }));
}

/** `mkt <stage>`: trains MKT up to and including that stage, for each seed, and prints the stage's records. */
function stageCommand(program: Command, stage: string, description: string, done: string, options: (file: string) => Pick<ModelRunOptions, "requireFinished">): void {
  mktCommand(program, stage, description, async (file, context) => {
    const { experiment, dataset, backend, global, progress } = context;
    const { mktRecipe, modelDir, runModel } = await training();
    const rows: (string | number)[][] = [];
    await forEachRun(context, [mktRecipe()], async (recipe, seed) => {
      await runModel(recipe, experiment, dataset, seed, backend, { progress, stopAfter: stage, ...options(file) });
      rows.push(await stageRow(modelDir(experiment.runDir, "mkt", seed), seed, stage));
    });
    print(global, `${done} → ${experiment.runDir}\n\n${textTable(STAGE_HEADER, rows)}`, { runDir: experiment.runDir });
  });
}

const STAGE_HEADER = ["seed", "stage", "epochs", "best epoch", "best valid AUC", "seconds", "samples/s"];

async function stageRow(dir: string, seed: number, stage: string): Promise<(string | number)[]> {
  const record = JSON.parse(await readFile(join(dir, `stage-${stage}`, "record.json"), "utf8")) as StageRecord;
  return [seed, stage, record.epochsRun, record.bestEpoch, record.bestValidAuc.toFixed(4), record.seconds.toFixed(1), Math.round(record.samplesPerSecond)];
}
