import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { HOLD_MAX_MS, UploadBackpressure } from "../src/uploader/backpressure.js";

/** The upload's backpressure on the MQTT ingest (docs/mqtt.md "Upload"), on fake timers. */
describe("UploadBackpressure", () => {
  let backlog = 0;
  let holds = 0;
  const make = (bound = 10) => new UploadBackpressure(bound, () => backlog, { inc: () => holds++ });
  const settled = async (p: Promise<void>) => {
    let done = false;
    void p.then(() => {
      done = true;
    });
    await Promise.resolve();
    await Promise.resolve();
    return done;
  };

  beforeEach(() => {
    vi.useFakeTimers();
    backlog = 0;
    holds = 0;
  });
  afterEach(() => vi.useRealTimers());

  it("holds nothing while the upload is not delivering, whatever the backlog (an outage: the outbox buffers)", () => {
    const gate = make();
    backlog = 1_000;
    expect(gate.hold()).toBeNull();
    gate.delivered();
    gate.stalled();
    expect(gate.hold()).toBeNull();
    expect(holds).toBe(0);
  });

  it("holds above the bound while delivering, one promise for all, released by a batch that brings it to the bound", async () => {
    const gate = make();
    gate.delivered();
    backlog = 10;
    expect(gate.hold()).toBeNull();
    backlog = 11;
    const first = gate.hold()!;
    const second = gate.hold()!;
    expect(first).toBe(second);
    expect(holds).toBe(2);
    backlog = 11;
    gate.delivered();
    expect(await settled(first)).toBe(false);
    backlog = 10;
    gate.delivered();
    expect(await settled(first)).toBe(true);
    // Closed again by the next report above the bound: a new spell.
    backlog = 12;
    const third = gate.hold()!;
    expect(third).not.toBe(first);
    gate.stalled();
    expect(await settled(third)).toBe(true);
    expect(gate.hold()).toBeNull();
  });

  it(`lets a held PUBACK go after ${HOLD_MAX_MS} ms at most`, async () => {
    const gate = make();
    gate.delivered();
    backlog = 50;
    const held = gate.hold()!;
    vi.advanceTimersByTime(HOLD_MAX_MS - 1);
    expect(await settled(held)).toBe(false);
    vi.advanceTimersByTime(1);
    expect(await settled(held)).toBe(true);
  });

  it("never holds with a bound of 0 (turned off)", () => {
    const gate = make(0);
    gate.delivered();
    backlog = 1_000_000;
    expect(gate.hold()).toBeNull();
  });
});
