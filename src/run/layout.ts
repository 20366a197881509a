import { join } from "node:path";
import type { Stage } from "../models/recipe.ts";

/** Directory of one (model, seed) of a run: `<run>/<model>/seed-<seed>`. */
export function modelDir(runDir: string, model: string, seed: number): string {
  return join(runDir, model, `seed-${seed}`);
}

/** Directory of a stage of a recipe's run: in the model directory of the recipe that owns it (see Stage.sharedWith). */
export function stageDir(runDir: string, recipe: string, seed: number, stage: Stage): string {
  return join(modelDir(runDir, stage.sharedWith ?? recipe, seed), `stage-${stage.name}`);
}
