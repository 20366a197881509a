/**
 * One self-contained HTML page: inline CSS, inline SVG, no script and no external resource, so it
 * opens offline and can be mailed or archived as a single file.
 */
import type { ModelCategory } from "../models/recipe.ts";
import { barChart, escapeXml, groupedBarChart, type Bar, type Series } from "./charts.ts";
import type { ReportHeader } from "./header.ts";
import { headerFacts, metricText, problemLines, signedPercent, timingView, type TextTable } from "./view.ts";
import type { ModelRow, Table3, Tables } from "./tables.ts";

const CATEGORY_COLORS: Record<ModelCategory, string> = {
  "single-domain": "#8da0cb",
  "joint training": "#66c2a5",
  "pre-training & fine-tuning": "#fc8d62",
  ours: "#d7301f",
  reference: "#bdbdbd",
};

export const SERIES_COLORS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666", "#1f78b4", "#b2df8a", "#fb9a99"];

export const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; color: #222; max-width: 1100px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.facts th { width: 11em; }
.note { color: #555; font-size: 0.92em; margin: 0.3em 0; }
.problem { color: #a40000; }
.verdict { font-weight: 600; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: 0.9em; }
svg.chart { max-width: 100%; height: auto; }
svg .title { font-weight: 600; font-size: 13px; } svg .label, svg .tick, svg .value { font-size: 11px; fill: #333; }
svg .grid { stroke: #e4e4e4; } svg .zero { stroke: #555; } svg .err { stroke: #111; stroke-width: 1.2; fill: none; }
`;

export interface HtmlInput {
  header: ReportHeader;
  tables: Tables;
  views: { table2: TextTable; table3: TextTable; table4: TextTable };
}

export function htmlReport({ header, tables, views }: HtmlInput): string {
  const { table2, table3, table4 } = tables;
  const sections = [
    section("Provenance", provenanceHtml(header)),
    section("Table 2", tableHtml(views.table2) + metricCharts("Table 2, per model", table2.rows)),
    section("Table 3", tableHtml(views.table3) + (table3.referencePresent ? improvementCharts(table3) : "")),
    section("Table 4", tableHtml(views.table4) + metricCharts("Table 4, per ablation", table4.rows)),
    section("Verdict", `<p class="verdict">${escapeXml(table2.verdict.text)}</p>`),
  ];
  return htmlPage(`MKT report: ${header.experiment}`, sections.join("\n"));
}

/** A self-contained page: the report's style inline, `title` as its title and heading (escaped), `body` as given. */
export function htmlPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeXml(title)}</h1>
${body}
</body>
</html>
`;
}

export function section(title: string, body: string): string {
  return `<section><h2>${escapeXml(title)}</h2>\n${body}\n</section>`;
}

function provenanceHtml(h: ReportHeader): string {
  const facts = headerFacts(h)
    .map(([label, value]) => `<tr><th>${escapeXml(label)}</th><td>${escapeXml(value)}</td></tr>`)
    .join("");
  const problems = problemLines(h);
  const problemList = problems.length > 0 ? `<ul class="problem">${problems.map((p) => `<li>${escapeXml(p)}</li>`).join("")}</ul>` : "";
  return `<table class="facts">${facts}</table>${problemList}${tableHtml(timingView(h))}`;
}

/** Numbers, "mean ± std", intervals "[lo, hi]", percentages and durations are right-aligned; labels like "10–30" are not. */
const NUMERIC_CELL = /^[-+[]?\d[\d.]*(%| |,|$)/;

export function tableHtml(t: TextTable): string {
  const head = `<tr>${t.columns.map((c) => `<th>${escapeXml(c)}</th>`).join("")}</tr>`;
  const body = t.rows
    .map((row, r) => {
      const cells = row.map((cell, c) => {
        const content = t.bold[r]?.[c] ? `<strong>${escapeXml(cell)}</strong>` : escapeXml(cell);
        return `<td${NUMERIC_CELL.test(cell) ? ' class="num"' : ""}>${content}</td>`;
      });
      return `<tr>${cells.join("")}</tr>`;
    })
    .join("\n");
  const table = t.rows.length > 0 ? `<table>${head}\n${body}</table>` : `<p class="note">No results.</p>`;
  return `<h3>${escapeXml(t.title)}</h3>${table}${t.notes.map((n) => `<p class="note">${escapeXml(n)}</p>`).join("")}`;
}

/** AUC and GAUC per row, ± std over seeds; every row of the table gets a bar. */
function metricCharts(title: string, rows: readonly ModelRow[]): string {
  if (rows.length === 0) return "";
  const bars = (key: "auc" | "gauc"): Bar[] =>
    rows.map((r) => ({
      label: r.label,
      value: r[key].mean,
      error: r[key].std,
      color: CATEGORY_COLORS[r.category],
      tooltip: `${r.label}: ${metricText(r[key].mean)} ± ${metricText(r[key].std)} over ${r.seeds.length} seed(s)`,
    }));
  return barChart(`${title}: AUC`, bars("auc"), (x) => x.toFixed(4)) + barChart(`${title}: GAUC`, bars("gauc"), (x) => x.toFixed(4));
}

/** Improvement vs the reference per user group, one bar per non-reference model. */
function improvementCharts(table3: Table3): string {
  const models = [...new Map(table3.rows.filter((r) => r.model !== table3.reference).map((r) => [r.model, r.label]))];
  const series = (key: "auc" | "gauc"): Series[] =>
    models.map(([model, label], i) => ({
      name: label,
      color: SERIES_COLORS[i % SERIES_COLORS.length]!,
      values: table3.groups.map(({ group }) => table3.rows.find((r) => r.group === group && r.model === model)?.[key].comparison?.improvement ?? NaN),
    }));
  const groups = table3.groups.map((g) => g.group);
  const title = (metric: string) => `Table 3: ${metric} improvement vs ${table3.referenceLabel} per user group (%)`;
  return groupedBarChart(title("AUC"), groups, series("auc"), signedPercent) + groupedBarChart(title("GAUC"), groups, series("gauc"), signedPercent);
}
