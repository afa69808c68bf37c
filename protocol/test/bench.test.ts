import { describe, expect, it } from "vitest";
import { benchVerify } from "../src/bench/verify.js";

// A smoke run with tiny sizes, so the benchmark cannot rot; its figures are not judged here.
describe("verification benchmark (smoke)", () => {
  it.each(["node", "noble"] as const)("runs with the %s backend and reports both figures", (backend) => {
    const r = benchVerify(backend, { rounds: 1, roundMs: 5 });
    expect(r.tokenPerSecond).toBeGreaterThan(0);
    expect(r.rawPerSecond).toBeGreaterThan(0);
    expect(r.ratio).toBeGreaterThan(0);
  });
});
