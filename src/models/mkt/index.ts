import type { PreparedSchema } from "../../data/schema.ts";
import { stageInit } from "../../layers/params.ts";
import type { ExperimentSpec } from "../../spec/experiment-common.ts";
import { sectionsOf } from "../definition.ts";
import type { AblationName } from "./ablations.ts";
import { MultiEntityModel } from "./mem.ts";
import { mktSections } from "./sections.ts";
import { TargetEntityModel } from "./tem.ts";

export interface MktBuildOptions {
  schema: PreparedSchema;
  spec: ExperimentSpec;
  seed: number;
  /** One of the paper's Table 4 ablations; absent for full MKT. */
  ablation?: AblationName;
}

/** What an ablation switches off (paper Table 4). */
export interface MktVariant {
  hfa: boolean;
  /** PDL weight actually used: the spec's gamma, or 0 without PDL. */
  gamma: number;
  /** false: MEM's target tower is the final model (no stage 2). */
  finetune: boolean;
}

export function mktVariant(spec: ExperimentSpec, ablation?: AblationName): MktVariant {
  return {
    hfa: ablation !== "wo_hfa",
    gamma: ablation === "wo_pdl" ? 0 : sectionsOf(mktSections, spec).gamma,
    finetune: ablation !== "wo_tem_finetune",
  };
}

/** Stage 1: the Multi-Entity Model ("mem/…" parameters). */
export function buildMem(options: MktBuildOptions): MultiEntityModel {
  const variant = mktVariant(options.spec, options.ablation);
  const { mem } = sectionsOf(mktSections, options.spec);
  return new MultiEntityModel("mem", stageInit(options.seed, 0), {
    schema: options.schema,
    sizes: options.spec.sizes,
    gamma: variant.gamma,
    hfa: variant.hfa,
    hfaCrossLayers: mem.hfa_cross_layers,
    lossWeighting: mem.loss_weighting,
  });
}

/** Stage 2: the Target Entity Model ("tem/…" parameters) on a trained MEM, which it freezes and owns. */
export function buildTem(options: MktBuildOptions, mem: MultiEntityModel): TargetEntityModel {
  if (!mktVariant(options.spec, options.ablation).finetune) {
    throw new Error(`the ${options.ablation} ablation has no TEM: evaluate MEM's target tower instead`);
  }
  return new TargetEntityModel("tem", stageInit(options.seed, 1), {
    schema: options.schema,
    sizes: options.spec.sizes,
    mem,
    knowledge: sectionsOf(mktSections, options.spec).tem.knowledge,
  });
}
