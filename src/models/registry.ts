import type { AblationName, ModelName } from "../spec/experiment.ts";
import { NotImplementedYet } from "../util/errors.ts";
import { mktRecipe } from "./mkt/recipe.ts";
import type { ModelRecipe } from "./recipe.ts";

/** Every model of Table 2 by name. */
const RECIPES: Partial<Record<ModelName, ModelRecipe>> = {
  mkt: mktRecipe(),
};

export function recipeFor(model: ModelName): ModelRecipe {
  const recipe = RECIPES[model];
  if (!recipe) throw new NotImplementedYet(`baselines (model ${model})`, "issue 4 (the ten baselines)");
  return recipe;
}

export function ablationRecipe(ablation: AblationName): ModelRecipe {
  return mktRecipe(ablation);
}
