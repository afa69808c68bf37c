import type { CurvePoint } from "./fit.js";
import { sizeLabel } from "./fit.js";

export interface PlotSeries {
  label: string;
  points: readonly CurvePoint[];
}

const W = 560;
const H = 320;
const M = { left: 64, right: 16, top: 36, bottom: 44 };
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const num = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2));

/** Powers of ten covering [lo, hi], and the half-decade 3× steps when there are few. */
function ticks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 3]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  }
  return out;
}

/**
 * A log-log line plot of cost against size as a standalone SVG (no dependency: a few dozen elements). On log-log axes
 * a constant cost is flat and a linear one rises one decade per decade, so the fit reads off the slope.
 */
export function linePlotSvg(options: { title: string; yLabel: string; series: readonly PlotSeries[] }): string {
  const all = options.series.flatMap((s) => s.points).filter((p) => p.size > 0 && p.value > 0);
  const sizes = all.map((p) => p.size);
  const values = all.map((p) => p.value);
  const [x0, x1] = all.length ? [Math.min(...sizes), Math.max(...sizes)] : [1, 10];
  // At least a decade of room on the y axis, so a flat line looks flat.
  const [yMin, yMax] = all.length ? [Math.min(...values), Math.max(...values)] : [1, 10];
  const y0 = Math.min(yMin, Math.sqrt(yMin * yMax) / Math.sqrt(10));
  const y1 = Math.max(yMax, Math.sqrt(yMin * yMax) * Math.sqrt(10));
  const lx = (v: number) => Math.log10(v);
  const spanX = lx(x1) - lx(x0) || 1;
  const px = (v: number) => M.left + ((lx(v) - lx(x0)) / spanX) * (W - M.left - M.right);
  const py = (v: number) => H - M.bottom - ((lx(v) - lx(y0)) / (lx(y1) - lx(y0))) * (H - M.top - M.bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    // The title as the SVG's accessible name too.
    `<title>${esc(options.title)}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(options.title)}</text>`,
    `<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="black"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="black"/>`,
  ];
  for (const t of [...new Set(sizes)].sort((a, b) => a - b)) {
    parts.push(
      `<text x="${px(t).toFixed(1)}" y="${H - M.bottom + 14}" text-anchor="middle">${sizeLabel(t)}</text>`,
      `<line x1="${px(t).toFixed(1)}" y1="${H - M.bottom}" x2="${px(t).toFixed(1)}" y2="${H - M.bottom + 4}" stroke="black"/>`,
    );
  }
  for (const t of ticks(y0, y1)) {
    parts.push(
      `<line x1="${M.left}" y1="${py(t).toFixed(1)}" x2="${W - M.right}" y2="${py(t).toFixed(1)}" stroke="#ddd"/>`,
      `<text x="${M.left - 4}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end">${num(t)}</text>`,
    );
  }
  parts.push(
    `<text x="${W / 2}" y="${H - 8}" text-anchor="middle">size (log)</text>`,
    `<text x="14" y="${H / 2}" text-anchor="middle" transform="rotate(-90 14 ${H / 2})">${esc(options.yLabel)} (log)</text>`,
  );
  options.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = s.points.filter((p) => p.size > 0 && p.value > 0);
    if (pts.length > 0) {
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${px(p.size).toFixed(1)},${py(p.value).toFixed(1)}`).join(" ")}"/>`,
        ...pts.map(
          (p) =>
            `<circle cx="${px(p.size).toFixed(1)}" cy="${py(p.value).toFixed(1)}" r="3" fill="${color}"><title>${sizeLabel(p.size)}: ${num(p.value)}</title></circle>`,
        ),
      );
    }
    parts.push(
      `<rect x="${M.left + 10}" y="${M.top + 4 + i * 16}" width="10" height="10" fill="${color}"/>`,
      `<text x="${M.left + 24}" y="${M.top + 13 + i * 16}">${esc(s.label)}</text>`,
    );
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
