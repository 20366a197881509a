import { z } from "../../util/zod.ts";
import { modelSection } from "../definition.ts";

/** MKT's stage 1, the Multi-Entity Model. */
const memSection = modelSection({
  /**
   * rows: the paper's eq. 13, BCE summed over the batch's rows of both entities divided by the batch
   * size (every row weighs the same); entities: the mean BCE of each entity, summed (a target row
   * then weighs N_s/N_t times a source row).
   */
  loss_weighting: z.enum(["rows", "entities"]).default("rows"),
  /** Depth of HFA's cross network (its explicit part, eq. 4). */
  hfa_cross_layers: z.number().int().min(1).default(2),
}, { movedFrom: { hfa_cross_layers: "sizes.hfa_cross_layers" } });

/** MKT's stage 2, the Target Entity Model. */
const temSection = modelSection({
  /**
   * What TEM's cross part receives from MEM beside v_u, v_seq, v_shared: common, g_com^t only (the
   * paper, §3.3); common+target, also g_ind^t (TKE's output) through its own GLU (beyond the paper).
   */
  knowledge: z.enum(["common", "common+target"]).default("common"),
});

/** MKT's own hyperparameters: top-level spec fields gamma, mem and tem. */
export const mktSections = {
  /** γ: weight of MKT's pairwise discrepancy loss (PDL). */
  gamma: z.number().min(0).default(0.1),
  mem: memSection,
  tem: temSection,
};

export type MemSpec = z.output<typeof memSection>;
export type TemSpec = z.output<typeof temSection>;
