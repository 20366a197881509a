import { ABLATION_NAMES, mktRecipeName, type AblationName, type ModelName } from "../spec/experiment.ts";
import { conetRecipe } from "./baselines/conet.ts";
import { ctnetRecipe } from "./baselines/ctnet.ts";
import { dinRecipe } from "./baselines/din.ts";
import { fibinetRecipe } from "./baselines/fibinet.ts";
import { finetuneRecipe } from "./baselines/finetune.ts";
import { minetRecipe } from "./baselines/minet.ts";
import { mlpRecipe } from "./baselines/mlp.ts";
import { mmoeRecipe } from "./baselines/mmoe.ts";
import { pleRecipe } from "./baselines/ple.ts";
import { starRecipe } from "./baselines/star.ts";
import { mktRecipe } from "./mkt/recipe.ts";
import type { ModelRecipe } from "./recipe.ts";

/** Every model of Table 2 by name. */
const RECIPES: Record<ModelName, ModelRecipe> = {
  mkt: mktRecipe(),
  mlp: mlpRecipe,
  din: dinRecipe,
  fibinet: fibinetRecipe,
  mmoe: mmoeRecipe,
  ple: pleRecipe,
  star: starRecipe,
  conet: conetRecipe,
  minet: minetRecipe,
  finetune: finetuneRecipe,
  ctnet: ctnetRecipe,
};

export function recipeFor(model: ModelName): ModelRecipe {
  return RECIPES[model];
}

export function ablationRecipe(ablation: AblationName): ModelRecipe {
  return mktRecipe(ablation);
}

/** A recipe by its directory name: a model of Table 2 or "mkt-<ablation>". */
export function recipeByName(name: string): ModelRecipe {
  if (name in RECIPES) return RECIPES[name as ModelName];
  const ablation = ABLATION_NAMES.find((a) => mktRecipeName(a) === name);
  if (ablation === undefined) throw new Error(`no model or ablation named '${name}'`);
  return ablationRecipe(ablation);
}
