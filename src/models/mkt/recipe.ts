import { defineModel, type ModelDefinition } from "../definition.ts";
import type { BuildContext, ModelRecipe } from "../recipe.ts";
import { mktRecipeName, type AblationName } from "./ablations.ts";
import { buildMem, buildTem, type MktBuildOptions } from "./index.ts";
import type { MultiEntityModel } from "./mem.ts";
import { mktSections } from "./sections.ts";

/**
 * MKT (or one of its ablations): stage "pretrain" trains MEM on source + target rows; stage
 * "finetune" trains TEM on target rows with MEM frozen. w/o TEM finetune is full MKT's MEM
 * evaluated through its target tower, so it shares full MKT's pretrain stage.
 */
function recipe(ablation?: AblationName): ModelRecipe {
  const options = ({ schema, spec, seed }: BuildContext): MktBuildOptions => ({ schema, spec, seed, ...(ablation ? { ablation } : {}) });
  const mem = { build: (context: BuildContext) => buildMem(options(context)) };
  if (ablation === "wo_tem_finetune") {
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

/** MKT, the model of Table 2 (its ablations, Table 4's rows, are mktRecipe(ablation)). */
const mktDefinition: ModelDefinition<typeof mktSections> = defineModel({
  ...recipe(),
  label: "MKT",
  category: "ours",
  sections: mktSections,
  // PDL compares the CKE's and the independent MLP's outputs row by row: they must be as wide.
  rules: ({ sizes: { mlp, cke_levels: cke } }) =>
    mlp.at(-1) === cke.at(-1) ? [] : [{ path: ["sizes", "cke_levels"], message: `MKT needs the last of sizes.cke_levels (${cke.at(-1)}) equal to the last of sizes.mlp (${mlp.at(-1)})` }],
});

/** Full MKT (the model of Table 2), or one of its ablations. */
export function mktRecipe(): ModelDefinition<typeof mktSections>;
export function mktRecipe(ablation?: AblationName): ModelRecipe;
export function mktRecipe(ablation?: AblationName): ModelRecipe {
  return ablation ? recipe(ablation) : mktDefinition;
}
