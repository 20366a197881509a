import type { Command } from "commander";
import type { ExportResult } from "../../export/serving.ts";
import type { ModelRecipe } from "../../models/recipe.ts";
import { UserError } from "../../util/errors.ts";
import { log } from "../../util/log.ts";
import { int, textTable } from "../format.ts";
import { print, withExperiment } from "../experiment-command.ts";

/** Checks `--model` names: the models of Table 2 and MKT's ablations. */
async function checkExportable(names: string[]): Promise<string[]> {
  const [{ ABLATION_NAMES, mktRecipeName }, { modelNames }] = await Promise.all([import("../../models/mkt/ablations.ts"), import("../../models/registry.ts")]);
  const exportable: string[] = [...modelNames(), ...ABLATION_NAMES.map((a) => mktRecipeName(a))];
  for (const name of names) {
    if (!exportable.includes(name)) throw new UserError(`--model ${name}: not a model of Table 2 or an MKT ablation (${exportable.join(", ")})`);
  }
  return names;
}

interface Exported extends ExportResult {
  model: string;
  seed: number;
}

export function registerExport(program: Command): void {
  program
    .command("export")
    .description(
      "export trained models as TensorFlow.js GraphModels loadable with plain @tensorflow/tfjs (each model's own forward pass, traced; for MKT, TEM + what it reads of MEM): <run>/<model>/seed-<s>/serving/",
    )
    .argument("<experiment-spec>", "experiment spec (experiments/*.yaml)")
    .option("--model <name...>", "models to export (default: every model of the run that finished, i.e. has its result.json)")
    // Same form as the other experiment commands' --seed (withExperiment keeps only these of the spec's seeds).
    .option("--seed <seed...>", "only these of the spec's seeds (default: all)")
    .action(async (file: string, options: { model?: string[] }, command: Command) => {
      // Checked before the experiment is loaded (which may prepare its dataset).
      const names = options.model && (await checkExportable(options.model));
      return withExperiment(file, command, async ({ experiment, dataset, global }) => {
        const [{ isFinished, loadFinishedModel, runRecipes }, { exportServingModel, servingDir, INPUTS_FILE, README_FILE }, { recipeByName }] = await Promise.all([
          import("../../export/finished.ts"),
          import("../../export/serving.ts"),
          import("../../models/registry.ts"),
        ]);
        const chosen = names?.map(recipeByName);
        const { spec, runDir } = experiment;
        const todo: Array<{ recipe: ModelRecipe; seed: number }> = [];
        for (const seed of spec.seeds) {
          for (const recipe of chosen ?? runRecipes(experiment)) {
            // Named models are exported whatever their state (an unfinished stage is an error); by default only finished ones.
            if (chosen || (await isFinished(experiment, recipe, seed))) todo.push({ recipe, seed });
          }
        }
        if (todo.length === 0) throw new UserError(`${runDir}: no finished model to export; run 'mkt run ${file}' (or the models' own commands) first`);
        const exported: Exported[] = [];
        for (const { recipe, seed } of todo) {
          const model = await loadFinishedModel(experiment, dataset, recipe, seed, `run 'mkt run ${file}' (or the model's own commands) first`);
          try {
            const result = await exportServingModel(model, dataset.schema, servingDir(runDir, recipe.name, seed), { model: recipe.name, seed, preparedDir: dataset.dir });
            log().info({ model: recipe.name, seed, dir: result.dir }, "serving model exported");
            exported.push({ ...result, model: recipe.name, seed });
          } finally {
            model.module.dispose();
          }
        }
        const text = [
          `${exported.length} serving model(s) → ${runDir}; TensorFlow.js GraphModels, plain @tensorflow/tfjs loads them (see ${README_FILE} in each)`,
          "",
          textTable(
            ["model", "seed", "inputs", "graph nodes", "weight bytes", "directory"],
            exported.map((r) => [r.model, r.seed, r.description.inputs.length, int(r.description.graph.nodes), int(r.weightBytes), r.dir]),
          ),
          "",
          `inputs and output of each: ${INPUTS_FILE} there; output ${exported[0]!.description.output.name} [B], ${exported[0]!.description.output.description}`,
        ].join("\n");
        const json = exported.map((r) => ({
          model: r.model,
          seed: r.seed,
          dir: r.dir,
          files: r.files,
          weightsSha256: r.description.weightsSha256,
          inputs: r.description.inputs,
          output: r.description.output,
        }));
        print(global, text, json);
      });
    });
}
