import { ManualClock } from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import { TIME_UNCERTAINTY_LIMIT_MS } from "../src/index.js";
import { FIRST_TIME_RETRY_MS, MAX_TIME_RETRY_MS, TimeRequestSchedule } from "../src/lock/time-requests.js";
import { TestCloud } from "./helpers/cloud.js";
import { unlockDirect } from "./helpers/direct.js";
import { claimsFor, makeDevice, makeIssuer, mint, T0 } from "./helpers/keys.js";
import { lockRigEach, SITE_SECRET } from "./helpers/rig.js";

/**
 * The lock's clock is the trust engine's (docs/trust.md "Time"): only signed documents set it, its oscillator drifts,
 * and the lock asks for signed time when it has none or may be more than a minute off.
 */
const issuer = makeIssuer("clock");
const device = makeDevice("clock");
const HOUR = 3_600_000;

describe("the lock's clock", () => {
  const rig = lockRigEach({ lockId: "c-1", seed: "clock" });

  const boot = rig.boot;

  const key = (nbf: number, exp: number) => mint(issuer, claimsFor("c-1", device.publicKey, { nbf, exp, iat: nbf }));

  it("has no time before a state; a state's iat sets it but opens nothing; a signed time answer does", async () => {
    const clock = new ManualClock(T0 * 1000);
    const cloud = new TestCloud(clock, issuer);
    const lock = await boot(clock);
    expect([lock.time, lock.clockSet]).toEqual([null, false]);
    expect(unlockDirect(lock, key(T0 - 60, T0 + 3600), device.secretKey).code).toBe("no_state");
    expect(lock.events.at(-1)).toMatchObject({ type: "denied", ts: 0 }); // it never knew a time
    cloud.enroll(lock);
    expect(lock.command({ id: "s", type: "state", doc: cloud.state("c-1") }).ok).toBe(true);
    expect([lock.time, lock.clockSet]).toEqual([T0, false]);
    expect(unlockDirect(lock, key(T0 - 60, T0 + 3600), device.secretKey).code).toBe("clock_unset");
    cloud.giveTime(lock);
    expect(lock.clockSet).toBe(true);
    expect(unlockDirect(lock, key(T0 - 60, T0 + 3600), device.secretKey).ok).toBe(true);
  });

  it("a fast oscillator drifts; past a minute of doubt the lock asks for time at its next tick and is corrected", async () => {
    const clock = new ManualClock(T0 * 1000);
    const cloud = new TestCloud(clock, issuer);
    const { broker, observer } = await rig.mqtt(cloud);
    const lock = await boot(clock, { drift: { ppm: 1389 }, mqttUrl: broker.url, siteSecret: SITE_SECRET });
    cloud.enroll(lock);
    await observer.publishState("c-1", cloud.state("c-1"));
    await lock.waitFor((l) => l.clockSet, "signed time at the first state");
    const asked = observer.timeRequests.length;
    // 2,000 ppm of doubt (the engine's bound) passes 60 s after 30,000 s: not at 8 h, by 8.5 h.
    clock.advance(8 * HOUR);
    lock.tick();
    expect(lock.trust.reading().uncertaintyMs).toBeLessThan(TIME_UNCERTAINTY_LIMIT_MS);
    clock.advance(HOUR / 2);
    expect(lock.time! - Math.floor(clock.now() / 1000)).toBe(42); // 1,389 ppm of 8.5 h ahead
    lock.tick();
    await lock.waitFor((l) => l.trust.reading().uncertaintyMs < 5000, "a new time answer");
    expect(observer.timeRequests.length).toBe(asked + 1);
    expect(lock.time).toBe(Math.floor(clock.now() / 1000));
    expect(lock.events.at(-1)).toMatchObject({ type: "clock_set", code: "ahead" });
    // Events stay in order by their stamps even though the clock went back.
    const stamps = lock.events.map((e) => e.ts);
    expect(stamps).toEqual([...stamps].sort((a, b) => a - b));
  });

  it("a clock reset: every key refused (clock_unset) until a signed time answer, also across a restart", async () => {
    const clock = new ManualClock(T0 * 1000);
    const cloud = new TestCloud(clock, issuer);
    const dir = rig.tmp.make();
    const lock = await boot(clock, { dataDir: dir });
    cloud.provision(lock);
    lock.resetClock();
    await lock.powerLoss();
    rig.forget(lock);
    const again = await boot(clock, { dataDir: dir });
    expect(again.clockSet).toBe(false);
    expect(again.time).toBeNull(); // the state's iat moved it once; that is gone with the time too
    const k = key(T0 - 60, T0 + 3600);
    expect(unlockDirect(again, k, device.secretKey)).toMatchObject({ ok: false, code: "clock_unset" });
    expect(again.events.at(-1)).toMatchObject({ type: "denied", code: "clock_unset", ts: T0 }); // last known time
    clock.advance(60_000);
    cloud.giveTime(again);
    expect(again.clockSet).toBe(true);
    expect(again.events.at(-1)).toMatchObject({ type: "clock_set", code: "unset", ts: T0 + 60 });
    expect(unlockDirect(again, k, device.secretKey).ok).toBe(true);
  });

  it("asks again with a backoff from 30 s to an hour while no answer comes, and at once after an answer", () => {
    const schedule = new TimeRequestSchedule();
    const asked: number[] = [];
    for (let t = 0; t <= 4 * HOUR; t += 1000) if (schedule.due(t, true)) asked.push(t / 1000);
    expect(asked.slice(0, 8)).toEqual([0, 30, 90, 210, 450, 930, 1890, 3810]);
    expect(asked[8]! - asked[7]!).toBe(MAX_TIME_RETRY_MS / 1000);
    expect(FIRST_TIME_RETRY_MS).toBe(30_000);
    schedule.reset();
    expect(schedule.due(4 * HOUR + 1000, true)).toBe(true);
    expect(schedule.due(4 * HOUR + 2000, false)).toBe(false);
    expect(schedule.due(4 * HOUR + 3000, true)).toBe(true); // no longer needed in between: starts over
  });
});
