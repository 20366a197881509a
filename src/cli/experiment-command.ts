import type { Command } from "commander";
import type { PreparedDataset } from "../data/reader.ts";
import type { BackendInfo } from "../engine/index.ts";
import { replicaCount } from "../train/parallel/count.ts";
import type { LoadedExperiment } from "../run/experiment.ts";
import type { ModelResult, ModelRunOptions } from "../run/model-run.ts";
import type { ReferenceRecipe } from "../models/baselines/references.ts";
import type { ModelCategory, ModelRecipe } from "../models/recipe.ts";
import { UserError, oneLine } from "../util/errors.ts";
import { checkOutputDir } from "../util/files.ts";
import { log } from "../util/log.ts";
import { int, textTable } from "./format.ts";
import { globalOptions, type GlobalOptions } from "./options.ts";

export interface ExperimentContext {
  experiment: LoadedExperiment;
  dataset: PreparedDataset;
  backend: BackendInfo;
  global: GlobalOptions;
  /** Progress bars: only on a terminal and not in JSON mode. */
  progress: boolean;
}

/**
 * Loads an experiment spec (preparing its dataset if needed), selects the backend, opens the data.
 * `--seed` restricts the command to some of the spec's seeds: the same run, done in parts.
 * Flags, both specs and the rules between them are checked before anything is prepared or written;
 * `alsoTrains`: models the command trains whatever the spec's models (MKT for pretrain, finetune,
 * eval, ablate): their own rules (ModelDefinition.rules) are checked with the spec.
 * tfjs and DuckDB are loaded only once the specs and flags are checked: a bad spec is answered at once.
 */
export async function withExperiment<T>(file: string, command: Command, fn: (context: ExperimentContext) => Promise<T>, options: { alsoTrains?: readonly string[] } = {}): Promise<T> {
  const global = globalOptions(command);
  await checkOutputDir(global.out, "--out");
  // Loaded here, not at start: `mkt --help` needs neither zod nor yaml.
  const { loadExperimentSpecs } = await import("../spec/experiment-specs.ts");
  const specs = await loadExperimentSpecs(file, options.alsoTrains);
  const spec = specs.experiment.value;
  const only: number[] = [];
  for (const value of command.opts<{ seed?: string[] }>().seed ?? []) {
    const seed = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!spec.seeds.includes(seed)) throw new UserError(`--seed ${oneLine(value, 20)}: not one of the spec's seeds (${spec.seeds.join(", ")})`);
    only.push(seed);
  }
  const [{ selectBackend }, { loadExperiment }, { PreparedDataset }] = await Promise.all([
    import("../engine/index.ts"),
    import("../run/experiment.ts"),
    import("../data/reader.ts"),
  ]);
  // An explicit backend that does not work here is a bad flag too: refused before preparing.
  const selected = await selectBackend(global.backend, { kernelOverrides: global.kernelOverrides });
  const backend: BackendInfo = { ...selected, replicas: replicaCount(global.workers, selected.name) };
  const experiment = await loadExperiment(file, global.out, specs);
  if (only.length) experiment.spec = { ...experiment.spec, seeds: experiment.spec.seeds.filter((s) => only.includes(s)) };
  log().info({ backend: backend.name, unavailable: backend.unavailable, kernelOverrides: backend.kernelOverrides, replicas: backend.replicas }, "tfjs backend");
  log().info({ runDir: experiment.runDir, dataset: experiment.prepared.dir }, "experiment");
  const dataset = await PreparedDataset.open(experiment.prepared.dir);
  try {
    return await fn({ experiment, dataset, backend, global, progress: !global.json && process.stderr.isTTY === true });
  } finally {
    dataset.close();
  }
}

/**
 * Runs `fn` for each seed and, per seed, each recipe, in that order, showing where the run stands
 * (train/progress.ts): a bar on a terminal, progress log lines otherwise. A model not measured yet
 * is planned at max_epochs over every training row (source and target); one that trains nothing
 * (ItemPop, the Oracle) at none.
 */
