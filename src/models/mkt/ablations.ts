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
