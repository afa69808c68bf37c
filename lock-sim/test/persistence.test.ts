import { ManualClock, toHex } from "@latchkey/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { FlashError, type SimLock, seededRandom, startLock } from "../src/index.js";
import { startTestBroker, type TestBroker } from "./helpers/broker.js";
import { unlockDirect } from "./helpers/direct.js";
import { claimsFor, cti, makeDevice, makeIssuer, mint, T0 } from "./helpers/keys.js";
import { Observer } from "./helpers/observer.js";
import { TempDirs } from "./helpers/tmp.js";

/** The flash: what survives a restart or a power loss, and the ring buffer's fixed capacity. */
const SITE_SECRET = "site-secret-for-tests-0123456789";
const issuer = makeIssuer("persist");
const synced = makeIssuer("persist-synced");
const device = makeDevice("persist");

describe("flash persistence", () => {
  const tmp = new TempDirs();
  const running: SimLock[] = [];
  let broker: TestBroker | undefined;
  let observer: Observer | undefined;
  const clock = new ManualClock(T0 * 1000);
  let boots = 0;

  afterEach(async () => {
    for (const l of running.splice(0)) await l.stop();
    await observer?.close();
    await broker?.close();
    observer = undefined;
    broker = undefined;
    tmp.cleanup();
  });

  async function boot(dataDir: string, extra: Partial<Parameters<typeof startLock>[0]> = {}) {
    const lock = await startLock({
      lockId: "p-1",
      dataDir,
      clock,
      random: seededRandom(`p-1:${++boots}`),
      trust: [issuer.trusted],
      tickIntervalMs: 0,
      relockSeconds: 0,
      ...extra,
    });
    running.push(lock);
    return lock;
  }

  const deny = (lock: SimLock) => unlockDirect(lock, new Uint8Array([1]), device.secretKey);

  it("a restart keeps the sequence number, the unsent events (same ids) and replays them in order", async () => {
    const dir = tmp.make();
    const first = await boot(dir); // no broker yet: events pile up in flash
    for (let i = 0; i < 3; i++) deny(first);
    const ids = first.events.map((e) => toHex(e.id));
    expect(first.events.map((e) => e.seq)).toEqual([1, 2, 3]);
    await first.stop();

    broker = await startTestBroker({ siteSecret: SITE_SECRET });
    observer = await Observer.connect(broker.url);
    const second = await boot(dir, { mqttUrl: broker.url, siteSecret: SITE_SECRET });
    await second.waitForAcknowledged();
    deny(second);
    await observer.waitForEvent("p-1", (e) => e.seq === 4);
    expect(observer.events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(observer.events.slice(0, 3).map((e) => toHex(e.id))).toEqual(ids);
  });

  it("power loss: the broker fires the will, and nothing committed is lost", async () => {
    broker = await startTestBroker({ siteSecret: SITE_SECRET });
    observer = await Observer.connect(broker.url);
    const dir = tmp.make();
    const first = await boot(dir, { mqttUrl: broker.url, siteSecret: SITE_SECRET });
    await observer.waitForStatus("p-1", "online");
    broker.holdAcks = true; // the bridge is slow: no PUBACK
    deny(first);
    deny(first);
    expect(first.unacknowledged).toBe(2);
    await first.powerLoss();
    running.splice(running.indexOf(first), 1);
    await observer.waitForStatus("p-1", "offline");
    broker.holdAcks = false;
    broker.releaseAcks();

    const second = await boot(dir, { mqttUrl: broker.url, siteSecret: SITE_SECRET });
    await observer.waitForStatus("p-1", "online");
    await second.waitForAcknowledged();
    deny(second);
    const got = await observer.waitForEvent("p-1", (e) => e.seq === 3);
    expect(got.code).toBe("malformed");
    const seqs = [...new Set(observer.events.map((e) => e.seq))].sort();
    expect(seqs).toEqual([1, 2, 3]);
  });

  it("a restart keeps sync version, revocations, synced issuers, battery, clock state and jam fault", async () => {
    const dir = tmp.make();
    const first = await boot(dir, { battery: { level: 80 } });
    const revokedCti = cti();
    first.applySync({ v: 7, issuers: [synced.sync], revoked: [revokedCti], time: T0 });
    first.jam();
    first.resetClock();
    await first.powerLoss();

    const second = await boot(dir, { battery: { level: 100 } }); // a first-boot option: ignored now
    expect(second.syncVersion).toBe(7);
    expect(second.revoked).toEqual([toHex(revokedCti)]);
    expect(second.trustedKids.sort()).toEqual([toHex(issuer.kid), toHex(synced.kid)].sort());
    expect(second.battery.level).toBe(80);
    expect(second.clockSet).toBe(false);
    expect(second.state).toBe("locked");
    const r = unlockDirect(second, mint(synced, claimsFor("p-1", device.publicKey)), device.secretKey);
    expect(r.code).toBe("clock_unset");
    second.applySync({ v: 7, issuers: [], revoked: [], time: T0 }); // same v: only the time is taken
    expect(second.syncVersion).toBe(7);
    const jammed = unlockDirect(second, mint(synced, claimsFor("p-1", device.publicKey)), device.secretKey);
    expect(jammed.code).toBe("jammed");
    expect(second.events.at(-1)?.seq).toBe(4); // sync_applied 1; after the restart: denied 2, clock_set 3, jammed 4
  });

  it("a lock id runs once per flash; a flash held by another process is reported", async () => {
    const dir = tmp.make();
    await boot(dir);
    await expect(boot(dir)).rejects.toThrow(FlashError);
    await expect(boot(dir)).rejects.toThrow(/already running/);
    // a second lock on the same directory shares the file
    const b = await boot(dir, { lockId: "p-2" });
    expect(b.flashPath).toBe(running[0]!.flashPath);
  });
});

describe("event ring buffer", () => {
  const tmp = new TempDirs();
  const clock = new ManualClock(T0 * 1000);
  let broker: TestBroker | undefined;
  let observer: Observer | undefined;

  afterEach(async () => {
    await observer?.close();
    await broker?.close();
    tmp.cleanup();
  });

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
    const lock = await startLock(opts);
    for (let i = 0; i < 8; i++) unlockDirect(lock, new Uint8Array([i]), device.secretKey);
    expect(lock.unacknowledged).toBe(5);
    expect(lock.droppedTotal).toBe(3);
    expect(lock.telemetry().dropped).toBe(3);
    // the oldest survivor carries the gap before it: seqs 1–3 are gone
    expect(lock.events[3]).toMatchObject({ seq: 4, dropped: 3 });
    await lock.stop();

    broker = await startTestBroker({ siteSecret: SITE_SECRET });
    observer = await Observer.connect(broker.url);
    const again = await startLock({ ...opts, mqttUrl: broker.url, siteSecret: SITE_SECRET });
    try {
      await again.waitForAcknowledged();
      await observer.waitFor(() => (observer!.events.length >= 5 ? true : undefined), "5 events");
      expect(observer.events.map((e) => [e.seq, e.dropped ?? 0])).toEqual([
        [4, 3],
        [5, 0],
        [6, 0],
        [7, 0],
        [8, 0],
      ]);
      const t = await observer.waitFor(() => observer!.telemetry.find((x) => x.lock === "r-1"), "telemetry");
      expect(t.dropped).toBe(3);
      expect(again.droppedTotal).toBe(3);
    } finally {
      await again.stop();
    }
  });
});
