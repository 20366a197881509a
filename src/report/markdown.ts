import type { ReportHeader } from "./header.ts";
import { headerFacts, problemLines, timingView, type TextTable } from "./view.ts";

/** A table with its title and notes; best cells in bold. */
export function markdownTable(t: TextTable, level = "###"): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const body = t.rows.map((row, r) => line(row.map((cell, c) => (t.bold[r]?.[c] && cell ? `**${escapeCell(cell)}**` : escapeCell(cell)))));
  const table = t.rows.length > 0 ? [line(t.columns.map(escapeCell)), line(t.columns.map(() => "---")), ...body].join("\n") : "_No results._";
  return [`${level} ${t.title}`, table, ...t.notes].join("\n\n") + "\n";
}

/** The provenance header: what ran, where, with what, and how long. */
function markdownHeader(h: ReportHeader): string {
  const facts = headerFacts(h).map(([label, value]) => `- **${label}**: ${escapeInline(value)}`);
  const problems = problemLines(h).map((p) => `- ${escapeInline(p)}`);
  return [
    `## Provenance`,
    facts.join("\n"),
    ...(problems.length > 0 ? [`**Incomplete or inconsistent results**\n\n${problems.join("\n")}`] : []),
    markdownTable(timingView(h), "####").trimEnd(),
  ].join("\n\n");
}

/** A whole Markdown document: title, provenance header, the tables, and the verdict line if given. */
export function markdownDocument(h: ReportHeader, tables: readonly TextTable[], verdict?: string): string {
  const closing = verdict ? [`**Verdict**: ${escapeInline(verdict)}`] : [];
  return [`# MKT report: ${h.experiment}`, markdownHeader(h), ...tables.map((t) => markdownTable(t).trimEnd()), ...closing].join("\n\n") + "\n";
}

function escapeCell(text: string): string {
  return escapeInline(text).replace(/\|/g, "\\|");
}

/** Keeps a `*` in a name or note from turning into emphasis (an intra-word `_` never does). */
function escapeInline(text: string): string {
  return text.replace(/\*/g, "\\*");
}
