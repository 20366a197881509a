/** Plain-text tables for the terminal: columns padded, numbers right-aligned. */
export function textTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? "").length)));
  const numeric = header.map((_, c) => rows.every((r) => typeof r[c] === "number" || /^[-+]?[\d,.]+%?$/.test(String(r[c] ?? ""))));
  const line = (r: string[]) => r.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...cells.slice(1).map(line)].join("\n");
}

export const int = (n: number): string => Math.round(n).toLocaleString("en-US");
export const pct = (x: number | null, digits = 2): string => (x === null || !Number.isFinite(x) ? "–" : `${(x * 100).toFixed(digits)}%`);
