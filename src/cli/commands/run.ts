import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import type { WrittenReport } from "../../report/index.ts";
import type { ModelResult } from "../../run/model-run.ts";
import { checkOutputDir } from "../../util/files.ts";
import { log } from "../../util/log.ts";
import { forEachRun, print, seedOption, withExperiment, type ExperimentContext } from "../experiment-command.ts";
import { globalOptions } from "../options.ts";

export function registerRun(program: Command): void {
  seedOption(program.command("run"))
    .description(
      "run a whole experiment: prepare (if needed), every model and ablation for every seed, then the report; re-running skips what finished. A suite spec (with variants or sweep) runs each variant so, then the suite's report",
    )
    .argument("<experiment-spec>", "experiment spec (experiments/*.yaml) or suite spec")
    .action(async (file: string, _o: unknown, command: Command) => {
      if (await isSuiteSpec(file)) return runSuite(file, command);
      return withExperiment(file, command, async (context) => {
        const { results, report } = await runExperiment(context);
        const { experiment, global } = context;
        print(global, `${report.markdown}\n\nreport: ${join(experiment.runDir, "report", "report.html")}`, { runDir: experiment.runDir, results, files: report.files });
      });
    });
}

/** Every model and ablation of the experiment for every seed (finished ones are skipped), then its report. */
async function runExperiment(context: ExperimentContext): Promise<{ results: ModelResult[]; report: WrittenReport }> {
  const { experiment, dataset, backend, progress } = context;
  const [{ writeReport }, { referenceRecipes }, { ablationRecipe, recipeFor }, { runModel }] = await Promise.all([
    import("../../report/index.ts"),
    import("../../models/baselines/references.ts"),
    import("../../models/registry.ts"),
    import("../../run/model-run.ts"),
  ]);
  const { spec } = experiment;
  // Resolve every recipe first, so a model that cannot run fails before hours of training.
  // ItemPop and (on generated data) the Oracle first: Table 2's floor and ceiling, no training.
  const recipes = [...referenceRecipes(dataset.schema), ...spec.models.map(recipeFor), ...spec.ablations.map(ablationRecipe)];
  const results: ModelResult[] = [];
  const elsewhere: string[] = [];
  await forEachRun(context, recipes, async (recipe, seed) => {
    // undefined: another process sharing this run directory is running it.
    const result = await runModel(recipe, experiment, dataset, seed, backend, { progress });
    if (result) results.push(result);
    else elsewhere.push(`${recipe.name} seed ${seed}`);
  });
  if (elsewhere.length) {
    log().warn({ runs: elsewhere }, `${elsewhere.length} run(s) are still running in another process: this report leaves them out; 'mkt report ${experiment.runDir}' once they finish`);
  }
  return { results, report: await writeReport(experiment.runDir) };
}

/** A suite spec has `variants:` or `sweep:` at the top level (an experiment spec has neither). */
async function isSuiteSpec(file: string): Promise<boolean> {
  const text = await readFile(file, "utf8").catch(() => "");
  return /^(variants|sweep):/m.test(text);
}

/** Plans the suite (every variant's specs validated and written), runs each variant as an experiment, then the suite's report. */
async function runSuite(file: string, command: Command): Promise<void> {
  const global = globalOptions(command);
  await checkOutputDir(global.out, "--out");
  const [{ planSuite, recordVariantRun, suiteDir }, { writeSuiteReport }] = await Promise.all([import("../../run/suite.ts"), import("../../report/suite.ts")]);
  const manifest = await planSuite(file, global.out);
  for (const [k, variant] of manifest.variants.entries()) {
    log().info({ suite: manifest.name, variant: variant.name, of: manifest.variants.length, at: k + 1 }, `suite ${manifest.name}: variant ${k + 1} of ${manifest.variants.length}, ${variant.name}`);
    await withExperiment(variant.experimentFile, command, async (context) => {
      await recordVariantRun(manifest, global.out, variant.name, context.experiment.runDir);
      await runExperiment(context);
    });
  }
  const dir = suiteDir(global.out, manifest.name);
  const report = await writeSuiteReport(manifest, join(dir, "report"));
  print(global, `${report.markdown}\n\nreport: ${join(dir, "report", "suite.html")}`, { suiteDir: dir, comparisons: report.comparisons, files: report.files });
}
