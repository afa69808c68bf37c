import { decodeCommand, encodeCommand, ManualClock } from "@latchkey/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type SimLock, seededRandom, startLock } from "../src/index.js";
import { startTestBroker, type TestBroker } from "./helpers/broker.js";
import { claimsFor, makeDevice, makeIssuer, mint, proofFor, T0 } from "./helpers/keys.js";
import { Observer } from "./helpers/observer.js";
import { TempDirs } from "./helpers/tmp.js";
import { until } from "./helpers/until.js";

const SITE_SECRET = "site-secret-for-tests-0123456789";
const issuer = makeIssuer("mqtt");
const device = makeDevice("mqtt");

describe("MQTT link", () => {
  const tmp = new TempDirs();
  let broker: TestBroker;
  let observer: Observer;
  const locks: SimLock[] = [];
  let clock: ManualClock;

  beforeEach(async () => {
    broker = await startTestBroker({ siteSecret: SITE_SECRET });
    observer = await Observer.connect(broker.url);
    clock = new ManualClock(T0 * 1000);
  });

  afterEach(async () => {
    for (const lock of locks.splice(0)) await lock.stop();
    await observer.close();
    await broker.close();
    tmp.cleanup();
  });

  async function boot(lockId: string, dataDir = tmp.make(), extra: Partial<Parameters<typeof startLock>[0]> = {}) {
    const lock = await startLock({
      lockId,
      dataDir,
      mqttUrl: broker.url,
      siteSecret: SITE_SECRET,
      clock,
      random: seededRandom(`${lockId}:${locks.length}`),
      trust: [issuer.trusted],
      tickIntervalMs: 0,
      ...extra,
    });
    locks.push(lock);
    return lock;
  }

  async function unlockOverMqtt(lockId: string, token: Uint8Array) {
    const challenge = await observer.command(lockId, { id: observer.nextId(), type: "challenge" });
    const nonce = challenge.nonce!;
    return observer.command(lockId, {
      id: observer.nextId(),
      type: "unlock",
      token,
      nonce,
      proof: proofFor(lockId, nonce, token, device.secretKey),
    });
  }

  it("announces itself online (retained), publishes telemetry, and stays inside its ACL", async () => {
    const lock = await boot("lock-a");
    await observer.waitForStatus("lock-a", "online");
    const t = await observer.waitFor(() => observer.telemetry.find((x) => x.lock === "lock-a"), "telemetry");
    expect(t).toMatchObject({ lock: "lock-a", level: 100, state: "ok", v: 0, dropped: 0 });
    const token = mint(issuer, claimsFor("lock-a", device.publicKey));
    const result = await unlockOverMqtt("lock-a", token);
    expect(result.ok).toBe(true);
    const event = await observer.waitForEvent("lock-a", (e) => e.type === "unlocked");
    expect(event.seq).toBe(1);
    expect(lock.events.map((e) => e.type)).toEqual(["unlocked"]);
    await lock.waitForAcknowledged();
    expect(broker.violations).toEqual([]);
  });

  it("a wrong password is refused with a clear error", async () => {
    await expect(
      startLock({ lockId: "lock-x", dataDir: tmp.make(), mqttUrl: broker.url, mqttPassword: "wrong", clock }),
    ).rejects.toThrow(/lock-x could not connect to mqtt:\/\/127\.0\.0\.1:\d+\/?: .*(Bad username|refused|authori)/i);
  });

  it("keeps an event until its PUBACK, and re-publishes unacknowledged events in seq order after a reconnect", async () => {
    const lock = await boot("lock-b");
    await observer.waitForStatus("lock-b", "online");
    broker.holdAcks = true;
    const bad = new Uint8Array([1, 2, 3]);
    for (let i = 0; i < 3; i++) lock.command(decodeCommand(encodeUnlock(`u${i}`, bad)));
    // aedes handles a client's packets in order: with the first PUBACK withheld, the rest wait behind it
    await until(() => broker.published.some((p) => p.topic.endsWith("lock-b/events")), "an event at the broker");
    expect(lock.unacknowledged).toBe(3);
    broker.holdAcks = false;
    broker.dropClients(); // the parked PUBACKs never come
    await lock.waitForConnected();
    await lock.waitForAcknowledged();
    await observer.waitFor(
      () => (observer.events.filter((e) => e.lock === "lock-b").length >= 3 ? true : undefined),
      "3 events",
    );
    const seqs = observer.events.filter((e) => e.lock === "lock-b").map((e) => e.seq);
    expect(seqs).toEqual([1, 2, 3]);
    expect(lock.events.map((e) => e.code)).toEqual(["malformed", "malformed", "malformed"]);
  });

  it("a network drop: reconnects by itself and the session goes on", async () => {
    const lock = await boot("lock-c");
    await observer.waitForStatus("lock-c", "online");
    lock.dropConnection();
    await lock.waitFor((l) => !l.connected, "the drop");
    await lock.waitForConnected();
    await observer.sync("lock-c", { v: 1, issuers: [], revoked: [], time: T0 });
    await lock.waitForSyncVersion(1);
  });

  it("a broker restart (session lost): the lock reconnects, resubscribes, and replays what was not acknowledged", async () => {
    const lock = await boot("lock-d");
    await observer.waitForStatus("lock-d", "online");
    const port = broker.port;
    await observer.close();
    await broker.close();
    lock.command(decodeCommand(encodeUnlock("gone-1", new Uint8Array([1])))); // while the broker is down
    expect(lock.unacknowledged).toBe(1);
    broker = await startTestBroker({ siteSecret: SITE_SECRET, port });
    observer = await Observer.connect(broker.url);
    await lock.waitForConnected({ timeoutMs: 15_000 });
    await lock.waitForAcknowledged();
    await observer.sync("lock-d", { v: 2, issuers: [], revoked: [], time: T0 });
    await lock.waitForSyncVersion(2); // only reachable if the lock subscribed again
    expect(broker.violations).toEqual([]);
  });
});

function encodeUnlock(id: string, token: Uint8Array): Uint8Array {
  return encodeCommand({ id, type: "unlock", token, proof: new Uint8Array(64), nonce: new Uint8Array(16) });
}
