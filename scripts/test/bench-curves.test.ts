import { describe, expect, it } from "vitest";
import { curveRow } from "../bench/curve-rows.js";
import { fitCurve, sizeLabel } from "../bench/fit.js";
import { linePlotSvg } from "../bench/plot.js";

const sizes = [10_000, 100_000, 1_000_000];
const curve = (f: (n: number) => number) => sizes.map((size) => ({ size, value: f(size) }));

describe("growth curve fits (issue 17 item 3)", () => {
  it("tell constant, log, linear and worse than linear apart over two decades", () => {
    expect(fitCurve(curve(() => 12)).fit).toBe("constant");
    expect(fitCurve(curve((n) => 5 * Math.log(n))).fit).toBe("constant");
    expect(fitCurve(curve((n) => n ** 0.3)).fit).toBe("log");
    expect(fitCurve(curve((n) => 2 + n / 1000)).fit).toBe("linear");
    expect(fitCurve(curve((n) => (n / 1000) ** 2)).fit).toBe("worse than linear");
    expect(fitCurve(curve((n) => n)).exponent).toBeCloseTo(1, 6);
    // Flat, then a jump at the biggest size (the 1M-key prefetch on an unanalyzed table): not averaged away.
    expect(
      fitCurve([
        { size: 1e4, value: 1300 },
        { size: 1e5, value: 700 },
        { size: 1e6, value: 11_000 },
      ]).fit,
    ).toBe("linear");
  });

  it("a single point, or a cost of zero, is no evidence of growth", () => {
    expect(fitCurve([{ size: 10, value: 5 }])).toEqual({ exponent: 0, fit: "constant" });
    expect(
      fitCurve([
        { size: 10, value: 0 },
        { size: 100, value: 0 },
      ]).fit,
    ).toBe("constant");
  });

  it("a curve row is met only within its expected fit, its value the largest size's cost", () => {
    const spec = { name: "curve-x", unit: "ms", target: "fit constant or log" };
    const flat = curveRow(spec, { points: curve(() => 3), expected: "log", plot: "p", series: "s", note: "" });
    expect(flat.met).toBe(true);
    const steep = curveRow(spec, { points: curve((n) => n / 1e3), expected: "log", plot: "p", series: "s", note: "" });
    expect(steep.met).toBe(false);
    expect(steep.value).toBe(1000);
    expect(steep.curve?.fit).toBe("linear");
    expect(steep.note).toContain("10k: 10.0, 100k: 100, 1M: 1.00e+3 ms; fit linear");
  });

  it("sizes read as the issue writes them", () => {
    expect([100, 1_000, 10_000, 1_000_000, 10_000_000, 1234].map(sizeLabel)).toEqual([
      "100",
      "1k",
      "10k",
      "1M",
      "10M",
      "1234",
    ]);
  });

  it("plots every series as a line of its points, its text escaped", () => {
    const svg = linePlotSvg({
      title: "a <b> & c",
      yLabel: "ms",
      series: [
        { label: "SQLite", points: curve(() => 3) },
        { label: "PostgreSQL", points: curve((n) => n / 1e4) },
      ],
    });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("<title>a &lt;b&gt; &amp; c</title>");
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg.match(/<circle/g)).toHaveLength(6);
    expect(svg).toContain("a &lt;b&gt; &amp; c");
    expect(svg).not.toContain("NaN");
  });
});
