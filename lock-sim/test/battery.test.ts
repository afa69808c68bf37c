import { ManualClock } from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import type { SimLock, startLock } from "../src/index.js";
import { TestCloud } from "./helpers/cloud.js";
import { unlockDirect } from "./helpers/direct.js";
import { claimsFor, makeDevice, makeIssuer, mint, T0 } from "./helpers/keys.js";
import { lockRigEach, SITE_SECRET } from "./helpers/rig.js";

const issuer = makeIssuer("battery");
const device = makeDevice("battery");
const DAY = 86_400_000;

describe("battery model and telemetry", () => {
  const rig = lockRigEach({ lockId: "b-1", seed: "battery" });

  /** A lock given its state and signed time by `cloud` straight away: telemetry is sealed only under a state. */
  async function boot(
    clock: ManualClock,
    extra: Partial<Parameters<typeof startLock>[0]> = {},
    cloud = new TestCloud(clock, issuer),
  ) {
    const lock = await rig.boot(clock, extra);
    cloud.provision(lock);
    return lock;
  }

  const open = (lock: SimLock) => {
    const r = unlockDirect(lock, mint(issuer, claimsFor("b-1", device.publicKey)), device.secretKey);
    lock.tick(); // re-lock: a second motor run
    return r;
  };

  it("falls per actuation and per idle day; millivolts follow the level", async () => {
    const clock = new ManualClock(T0 * 1000);
    const lock = await boot(clock, { battery: { perActuation: 0.5, perIdleDay: 1 } });
    expect(lock.battery).toEqual({ level: 100, mv: 3200, state: "ok" });
    open(lock); // unlock + relock: 1 %
    expect(lock.battery).toEqual({ level: 99, mv: 3192, state: "ok" });
    clock.advance(10 * DAY);
    lock.tick();
    expect(lock.battery).toEqual({ level: 89, mv: 3112, state: "ok" });
  });

  it("battery_low on crossing into low (≤ 20 %) and into critical (≤ 5 %), with telemetry on each change", async () => {
    const clock = new ManualClock(T0 * 1000);
    const cloud = new TestCloud(clock, issuer);
    const { broker, observer } = await rig.mqtt(cloud);
    const lock = await boot(
      clock,
      {
        battery: { level: 21, perActuation: 4 },
        mqttUrl: broker.url,
        siteSecret: SITE_SECRET,
        telemetryIntervalSeconds: 0,
      },
      cloud,
    );
    await observer.waitFor(() => cloud.telemetry("b-1")[0], "telemetry once the state is applied");
    open(lock); // 21 → 17 → 13: low
    expect(lock.battery.state).toBe("low");
    open(lock); // 9, 5: critical
    expect(lock.battery.state).toBe("critical");
    open(lock); // 1, 0
    const lows = lock.events.filter((e) => e.type === "battery_low").map((e) => e.code);
    expect(lows).toEqual(["low", "critical"]);
    await observer.waitFor(() => cloud.telemetry("b-1").find((t) => t.level === 0), "telemetry at 0 %");
    const levels = cloud.telemetry("b-1").map((t) => [t.level, t.state]);
    expect(levels).toEqual([
      [21, "ok"],
      [17, "low"],
      [13, "low"],
      [9, "low"],
      [5, "critical"],
      [1, "critical"],
      [0, "critical"],
    ]);
    // at 0 % the motor cannot run
    const dead = unlockDirect(lock, mint(issuer, claimsFor("b-1", device.publicKey)), device.secretKey);
    expect(dead.code).toBe("jammed");
    expect(lock.events.at(-1)).toMatchObject({ type: "jammed", code: "battery_empty" });
    lock.replaceBattery();
    expect(lock.battery).toEqual({ level: 100, mv: 3200, state: "ok" });
  });

  it("publishes telemetry periodically on the injected clock", async () => {
    const clock = new ManualClock(T0 * 1000);
    const cloud = new TestCloud(clock, issuer);
    const { broker, observer } = await rig.mqtt(cloud);
    const lock = await boot(
      clock,
      { mqttUrl: broker.url, siteSecret: SITE_SECRET, telemetryIntervalSeconds: 60 },
      cloud,
    );
    const readings = () => cloud.telemetry("b-1");
    await observer.waitFor(() => (readings().length === 1 ? true : undefined), "the reading at the state");
    clock.advance(59_000);
    lock.tick();
    clock.advance(1000);
    lock.tick();
    await observer.waitFor(() => (readings().length === 2 ? true : undefined), "periodic telemetry");
    clock.advance(60_000);
    lock.tick();
    lock.tick();
    await observer.waitFor(() => (readings().length === 3 ? true : undefined), "periodic telemetry");
    expect(readings().map((t) => t.ts)).toEqual([T0, T0 + 60, T0 + 120]);
  });
});
