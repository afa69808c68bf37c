import { type CurvePoint, type FitClass, fitCurve, sizeLabel } from "./fit.js";
import { type BenchRow, type RowSpec, row } from "./rows.js";

const ORDER: FitClass[] = ["constant", "log", "linear", "worse than linear"];

/**
 * A growth curve as a row: its value the cost at the largest size measured, its fit computed from every point, met
 * when the fit is no worse than `expected` (a per-request cost should not grow with the table; reading every entry is
 * linear by nature; worse than linear is always a defect).
 */
export function curveRow(
  spec: RowSpec,
  curve: {
    points: CurvePoint[];
    expected: FitClass;
    plot: string;
    series: string;
    note: string;
    /** The points' unit where it is not the row's (a rate's curve is fitted as its cost). */
    pointsUnit?: string;
  },
): BenchRow {
  const points = [...curve.points].sort((a, b) => a.size - b.size);
  const { exponent, fit } = fitCurve(points);
  const last = points.at(-1)!;
  return {
    ...row(spec, {
      value: last.value,
      baseline: null,
      ratio: null,
      met: ORDER.indexOf(fit) <= ORDER.indexOf(curve.expected),
      note:
        `${points.map((p) => `${sizeLabel(p.size)}: ${p.value.toPrecision(3)}`).join(", ")} ${curve.pointsUnit ?? spec.unit}; fit ` +
        `${fit} (exponent ${exponent.toFixed(2)}, expected ${curve.expected} or better). ${curve.note}`,
    }),
    curve: { points, exponent, fit, plot: curve.plot, series: curve.series, unit: curve.pointsUnit ?? spec.unit },
  };
}
