import { describe, expect, it } from "vitest";
import { benchReports } from "../bench/reports.js";
import { benchStateVerify } from "../bench/state.js";
import { benchVerify } from "../bench/verify.js";

// A smoke run with tiny sizes, so the benchmark cannot rot; its figures are not judged here.
describe("verification benchmark (smoke)", () => {
  it.each(["node", "noble"] as const)("runs with the %s backend and reports both figures", (backend) => {
    const r = benchVerify(backend, { rounds: 1, roundMs: 5 });
    expect(r.tokenPerSecond).toBeGreaterThan(0);
    expect(r.rawPerSecond).toBeGreaterThan(0);
    expect(r.ratio).toBeGreaterThan(0);
  });
});

describe("report verification benchmark (smoke)", () => {
  it("runs and reports reports/s beside raw Ed25519 verify/s", () => {
    const r = benchReports({ rounds: 1, roundMs: 5 });
    expect(r.reportPerSecond).toBeGreaterThan(0);
    expect(r.rawEd25519PerSecond).toBeGreaterThan(0);
    expect(r.usPerReport).toBeCloseTo(1e6 / r.reportPerSecond);
    expect(r.reportBytes).toBeGreaterThan(0);
  });
});

describe("signed state verification benchmark (smoke)", () => {
  it.each(["node", "noble"] as const)("runs with the %s backend on a state at the 3.5 KiB cap", (backend) => {
    const r = benchStateVerify(backend, { rounds: 1, roundMs: 5 });
    expect(r.statePerSecond).toBeGreaterThan(0);
    expect(r.rawPerSecond).toBeGreaterThan(0);
    expect(r.stateBytes).toBeGreaterThan(3584 - 21);
    expect(r.stateBytes).toBeLessThanOrEqual(3584);
  });
});
