import type { PreparedSchema } from "../../data/schema.ts";
import { ParamInit } from "../../layers/params.ts";
import type { ExperimentSpec } from "../../spec/experiment-common.ts";
import { sectionsOf } from "../definition.ts";
import type { AblationName } from "./ablations.ts";
import { MultiEntityModel } from "./mem.ts";
import { mktSections } from "./sections.ts";
import { TargetEntityModel } from "./tem.ts";

export { MultiEntityModel, type KnowledgeSizes, type MemEntityOutput, type MemOptions, type ModelSizes, type TargetKnowledge } from "./mem.ts";
export { TargetEntityModel, type TemKnowledge, type TemOptions } from "./tem.ts";
export { Hfa, type HfaOptions, type HfaResult } from "./hfa.ts";

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

/**
 * Initial values of each stage from its own seed derived from the run's seed: TEM's embeddings must
 * not start equal to MEM's (both front ends create the same tables in the same order).
 */
function stageInit(seed: number, stage: "mem" | "tem"): ParamInit {
  const root = new ParamInit(seed);
  const memSeed = root.nextSeed();
  return new ParamInit(stage === "mem" ? memSeed : root.nextSeed());
}

/** Stage 1: the Multi-Entity Model ("mem/…" parameters). */
export function buildMem(options: MktBuildOptions): MultiEntityModel {
  const variant = mktVariant(options.spec, options.ablation);
  const { mem } = sectionsOf(mktSections, options.spec);
  return new MultiEntityModel("mem", stageInit(options.seed, "mem"), {
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
  return new TargetEntityModel("tem", stageInit(options.seed, "tem"), {
    schema: options.schema,
    sizes: options.spec.sizes,
    mem,
    knowledge: sectionsOf(mktSections, options.spec).tem.knowledge,
  });
}
