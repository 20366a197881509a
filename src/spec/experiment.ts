import { z } from "zod";
import { MAX_NAME_CHARS, specPath } from "./common.ts";

/** Every model mkt knows: MKT and the ten baselines of the paper's Table 2. */
export const MODEL_NAMES = ["mkt", "mlp", "din", "fibinet", "mmoe", "ple", "star", "conet", "minet", "finetune", "ctnet"] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

/** The paper's Table 4 ablations of MKT. */
export const ABLATION_NAMES = ["wo_tem_finetune", "wo_pdl", "wo_hfa"] as const;
export type AblationName = (typeof ABLATION_NAMES)[number];

/** Report names of Table 4's rows. */
export const ABLATION_LABELS: Record<AblationName, string> = {
  wo_tem_finetune: "w/o TEM finetune",
  wo_pdl: "w/o PDL",
  wo_hfa: "w/o HFA",
};

/** Directory (and result) name of MKT or one of its ablations: "mkt", "mkt-wo_pdl", … */
export function mktRecipeName(ablation?: AblationName): string {
  return ablation ? `mkt-${ablation}` : "mkt";
}

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

export const sizesSchema = z.strictObject({
  /** E: embedding size of every feature. */
  embedding_dim: z.number().int().min(1).default(8),
  /** Hidden MLPs (SKE/TKE, TEM's cross part, single-domain and joint baselines). */
  mlp: layerSizes.default([1024, 512]),
  /** Tower hidden sizes before the logit. */
  tower: layerSizes.default([64]),
  /** DIN activation unit's hidden sizes. */
  attention: layerSizes.default([36]),
  /** d_HFA: size of the aligned entity-specific vector. */
  hfa_dim: z.number().int().min(1).default(64),
  hfa_cross_layers: z.number().int().min(1).default(2),
  /** CKE/PLE extraction levels' output sizes. */
  cke_levels: layerSizes.default([1024, 512]),
  cke_shared_experts: z.number().int().min(1).default(1),
  cke_entity_experts: z.number().int().min(0).default(1),
  mmoe_experts: z.number().int().min(1).default(3),
  senet_reduction: z.number().int().min(1).default(3),
});

/** MKT's stage 1. */
export const memSchema = z.strictObject({
  /**
   * rows: the paper's eq. 13, BCE summed over the batch's rows of both entities divided by the batch
   * size (every row weighs the same); entities: the mean BCE of each entity, summed (a target row
   * then weighs N_s/N_t times a source row).
   */
  loss_weighting: z.enum(["rows", "entities"]).default("rows"),
});

/** MKT's stage 2. */
export const temSchema = z.strictObject({
  /**
   * What TEM's cross part receives from MEM beside v_u, v_seq, v_shared: common, g_com^t only (the
   * paper, §3.3); common+target, also g_ind^t (TKE's output) through its own GLU (beyond the paper).
   */
  knowledge: z.enum(["common", "common+target"]).default("common"),
});

/** CTNet. */
export const ctnetSchema = z.strictObject({
  /**
   * Train source and target models slice by slice in time order (the CTNet paper's continual
   * setting): auto = on when the prepared data is split by time (its rows carry time slices), off
   * for a per-user-order split, whose rows all sit in slice 0.
   */
  continual: z.union([z.boolean(), z.literal("auto")]).default("auto"),
});


/** The shape of an experiment spec (also of the spec kept in a run's experiment.json). */
export const experimentSpecSchema = z.strictObject({
  name: z.string().max(MAX_NAME_CHARS).regex(/^[a-z0-9][a-z0-9_-]*$/, "expected a lower-case name of letters, digits, - and _"),
  description: z.string().optional(),
  /** Dataset spec file, relative to this experiment spec. */
  dataset: specPath,
  /** Models to train and evaluate (default: all eleven). */
  models: z.array(z.enum(MODEL_NAMES)).min(1).default([...MODEL_NAMES]),
  /** MKT ablations of Table 4 (default: all three; [] for none). */
  ablations: z.array(z.enum(ABLATION_NAMES)).default([...ABLATION_NAMES]),
  seeds: z.array(z.number().int()).min(1).default([1]),
  /** Model the improvements of Table 3 are relative to. */
  reference_model: z.enum(MODEL_NAMES).default("fibinet"),
  training: trainingSchema.default(trainingSchema.parse({})),
  sizes: sizesSchema.default(sizesSchema.parse({})),
  /** γ: weight of MKT's pairwise discrepancy loss (PDL). */
  gamma: z.number().min(0).default(0.1),
  mem: memSchema.default(memSchema.parse({})),
  tem: temSchema.default(temSchema.parse({})),
  ctnet: ctnetSchema.default(ctnetSchema.parse({})),
  /** Why the sizes differ from the paper's, if they do: shown in every report header. */
  size_note: z.string().optional(),
});

/**
 * An experiment spec file: the shape and the rules between its fields (docs/specs.md, "Validation"),
 * checked before anything is prepared or trained.
 */
export const experimentSpecFileSchema = experimentSpecSchema.superRefine((spec, ctx) => {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
  // A repeated seed or model would be counted by the report as another independent run (in its mean, std and p-value).
  for (const key of ["seeds", "models", "ablations"] as const) {
    const list: readonly (string | number)[] = spec[key];
    const at = list.findIndex((x, i) => list.indexOf(x) !== i);
    if (at >= 0) issue([key, at], `${String(list[at])} is listed twice`);
  }
  if (!spec.models.includes(spec.reference_model)) {
    issue(["reference_model"], `'${spec.reference_model}' is not among models (${spec.models.join(", ")}); Table 3 is relative to it: set it to one of them`);
  }
  const mkt = mktSizeProblem(spec);
  if (mkt && (spec.models.includes("mkt") || spec.ablations.length > 0)) issue(["sizes", "cke_levels"], mkt);
  if (spec.models.includes("conet") && spec.sizes.mlp.length < 2) {
    issue(["sizes", "mlp"], `CoNet needs at least two hidden layers to cross-connect, got [${spec.sizes.mlp.join(", ")}]`);
  }
});

/** Why MKT cannot be built with these sizes, or undefined: its PDL compares the CKE and the independent MLP outputs row by row. */
export function mktSizeProblem(spec: Pick<ExperimentSpec, "sizes">): string | undefined {
  const { mlp, cke_levels: cke } = spec.sizes;
  return mlp.at(-1) === cke.at(-1) ? undefined : `MKT needs the last of sizes.cke_levels (${cke.at(-1)}) equal to the last of sizes.mlp (${mlp.at(-1)})`;
}

export type ExperimentSpec = z.output<typeof experimentSpecSchema>;
