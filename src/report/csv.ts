import type { MetricCell, ModelRow, Table2, Table3, Table4 } from "./tables.ts";

type Cell = string | number | boolean | null;

/**
 * Tables as CSV: one row per table row, full-precision numbers (they parse back to the same
 * doubles), empty cells for undefined values. Per-seed values are in the JSON files.
 */
export function table2Csv(t: Table2): string {
  const intervalColumns = (m: string) => [`${m}_ci_low`, `${m}_ci_high`, `${m}_diff`, `${m}_diff_ci_low`, `${m}_diff_ci_high`];
  const intervalCells = (c: MetricCell): Cell[] => [
    c.interval?.lo ?? null,
    c.interval?.hi ?? null,
    c.difference?.value ?? null,
    c.difference?.interval?.lo ?? null,
    c.difference?.interval?.hi ?? null,
  ];
  return toCsv(
    ["category", "model", "label", ...metricColumns("improvement_pct"), ...intervalColumns("auc"), ...intervalColumns("gauc"), "gap_closed_auc_pct", "gap_closed_gauc_pct"],
    t.rows.map((r, i) => [
      r.category,
      r.model,
      r.label,
      ...metricCells(r),
      ...intervalCells(r.auc),
      ...intervalCells(r.gauc),
      t.gapClosed?.[i]?.auc ?? null,
      t.gapClosed?.[i]?.gauc ?? null,
    ]),
  );
}

export function table3Csv(t: Table3): string {
  return toCsv(["group", "model", "label", ...metricColumns("improvement_pct")], t.rows.map((r) => [r.group, r.model, r.label, ...metricCells(r)]));
}

export function table4Csv(t: Table4): string {
  return toCsv(["variant", "label", ...metricColumns("change_pct")], t.rows.map((r) => [r.model, r.label, ...metricCells(r)]));
}

function metricColumns(comparison: string): string[] {
  const columns = (m: string) => [`${m}_mean`, `${m}_std`, `${m}_${comparison}`, `${m}_same_sign`, `${m}_p_value`];
  return ["seeds", ...columns("auc"), ...columns("gauc")];
}

function metricCells(r: ModelRow): Cell[] {
  const cells = (c: MetricCell): Cell[] => [c.mean, c.std, c.comparison?.improvement ?? null, c.comparison?.sameSign ?? null, c.comparison?.pValue ?? null];
  return [r.seeds.join(" "), ...cells(r.auc), ...cells(r.gauc)];
}

function toCsv(columns: readonly string[], rows: readonly Cell[][]): string {
  return [columns, ...rows].map((row) => row.map(csvCell).join(",")).join("\n") + "\n";
}

function csvCell(value: Cell): string {
  if (value === null || (typeof value === "number" && !Number.isFinite(value))) return "";
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