export async function forEachRun<R extends { name: string; category: ModelCategory }>(
  { experiment, dataset, progress }: ExperimentContext,
  recipes: readonly R[],
  fn: (recipe: R, seed: number) => Promise<void>,
): Promise<void> {
  const { seeds, training } = experiment.spec;
  const trainRows = training.max_epochs * dataset.rowCount({ split: "train", entities: ["source", "target"] });
  const units = seeds.flatMap((seed) => recipes.map((r) => ({ model: r.name, seed, plannedRows: r.category === "reference" ? 0 : trainRows })));
  const { startRunProgress } = await import("../train/progress.ts");
  const tracker = startRunProgress(units, { draw: progress });
  try {
    for (const seed of seeds) {
      for (const recipe of recipes) {
        tracker.startUnit(recipe.name, seed);
        await fn(recipe, seed);
        tracker.finishUnit();
      }
    }
  } finally {
    tracker.stop();
  }
}

/** runModel for each seed and recipe (see forEachRun); returns their results, less the runs another process holds. */
export async function runModels(
  context: ExperimentContext,
  recipes: readonly (ModelRecipe | ReferenceRecipe)[],
  options: Omit<ModelRunOptions, "progress"> = {},
): Promise<ModelResult[]> {
  const { experiment, dataset, backend, progress } = context;
  const { runModel } = await import("../run/model-run.ts");
  const results: ModelResult[] = [];
  await forEachRun(context, recipes, async (recipe, seed) => {
    const result = await runModel(recipe, experiment, dataset, seed, backend, { progress, ...options });
    if (result) results.push(result);
  });
  return results;
}

const fixed = (x: number | null | undefined, digits = 4) => (x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits));

/** Target test metrics of finished runs, one row per (model, seed). */
export function resultsTable(results: ModelResult[]): string {
  return textTable(
    ["model", "seed", "AUC", "GAUC", "LogLoss", "test samples", "GAUC users", "train s", "samples/s"],
    results.map((r) => {
      // Training rate of the stages (a stage loaded from its checkpoint keeps its original record).
      const trained = r.stages.filter((s) => s.samplesPerSecond > 0);
      const rate = trained.length ? trained.reduce((s, x) => s + x.samplesPerSecond, 0) / trained.length : Number.NaN;
      return [
        r.model,
        r.seed,
        fixed(r.metrics.auc),
        fixed(r.metrics.gauc),
        fixed(r.metrics.logloss),
        int(r.metrics.samples),
        int(r.metrics.usersCounted),
        r.stages.reduce((s, x) => s + x.seconds, 0).toFixed(0),
        Number.isFinite(rate) ? int(rate) : "–",
      ];
    }),
  );
}

/** Per user group AUC/GAUC of one result. */
export function groupsTable(result: ModelResult): string {
  return textTable(
    ["user group", "samples", "users", "AUC", "GAUC"],
    result.metrics.groups.map((g) => [g.group, int(g.samples), int(g.users), fixed(g.auc), fixed(g.gauc)]),
  );
}

/** HFA's mean importance p per entity-specific feature. */
export function importanceTable(result: ModelResult): string {
  if (!result.importance) return "";
  const rows = Object.entries(result.importance).flatMap(([entity, report]) =>
    Object.entries(report.features).map(([feature, p]) => [entity, feature, fixed(p, 3), report.split]),
  );
  return textTable(["entity", "specific feature", "mean p (0–2)", "over"], rows);
}

export function print(global: GlobalOptions, text: string, json: unknown): void {
  process.stdout.write(global.json ? JSON.stringify(json) + "\n" : text + "\n");
}

/** The `--seed` option of experiment commands. */
export function seedOption(command: Command): Command {
  return command.option("--seed <seed...>", "only these of the spec's seeds (the rest can run later into the same run directory)");
}
