import { mktRecipeName, type AblationName } from "../../spec/experiment.ts";
import type { ModelRecipe } from "../recipe.ts";
import { buildMem, buildTem, mktVariant } from "./index.ts";

/**
 * MKT (or one of its ablations): stage "pretrain" trains MEM on source + target rows; stage
 * "finetune" trains TEM on target rows with MEM frozen. w/o TEM finetune is full MKT's MEM
 * evaluated through its target tower, so it shares full MKT's pretrain stage.
 */
export function mktRecipe(ablation?: AblationName): ModelRecipe {
  const finetune = mktVariant({ gamma: 0 }, ablation).finetune;
  return {
    name: mktRecipeName(ablation),
    category: "ours",
    ...(finetune ? {} : { sharedStages: { pretrain: mktRecipeName() } }),
    async train(context) {
      const options = { schema: context.dataset.schema, spec: context.spec, seed: context.seed, ...(ablation ? { ablation } : {}) };
      const mem = buildMem(options);
      await context.stage("pretrain", mem);
      if (!finetune) return mem;
      const tem = buildTem(options, mem);
      await context.stage("finetune", tem);
      return tem;
    },
  };
}
