/** A measured point of a growth curve: the cost at one size. */
export interface CurvePoint {
  size: number;
  value: number;
}

export type FitClass = "constant" | "log" | "linear" | "worse than linear";

export interface Fit {
  /** The slope of log(cost) against log(size): 0 constant, 1 linear, 2 quadratic. */
  exponent: number;
  fit: FitClass;
}

/**
 * How a cost grows with size (issue 17 item 3: "the fit (constant, log, linear) stated per curve"), from the
 * slope of log(cost) on log(size): least squares over every point, or the last segment's where that is steeper. Over two decades a cost of a + b·log n moves its slope well under 0.5
 * while a + b·n is near 1, and a real scan or N+1 query shows as ≥ 1; so the classes are cut at 0.1 (within the
 * noise of a loaded machine: flat), 0.5 and 1.25 (linear with its per-run noise; beyond it, worse than linear, a
 * defect). Two points give a slope; more give a steadier one.
 */
export function fitCurve(points: readonly CurvePoint[]): Fit {
  const usable = points.filter((p) => p.size > 0 && p.value > 0 && Number.isFinite(p.value));
  if (usable.length < 2) return { exponent: 0, fit: "constant" };
  const xs = usable.map((p) => Math.log(p.size));
  const ys = usable.map((p) => Math.log(p.value));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  // The steeper of the overall slope and the last segment's: a cost that starts to grow only at the biggest size
  // (a plan that goes bad past some table size) must not be averaged away by the flat points before it.
  const [a, b] = [usable.at(-2)!, usable.at(-1)!];
  const last = b.size === a.size ? 0 : Math.log(b.value / a.value) / Math.log(b.size / a.size);
  const exponent = Math.max(den === 0 ? 0 : num / den, last);
  const fit: FitClass =
    exponent < 0.1 ? "constant" : exponent < 0.5 ? "log" : exponent < 1.25 ? "linear" : "worse than linear";
  return { exponent, fit };
}

/** "10k", "1M": a size as the issue writes it. */
export function sizeLabel(n: number): string {
  if (n >= 1e6 && n % 1e5 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 100 === 0) return `${n / 1e3}k`;
  return String(n);
}
