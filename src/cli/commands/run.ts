import { join } from "node:path";
import type { Command } from "commander";
import type { ModelResult } from "../../run/model-run.ts";
import { log } from "../../util/log.ts";
import { forEachRun, print, seedOption, withExperiment } from "../experiment-command.ts";

export function registerRun(program: Command): void {
  seedOption(program
    .command("run"))
    .description("run a whole experiment: prepare (if needed), every model and ablation for every seed, then the report; re-running skips what finished")
    .argument("<experiment-spec>", "experiment spec (experiments/*.yaml)")
    .action((file: string, _o: unknown, command: Command) =>
      withExperiment(file, command, async (context) => {
        const { experiment, dataset, backend, global, progress } = context;
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
        const report = await writeReport(experiment.runDir);
        print(global, `${report.markdown}\n\nreport: ${join(experiment.runDir, "report", "report.html")}`, { runDir: experiment.runDir, results, files: report.files });
      }),
    );
}
