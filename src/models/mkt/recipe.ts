import { mktRecipeName, type AblationName } from "../../spec/experiment.ts";
import type { BuildContext, ModelRecipe } from "../recipe.ts";
import { buildMem, buildTem, mktVariant, type MktBuildOptions, type MultiEntityModel } from "./index.ts";

/**
 * MKT (or one of its ablations): stage "pretrain" trains MEM on source + target rows; stage
 * "finetune" trains TEM on target rows with MEM frozen. w/o TEM finetune is full MKT's MEM
 * evaluated through its target tower, so it shares full MKT's pretrain stage.
 */
export function mktRecipe(ablation?: AblationName): ModelRecipe {
  const finetune = mktVariant({ gamma: 0 }, ablation).finetune;
  const options = ({ schema, spec, seed }: BuildContext): MktBuildOptions => ({ schema, spec, seed, ...(ablation ? { ablation } : {}) });
  const mem = { build: (context: BuildContext) => buildMem(options(context)) };
  if (!finetune) {
    return { name: mktRecipeName(ablation), category: "ours", models: { mem }, stages: () => [{ name: "pretrain", model: "mem", sharedWith: mktRecipeName() }], final: "mem" };
  }
  return {
    name: mktRecipeName(ablation),
    category: "ours",
    models: { mem, tem: { owns: ["mem"], build: (context, inputs) => buildTem(options(context), inputs["mem"] as MultiEntityModel) } },
    stages: () => [
      { name: "pretrain", model: "mem" },
      { name: "finetune", model: "tem" },
    ],
    final: "tem",
  };
}
