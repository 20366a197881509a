/**
 * The fields every experiment spec has, whatever its models: apart from spec/experiment.ts (which
 * composes them with the registered models' own sections), so that models read the spec's type
 * without importing the registry that imports them.
 */
import { z } from "../util/zod.ts";
import { ABLATION_NAMES } from "../models/mkt/ablations.ts";
import { MAX_NAME_CHARS, specPath } from "./common.ts";

const layerSizes = z.array(z.number().int().min(1)).min(1);

export const trainingSchema = z.strictObject({
  batch_size: z.number().int().min(1).default(1024),
  learning_rate: z.number().positive().default(0.001),
  /** Upper bound on epochs of each training stage. */
  max_epochs: z.number().int().min(1).default(10),
  /** Stop after this many epochs without a better target valid AUC; the best epoch's weights are kept. */
  patience: z.number().int().min(1).default(2),
  /** Rows held by the bounded shuffle buffer of the training reader. */
  shuffle_buffer: z.number().int().min(1).default(65_536),
  eval_batch_size: z.number().int().min(1).default(8_192),
});

/**
 * Sizes more than one model reads, so that models compared in one table are built alike (PLE is
 * MKT's CKE, Finetune's FC_e is MKT's d_HFA wide). What only one model reads is in its own section.
 */
export const sizesSchema = z.strictObject({
  /** E: embedding size of every feature. */
  embedding_dim: z.number().int().min(1).default(8),
  /** Hidden MLPs (SKE/TKE, TEM's cross part, single-domain and joint baselines). */
  mlp: layerSizes.default([1024, 512]),
  /** Tower hidden sizes before the logit. */
  tower: layerSizes.default([64]),
  /** DIN activation units' hidden sizes (every attention-pooled sequence; MiNet's attention MLPs). */
  attention: layerSizes.default([36]),
  /** d_HFA: size of the aligned entity-specific vector (MKT; Finetune's FC_e). */
  hfa_dim: z.number().int().min(1).default(64),
  /** CKE/PLE extraction levels' output sizes. */
  cke_levels: layerSizes.default([1024, 512]),
  cke_shared_experts: z.number().int().min(1).default(1),
  cke_entity_experts: z.number().int().min(0).default(1),
});

/** The fields of every experiment spec, whatever its models; `models`: the registered models' names. */
export function commonShape(models: readonly [string, ...string[]]) {
  return {
    name: z.string().max(MAX_NAME_CHARS).regex(/^[a-z0-9][a-z0-9_-]*$/, "expected a lower-case name of letters, digits, - and _"),
    description: z.string().optional(),
    /** Dataset spec file, relative to this experiment spec. */
    dataset: specPath,
    /** Models to train and evaluate (default: every registered model, the eleven of Table 2). */
    models: z.array(z.enum(models)).min(1).default([...models]),
    /** MKT ablations of Table 4 (default: all three; [] for none). */
    ablations: z.array(z.enum(ABLATION_NAMES)).default([...ABLATION_NAMES]),
    seeds: z.array(z.number().int()).min(1).default([1]),
    /** Model the improvements of Table 3 are relative to. */
    reference_model: z.enum(models).default("fibinet"),
    training: trainingSchema.default({}),
    sizes: sizesSchema.default({}),
    /** Why the sizes differ from the paper's, if they do: shown in every report header. */
    size_note: z.string().optional(),
  };
}

/**
 * An experiment spec as the code reads it: the fields every spec has. The parsed spec also holds
 * each model's own sections (a model reads its own with sectionsOf, models/definition.ts).
 */
export type ExperimentSpec = z.output<z.ZodObject<ReturnType<typeof commonShape>>>;
