/**
 * Hand-written inline SVG bar charts for the HTML report: no scripts, fonts or external files.
 * Inline <svg> in HTML needs no xmlns attribute, so the page contains no URL at all.
 */

export interface Bar {
  label: string;
  value: number;
  /** Half-length of the error bar (± std over seeds). */
  error: number;
  color: string;
  /** Hover text. */
  tooltip: string;
}

export interface Series {
  name: string;
  color: string;
  /** One value per category; NaN draws no bar. */
  values: number[];
}

const HEIGHT = 300;
const MARGIN = { top: 36, right: 16, bottom: 84, left: 64 };
const PLOT_HEIGHT = HEIGHT - MARGIN.top - MARGIN.bottom;

/**
 * Bars with error bars. AUC-like values differ in the third decimal, so the axis starts near the
 * smallest bar, not at 0, and the caption says so.
 */
export function barChart(title: string, bars: readonly Bar[], format: (x: number) => string): string {
  const extents = bars.filter((b) => Number.isFinite(b.value)).flatMap((b) => [b.value - safe(b.error), b.value + safe(b.error)]);
  if (extents.length === 0) return emptyChart(title);
  const axis = niceAxis(Math.min(...extents), Math.max(...extents), false);
  const slot = 56;
  const width = MARGIN.left + MARGIN.right + Math.max(bars.length, 4) * slot;
  const y = scale(axis);
  const parts = bars.map((b, i) => {
    const cx = MARGIN.left + (i + 0.5) * slot;
    const label = xLabel(cx, b.label);
    if (!Number.isFinite(b.value)) return label + text(cx, y(axis.lo) - 4, "n/a", "middle", "value");
    const top = y(b.value);
    const e = safe(b.error);
    const whisker =
      e > 0
        ? `<path class="err" d="M${cx} ${y(b.value - e)}V${y(b.value + e)}M${cx - 6} ${y(b.value - e)}h12M${cx - 6} ${y(b.value + e)}h12"/>`
        : "";
    return (
      `<rect x="${cx - slot * 0.35}" y="${top}" width="${slot * 0.7}" height="${y(axis.lo) - top}" fill="${b.color}"><title>${escapeXml(b.tooltip)}</title></rect>` +
      whisker +
      text(cx, y(b.value + e) - 4, format(b.value), "middle", "value") +
      label
    );
  });
  return svg(title, width, axisMarkup(axis, width, format) + parts.join(""), `axis starts at ${format(axis.lo)}, not 0; error bars: ± std over seeds`);
}

/** Bars grouped by category (user group), one colour per series (model), from a zero line. */
export function groupedBarChart(title: string, categories: readonly string[], series: readonly Series[], format: (x: number) => string): string {
  const values = series.flatMap((s) => s.values).filter(Number.isFinite);
  if (values.length === 0 || categories.length === 0) return emptyChart(title);
  const axis = niceAxis(Math.min(0, ...values), Math.max(0, ...values), true);
  const barWidth = 18;
  const legendColumns = Math.min(series.length, 6);
  // Groups share the plot width evenly (at least room for their bars and a gap); bars centred in their group.
  const plotWidth = Math.max(categories.length * (series.length + 1) * barWidth, legendColumns * 110);
  const groupWidth = plotWidth / categories.length;
  const width = MARGIN.left + MARGIN.right + plotWidth;
  const y = scale(axis);
  const bars = categories.map((category, c) => {
    const center = MARGIN.left + (c + 0.5) * groupWidth;
    const x0 = center - (series.length * barWidth) / 2;
    const drawn = series.map((s, i) => {
      const v = s.values[c] ?? NaN;
      if (!Number.isFinite(v)) return "";
      const [top, bottom] = v >= 0 ? [y(v), y(0)] : [y(0), y(v)];
      return `<rect x="${round(x0 + i * barWidth)}" y="${top}" width="${barWidth - 2}" height="${bottom - top}" fill="${s.color}"><title>${escapeXml(`${s.name}, ${category}: ${format(v)}`)}</title></rect>`;
    });
    return drawn.join("") + text(center, HEIGHT - MARGIN.bottom + 18, category, "middle", "label");
  });
  const zero = `<line class="zero" x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${y(0)}" y2="${y(0)}"/>`;
  return svg(title, width, axisMarkup(axis, width, format) + bars.join("") + zero + legendMarkup(series, legendColumns), "");
}

export interface LineSeries extends Series {
  /** 95% interval of each value (NaN: none drawn). */
  lo?: number[];
  hi?: number[];
}

/**
 * One line per series over ordered categories (e.g. a sweep's values), with interval whiskers,
 * against a zero line: for differences to a reference model.
 */
