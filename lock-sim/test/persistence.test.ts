import { ManualClock, toHex } from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import { FlashError, type SimLock, seededRandom, startLock } from "../src/index.js";
import { TestCloud } from "./helpers/cloud.js";
import { unlockDirect } from "./helpers/direct.js";
import { claimsFor, cti, makeDevice, makeIssuer, mint, T0 } from "./helpers/keys.js";
import { lockRigEach, SITE_SECRET } from "./helpers/rig.js";

/** The flash: what survives a restart or a power loss, and the ring buffer's fixed capacity. */
const issuer = makeIssuer("persist");
const device = makeDevice("persist");

describe("flash persistence", () => {
  const clock = new ManualClock(T0 * 1000);
  const cloud = new TestCloud(clock, issuer);

  const rig = lockRigEach({ lockId: "p-1", seed: "p-1" });
  const tmp = rig.tmp;

  const boot = (dataDir: string, extra: Partial<Parameters<typeof startLock>[0]> = {}) =>
    rig.boot(clock, { dataDir, ...extra });

  const deny = (lock: SimLock) => unlockDirect(lock, new Uint8Array([1]), device.secretKey);

  it("a restart keeps the sequence number and the unsent events (same ids), sealed and sent under new counters", async () => {
    const dir = tmp.make();
    const first = await boot(dir); // no broker yet: events pile up in flash
    cloud.provision(first);
    for (let i = 0; i < 3; i++) deny(first);
    const ids = first.events.map((e) => toHex(e.id));
    expect(first.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    await first.stop();

    const { broker, observer } = await rig.mqtt(cloud);
    const second = await boot(dir, { mqttUrl: broker.url, siteSecret: SITE_SECRET });
    await second.waitForDelivered();
    deny(second);
    await observer.waitFor(() => cloud.events("p-1").find((e) => e.seq === 6), "seq 6 at the cloud");
    expect(cloud.events("p-1").map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(
      cloud
        .events("p-1")
        .slice(0, 5)
        .map((e) => toHex(e.id)),
    ).toEqual(ids);
    expect(cloud.verdicts.every((v) => v.verdict === "ok")).toBe(true);
  });

  it("power loss: the broker fires the will, and nothing committed is lost", async () => {
    const { broker, observer } = await rig.mqtt(cloud);
    const dir = tmp.make();
    const first = await boot(dir, { mqttUrl: broker.url, siteSecret: SITE_SECRET });
    cloud.provision(first);
    await observer.waitForStatus("p-1", "online");
    await first.waitForDelivered();
    broker.holdAcks = true; // the bridge is slow: no PUBACK
    deny(first);
    deny(first);
    expect(first.undelivered).toBe(2);
    await first.powerLoss();
    rig.forget(first);
    await observer.waitForStatus("p-1", "offline");
    broker.holdAcks = false;
    broker.releaseAcks();

    const second = await boot(dir, { mqttUrl: broker.url, siteSecret: SITE_SECRET });
    await observer.waitForStatus("p-1", "online");
    await second.waitForDelivered();
    deny(second);
    await observer.waitFor(() => cloud.events("p-1").find((e) => e.seq === 5), "seq 5 at the cloud");
    expect(cloud.events("p-1").map((e) => [e.seq, e.type, e.code])).toEqual([
      [1, "state_applied", undefined],
      [2, "clock_set", "unset"],
      [3, "denied", "malformed"],
      [4, "denied", "malformed"],
      [5, "denied", "malformed"],
    ]);
    expect(cloud.verdicts.map((v) => v.verdict)).not.toContain("replayed");
  });

  it("a restart keeps the pin, the state, the counters, the battery, the clock's state and the jam fault", async () => {
    const dir = tmp.make();
    const first = await boot(dir, { battery: { level: 80 } });
    const revokedCti = cti();
    cloud.revoke("p-1", revokedCti);
    cloud.provision(first);
    const v = first.stateV;
    const counter = first.trust.nextReportCounter();
    first.jam();
    first.resetClock();
    await first.powerLoss();

    const second = await boot(dir, { battery: { level: 100 } }); // a first-boot option: ignored now
    expect(second.stateV).toBe(v);
    expect(second.revoked).toEqual([toHex(revokedCti)]);
    expect(second.trustedKids).toEqual([toHex(issuer.kid)]);
    expect(second.trust.authority).toEqual(cloud.authority.publicKey);
    expect(second.trust.nextReportCounter()).toBe(counter + 1);
    expect(second.battery.level).toBe(80);
    expect(second.clockSet).toBe(false);
    expect(second.state).toBe("locked");
    const r = unlockDirect(second, mint(issuer, claimsFor("p-1", device.publicKey)), device.secretKey);
    expect(r.code).toBe("clock_unset");
    cloud.giveTime(second);
    const jammed = unlockDirect(second, mint(issuer, claimsFor("p-1", device.publicKey)), device.secretKey);
    expect(jammed.code).toBe("jammed");
    // state_applied 1, clock_set 2; after the restart: denied 3, clock_set 4, jammed 5
    expect(second.events.map((e) => [e.seq, e.type])).toEqual([
      [3, "denied"],
      [4, "clock_set"],
      [5, "jammed"],
    ]);
  });

  it("a lock id runs once per flash; a flash held by another process is reported", async () => {
    const dir = tmp.make();
    const first = await boot(dir);
    await expect(boot(dir)).rejects.toThrow(FlashError);
    await expect(boot(dir)).rejects.toThrow(/already running/);
    // a second lock on the same directory shares the file
    const b = await boot(dir, { lockId: "p-2" });
    expect(b.flashPath).toBe(first.flashPath);
  });
});

describe("event ring buffer", () => {
  const rig = lockRigEach({ lockId: "r-1", seed: "ring" });
  const tmp = rig.tmp;
  const clock = new ManualClock(T0 * 1000);

  it("drops the oldest unacknowledged events when full, counts them, and reports the count upstream", async () => {
    const dir = tmp.make();
    const opts = {
      lockId: "r-1",
      dataDir: dir,
      clock,
      random: seededRandom("ring"),
      tickIntervalMs: 0,
      ringCapacity: 5,
    };
    const cloud = new TestCloud(clock, issuer);
    const lock = await startLock(opts);
    cloud.enroll(lock);
    for (let i = 0; i < 8; i++) unlockDirect(lock, new Uint8Array([i]), device.secretKey);
    expect(lock.unacknowledged).toBe(5);
    expect(lock.droppedTotal).toBe(3);
    expect(lock.telemetry().dropped).toBe(3);
    // the oldest survivor carries the gap before it: seqs 1–3 are gone
    expect(lock.events[3]).toMatchObject({ seq: 4, dropped: 3 });
    await lock.stop();

    const { broker, observer } = await rig.mqtt(cloud);
    const again = await startLock({ ...opts, mqttUrl: broker.url, siteSecret: SITE_SECRET });
    try {
      // The state it needs to seal anything takes the ring's place too: one more dropped, counted on seq 5.
      await observer.publishState("r-1", cloud.state("r-1"));
      await again.waitForState(1);
      await again.waitForDelivered();
      await observer.waitFor(() => (cloud.events("r-1").length >= 5 ? true : undefined), "5 events");
      expect(cloud.events("r-1").map((e) => [e.seq, e.type, e.dropped ?? 0])).toEqual([
        [5, "denied", 4],
        [6, "denied", 0],
        [7, "denied", 0],
        [8, "denied", 0],
        [9, "state_applied", 0],
      ]);
      const t = await observer.waitFor(() => cloud.telemetry("r-1")[0], "telemetry");
      expect(t.dropped).toBe(4);
      expect(again.droppedTotal).toBe(4);
    } finally {
      await again.stop();
    }
  });
});
