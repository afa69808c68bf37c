import { ManualClock } from "@latchkey/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { type SimLock, seededRandom, startLock } from "../src/index.js";
import { unlockDirect } from "./helpers/direct.js";
import { claimsFor, makeDevice, makeIssuer, mint, T0 } from "./helpers/keys.js";
import { TempDirs } from "./helpers/tmp.js";

/**
 * The lock's RTC as documented in the README: base clock plus drift, only forward once set, unset after a clock reset
 * until a sync brings trusted time. Keys are checked against the RTC with protocol's 60 s leeway.
 */
const issuer = makeIssuer("clock");
const device = makeDevice("clock");
const DAY = 86_400_000;

describe("real-time clock", () => {
  const tmp = new TempDirs();
  const running: SimLock[] = [];
  let seed = 0;

  afterEach(async () => {
    for (const l of running.splice(0)) await l.stop();
    tmp.cleanup();
  });

  async function boot(clock: ManualClock, extra: Partial<Parameters<typeof startLock>[0]> = {}) {
    const lock = await startLock({
      lockId: "c-1",
      dataDir: tmp.make(),
      clock,
      random: seededRandom(`clock:${++seed}`),
      trust: [issuer.trusted],
      tickIntervalMs: 0,
      relockSeconds: 0,
      ...extra,
    });
    running.push(lock);
    return lock;
  }

  const key = (nbf: number, exp: number) => mint(issuer, claimsFor("c-1", device.publicKey, { nbf, exp, iat: nbf }));

  it("a fast clock (+100 ppm) runs 8.64 s a day ahead and expires keys early once past the leeway", async () => {
    const clock = new ManualClock(T0 * 1000);
    const lock = await boot(clock, { drift: { ppm: 100 } });
    clock.advance(10 * DAY);
    const base = T0 + 10 * 86_400;
    expect(lock.time).toBe(base + 86); // 86.4 s ahead
    // exp 30 s from now by real time: the RTC is 56 s past it, inside the leeway
    expect(unlockDirect(lock, key(T0, base + 30), device.secretKey).ok).toBe(true);
    // exp 20 s from now: the RTC is 66 s past it
    expect(unlockDirect(lock, key(T0, base + 20), device.secretKey).code).toBe("expired");
  });

  it("a slow clock (−100 ppm) is advanced by a sync's trusted time (clock_set), never set back", async () => {
    const clock = new ManualClock(T0 * 1000);
    const lock = await boot(clock, { drift: { ppm: -100 } });
    clock.advance(10 * DAY);
    const base = T0 + 10 * 86_400;
    expect(lock.time).toBe(base - 87); // 86.4 s behind
    const starting = key(base + 30, base + 3600); // starts in 30 s by real time: RTC sees it 116 s ahead
    expect(unlockDirect(lock, starting, device.secretKey).code).toBe("not_yet_valid");
    lock.applySync({ v: 1, issuers: [], revoked: [], time: base });
    expect(lock.time).toBe(base);
    expect(lock.events.find((e) => e.type === "clock_set")).toMatchObject({ code: "behind", ts: base });
    expect(unlockDirect(lock, starting, device.secretKey).ok).toBe(true);
    // a sync whose time is behind the RTC changes nothing, and brings no clock_set
    const events = lock.events.length;
    lock.applySync({ v: 2, issuers: [], revoked: [], time: base - 3600 });
    expect(lock.time).toBe(base);
    expect(lock.events.slice(events).map((e) => e.type)).toEqual(["sync_applied"]);
  });

  it("never reads less than it has read, even when the base clock steps back", async () => {
    const clock = new ManualClock(T0 * 1000);
    const lock = await boot(clock);
    clock.advance(5000);
    expect(lock.time).toBe(T0 + 5);
    clock.set(T0 * 1000 - 3_600_000);
    expect(lock.time).toBe(T0 + 5);
    clock.set(T0 * 1000 + 9000);
    expect(lock.time).toBe(T0 + 9);
  });

  it("a first-boot offset and an unset first boot", async () => {
    const clock = new ManualClock(T0 * 1000);
    const ahead = await boot(clock, { drift: { offsetSeconds: 42 } });
    expect(ahead.time).toBe(T0 + 42);
    await ahead.stop();
    const unset = await boot(clock, { clockUnset: true });
    expect(unset.clockSet).toBe(false);
    expect(unset.time).toBeNull();
    expect(unlockDirect(unset, key(T0 - 60, T0 + 60), device.secretKey).code).toBe("clock_unset");
  });

  it("clock reset: refused until a sync (even an old version) brings time; the unset state survives a restart", async () => {
    const clock = new ManualClock(T0 * 1000);
    const dir = tmp.make();
    const lock = await boot(clock, { dataDir: dir });
    lock.applySync({ v: 3, issuers: [], revoked: [], time: T0 });
    lock.resetClock();
    await lock.powerLoss();
    const again = await boot(clock, { dataDir: dir });
    expect(again.clockSet).toBe(false);
    const k = key(T0 - 60, T0 + 3600);
    const denied = unlockDirect(again, k, device.secretKey);
    expect(denied).toMatchObject({ ok: false, code: "clock_unset" });
    expect(again.events.at(-1)).toMatchObject({ type: "denied", code: "clock_unset", ts: T0 }); // last known time
    clock.advance(60_000);
    again.applySync({ v: 1, issuers: [], revoked: [], time: T0 + 60 }); // older v: only its time is used
    expect(again.syncVersion).toBe(3);
    expect(again.clockSet).toBe(true);
    expect(again.events.at(-1)).toMatchObject({ type: "clock_set", code: "unset", ts: T0 + 60 });
    expect(unlockDirect(again, k, device.secretKey).ok).toBe(true);
  });
});