export function lineChart(title: string, categories: readonly string[], series: readonly LineSeries[], format: (x: number) => string, caption: string): string {
  const values = series.flatMap((s) => [...s.values, ...(s.lo ?? []), ...(s.hi ?? [])]).filter(Number.isFinite);
  if (values.length === 0 || categories.length === 0) return emptyChart(title);
  const axis = niceAxis(Math.min(0, ...values), Math.max(0, ...values), true);
  const legendColumns = Math.min(series.length, 6);
  const plotWidth = Math.max(categories.length * 90, legendColumns * 110);
  const width = MARGIN.left + MARGIN.right + plotWidth;
  const y = scale(axis);
  const x = (c: number) => MARGIN.left + (c + 0.5) * (plotWidth / categories.length);
  const labels = categories.map((category, c) => text(x(c), HEIGHT - MARGIN.bottom + 18, category, "middle", "label")).join("");
  const lines = series.map((s, i) => {
    // Series are offset a little sideways so that their whiskers do not hide each other.
    const dx = (i - (series.length - 1) / 2) * 4;
    const points = s.values.map((v, c) => (Number.isFinite(v) ? ([x(c) + dx, y(v)] as const) : undefined));
    const path = points.reduce((d, p) => (p ? `${d}${d ? "L" : "M"}${round(p[0])} ${p[1]}` : d), "");
    const whiskers = s.values
      .map((_, c) => {
        const lo = s.lo?.[c] ?? NaN;
        const hi = s.hi?.[c] ?? NaN;
        return Number.isFinite(lo) && Number.isFinite(hi) ? `<path class="err" stroke="${s.color}" d="M${round(x(c) + dx)} ${y(lo)}V${y(hi)}"/>` : "";
      })
      .join("");
    const dots = points
      .map((p, c) => (p ? `<circle cx="${round(p[0])}" cy="${p[1]}" r="3.5" fill="${s.color}"><title>${escapeXml(`${s.name}, ${categories[c]}: ${format(s.values[c]!)}`)}</title></circle>` : ""))
      .join("");
    return `<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"/>` + whiskers + dots;
  });
  const zero = `<line class="zero" x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${y(0)}" y2="${y(0)}"/>`;
  return svg(title, width, axisMarkup(axis, width, format) + zero + labels + lines.join("") + legendMarkup(series, legendColumns), caption);
}

/** One swatch and name per series, below the plot, `columns` to a row. */
function legendMarkup(series: readonly { name: string; color: string }[], columns: number): string {
  return series
    .map((s, i) => {
      const lx = MARGIN.left + (i % columns) * 110;
      const ly = HEIGHT - MARGIN.bottom + 40 + Math.floor(i / columns) * 16;
      return `<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${s.color}"/>` + text(lx + 14, ly, s.name, "start", "label");
    })
    .join("");
}

interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
}

/** Round tick values (1, 2, 5 × 10^k) spanning [lo, hi] with some headroom. */
function niceAxis(lo: number, hi: number, keepZero: boolean): Axis {
  const span = hi - lo || Math.abs(hi) * 0.1 || 1;
  const padLo = keepZero && lo === 0 ? lo : lo - span * 0.15;
  const padHi = keepZero && hi === 0 ? hi : hi + span * 0.15;
  const raw = (padHi - padLo) / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const first = Math.floor(padLo / step);
  const last = Math.ceil(padHi / step);
  // Multiply integer tick indices (not repeated addition) so tick values do not drift.
  const ticks = Array.from({ length: last - first + 1 }, (_, i) => Number(((first + i) * step).toPrecision(12)));
  return { lo: ticks[0]!, hi: ticks[ticks.length - 1]!, ticks };
}

function scale(axis: Axis): (v: number) => number {
  return (v) => round(MARGIN.top + ((axis.hi - v) / (axis.hi - axis.lo)) * PLOT_HEIGHT);
}

function axisMarkup(axis: Axis, width: number, format: (x: number) => string): string {
  const y = scale(axis);
  return axis.ticks
    .map((t) => `<line class="grid" x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${y(t)}" y2="${y(t)}"/>` + text(MARGIN.left - 6, y(t) + 4, format(t), "end", "tick"))
    .join("");
}

function xLabel(cx: number, label: string): string {
  const y = HEIGHT - MARGIN.bottom + 14;
  return `<text class="label" x="${cx}" y="${y}" text-anchor="end" transform="rotate(-35 ${cx} ${y})">${escapeXml(label)}</text>`;
}

function svg(title: string, width: number, body: string, caption: string): string {
  const captionMarkup = caption ? `<figcaption>${escapeXml(caption)}</figcaption>` : "";
  return (
    `<figure><svg class="chart" viewBox="0 0 ${round(width)} ${HEIGHT}" width="${round(width)}" height="${HEIGHT}" role="img" aria-label="${escapeXml(title)}">` +
    text(MARGIN.left, 14, title, "start", "title") +
    body +
    `</svg>${captionMarkup}</figure>`
  );
}

function emptyChart(title: string): string {
  return `<figure><svg class="chart" viewBox="0 0 320 40" width="320" height="40" role="img" aria-label="${escapeXml(title)}">${text(4, 24, `${title}: no results`, "start", "title")}</svg></figure>`;
}

function text(x: number, y: number, content: string, anchor: "start" | "middle" | "end", cls: string): string {
  return `<text class="${cls}" x="${round(x)}" y="${round(y)}" text-anchor="${anchor}">${escapeXml(content)}</text>`;
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const round = (v: number): number => Math.round(v * 10) / 10;
const safe = (e: number): number => (Number.isFinite(e) ? e : 0);
