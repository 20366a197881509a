import type { Command } from "commander";
import { print, resultsTable, runModels, seedOption, withExperiment } from "../experiment-command.ts";

export function registerBaselines(program: Command): void {
  seedOption(
    program
      .command("baselines")
      .description("train and evaluate the spec's baselines (its models other than mkt; default all ten), each like `mkt eval`, and score ItemPop (and the Oracle on generated data)")
      .argument("<experiment-spec>", "experiment spec (experiments/*.yaml)"),
  ).action((file: string, _o: unknown, command: Command) =>
    withExperiment(file, command, async (context) => {
      const { experiment, dataset, global } = context;
      const [{ referenceRecipes }, { recipeFor }] = await Promise.all([
        import("../../models/baselines/references.ts"),
        import("../../models/registry.ts"),
      ]);
      // With the untrained references (ItemPop, and the Oracle on generated data): Table 2's floor and ceiling.
      const recipes = [...referenceRecipes(dataset.schema), ...experiment.spec.models.filter((m) => m !== "mkt").map(recipeFor)];
      const results = await runModels(context, recipes);
      print(global, `Baselines on ${experiment.prepared.stats.dataset} → ${experiment.runDir}\n\n${resultsTable(results)}`, results);
    }),
  );
}
