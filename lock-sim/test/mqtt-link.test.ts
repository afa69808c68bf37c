import { decodeCommand, encodeCommand, ManualClock, toHex } from "@latchkey/protocol";
import { pollUntil } from "@latchkey/runtime";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type SimLock, seededRandom, startLock } from "../src/index.js";
import { startTestBroker, type TestBroker } from "./helpers/broker.js";
import { TestCloud } from "./helpers/cloud.js";
import { claimsFor, makeDevice, makeIssuer, mint, proofFor, T0 } from "./helpers/keys.js";
import { Observer } from "./helpers/observer.js";
import { TempDirs } from "./helpers/tmp.js";

/**
 * The lock's MQTT session on the signed path (docs/trust.md "Lock"): sealed reports, its keys, and the rule that only
 * the signed `ack` frees an event: a PUBACK frees nothing, and whatever is still above the ack goes again under a new
 * counter at each reconnect and `resendSeconds` after its PUBACK.
 */
const SITE_SECRET = "site-secret-for-tests-0123456789";
const issuer = makeIssuer("mqtt");
const device = makeDevice("mqtt");

describe("MQTT link", () => {
  const tmp = new TempDirs();
  let broker: TestBroker;
  let observer: Observer;
  let cloud: TestCloud;
  const locks: SimLock[] = [];
  let clock: ManualClock;

  beforeEach(async () => {
    broker = await startTestBroker({ siteSecret: SITE_SECRET });
    clock = new ManualClock(T0 * 1000);
    cloud = new TestCloud(clock, issuer);
    observer = (await Observer.connect(broker.url)).relay(cloud);
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
      tickIntervalMs: 0,
      ...extra,
    });
    locks.push(lock);
    return lock;
  }

  /** A lock with its state and signed time, given straight at it. */
  async function provisioned(lockId: string, extra: Partial<Parameters<typeof startLock>[0]> = {}) {
    const lock = await boot(lockId, tmp.make(), extra);
    cloud.provision(lock);
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

  const junk = (lock: SimLock, id: string) => lock.command(decodeCommand(encodeUnlock(id, new Uint8Array([1]))));
  const eventReports = (lockId: string) => observer.reports.filter((r) => r.lock === lockId && r.kind === "event");

  it("announces itself online and its keys (both retained), reports sealed, and stays inside its ACL", async () => {
    const lock = await provisioned("lock-a");
    await observer.waitForStatus("lock-a", "online");
    const retained = broker.published.filter((p) => p.retain).map((p) => p.topic.split("/").pop());
    expect(retained).toEqual(["status", "keys"]);
    const t = await observer.waitFor(() => cloud.telemetry("lock-a")[0], "telemetry at the cloud");
    expect(t).toMatchObject({ lock: "lock-a", level: 100, state: "ok", v: lock.stateV, dropped: 0 });
    const token = mint(issuer, claimsFor("lock-a", device.publicKey));
    expect((await unlockOverMqtt("lock-a", token)).ok).toBe(true);
    await observer.waitFor(() => cloud.events("lock-a").find((e) => e.type === "unlocked"), "the unlock at the cloud");
    expect(cloud.events("lock-a").map((e) => [e.seq, e.type])).toEqual([
      [1, "state_applied"],
      [2, "clock_set"],
      [3, "unlocked"],
    ]);
    // One counter across events and telemetry, each sealed once and accepted in order.
    const counters = observer.reports.filter((r) => r.lock === "lock-a").map((r) => r.ctr);
    expect(counters).toEqual([...counters].sort((a, b) => a - b));
    expect(new Set(counters).size).toBe(counters.length);
    expect(cloud.verdicts.map((v) => v.verdict)).toEqual(counters.map(() => "ok"));
    expect(broker.violations).toEqual([]);
  });

  it("a wrong password is refused with a clear error", async () => {
    await expect(
      startLock({ lockId: "lock-x", dataDir: tmp.make(), mqttUrl: broker.url, mqttPassword: "wrong", clock }),
    ).rejects.toThrow(/lock-x could not connect to mqtt:\/\/127\.0\.0\.1:\d+\/?: .*(Bad username|refused|authori)/i);
  });

  it("without a state it seals nothing: events wait in the ring, then go out once a state names the report key", async () => {
    const lock = await boot("lock-w");
    await observer.waitForStatus("lock-w", "online");
    junk(lock, "w1");
    junk(lock, "w2");
    lock.tick();
    expect(lock.undelivered).toBe(2);
    cloud.enroll(lock);
    await observer.publishState("lock-w", cloud.state("lock-w"));
    await lock.waitForDelivered();
    await observer.waitFor(() => (cloud.events("lock-w").length === 3 ? true : undefined), "three events");
    expect(cloud.events("lock-w").map((e) => [e.seq, e.type, e.code])).toEqual([
      [1, "denied", "no_state"],
      [2, "denied", "no_state"],
      [3, "state_applied", undefined],
    ]);
  });

  it("a PUBACK frees nothing: events stay until a signed state's ack, and only up to it", async () => {
    const lock = await provisioned("lock-b");
    for (let i = 0; i < 3; i++) junk(lock, `u${i}`);
    await lock.waitForDelivered();
    await observer.waitFor(() => (cloud.ack("lock-b") === 5 ? true : undefined), "the cloud to store seqs 1–5");
    expect(lock.unacknowledged).toBe(5);
    // A state whose ack stops at 3 frees 1–3 and nothing more.
    await observer.publishState("lock-b", cloud.state("lock-b", { ack: 3 }));
    await lock.waitFor((l) => l.unacknowledged === 3, "1–3 freed: 4, 5 and the new state_applied stay");
    await observer.publishState("lock-b", cloud.state("lock-b"));
    await lock.waitFor((l) => l.unacknowledged === 2, "4–6 freed");
  });

  it("after a reconnect every event above the ack goes again under a new counter, and the cloud takes it", async () => {
    const lock = await provisioned("lock-c");
    await observer.waitFor(() => (cloud.ack("lock-c") === 2 ? true : undefined), "the first events stored");
    broker.holdAcks = true;
    for (let i = 0; i < 3; i++) junk(lock, `h${i}`);
    await pollUntil(
      "held events",
      () => broker.published.filter((p) => p.topic.endsWith("lock-c/events")).length >= 3,
      { intervalMs: 5 },
    );
    const before = broker.published.filter((p) => p.topic.endsWith("lock-c/events")).length;
    expect(lock.undelivered).toBe(3);
    broker.holdAcks = false;
    broker.dropClients(); // the parked PUBACKs never come
    await lock.waitForConnected();
    await lock.waitForDelivered();
    await observer.waitFor(() => (cloud.ack("lock-c") === 5 ? true : undefined), "seqs 3–5 at the cloud");
    // Every event in the ring went again, each under a counter it never had; none was refused as a replay. (3–5
    // also went under their old counters: mqtt.js re-sends what it held in flight, before anything new.)
    const counters = (seq: number) =>
      eventReports("lock-c")
        .filter((r) => r.seq === seq)
        .map((r) => r.ctr);
    await observer.waitFor(
      () => ([1, 2].every((seq) => counters(seq).length === 2) ? true : undefined),
      "seqs 1 and 2 again",
    );
    expect(broker.published.filter((p) => p.topic.endsWith("lock-c/events")).length - before).toBeGreaterThanOrEqual(5);
    const newest = Math.max(...[3, 4, 5].flatMap(counters));
    for (const seq of [1, 2]) expect(counters(seq)[1]).toBeGreaterThan(counters(seq)[0]!);
    for (const seq of [3, 4, 5]) expect(Math.max(...counters(seq))).toBe(newest - 5 + seq);
    expect(cloud.verdicts.filter((v) => v.lockId === "lock-c").map((v) => v.verdict)).not.toContain("replayed");
    expect(cloud.events("lock-c").map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(lock.unacknowledged).toBe(5);
  });

  it("an event PUBACKed but still above the ack resendSeconds later is sealed again and re-published", async () => {
    const lock = await provisioned("lock-r", { resendSeconds: 60 });
    await lock.waitForDelivered();
    const counters = () => eventReports("lock-r").map((r) => r.ctr);
    const first = await observer.waitFor(() => (counters().length === 2 ? counters() : undefined), "two events");
    clock.advance(59_000);
    lock.tick();
    expect(lock.undelivered).toBe(0);
    clock.advance(1000);
    lock.tick();
    const again = await observer.waitFor(() => (counters().length === 4 ? counters() : undefined), "the re-send");
    expect(again.slice(2).every((ctr) => ctr > Math.max(...first))).toBe(true);
    await lock.waitForDelivered();
    // Once acknowledged, nothing more goes.
    await observer.publishState("lock-r", cloud.state("lock-r"));
    await lock.waitFor((l) => l.unacknowledged === 1, "the ack");
    await observer.waitFor(() => (counters().length === 5 ? true : undefined), "the new state_applied");
    await lock.waitForDelivered();
    clock.advance(61_000);
    lock.tick();
    // Only the state_applied of that ack is still in the ring, so only it goes again.
    await observer.waitFor(() => (counters().length === 6 ? true : undefined), "its re-send");
    expect(eventReports("lock-r").map((r) => r.seq)).toEqual([1, 2, 1, 2, 3, 3]);
  });

  it("a network drop: reconnects by itself, the session goes on, and a new state still reaches it", async () => {
    const lock = await provisioned("lock-d");
    await observer.waitForStatus("lock-d", "online");
    lock.dropConnection();
    await lock.waitFor((l) => !l.connected, "the drop");
    await lock.waitForConnected();
    const v = lock.stateV;
    await observer.publishState("lock-d", cloud.state("lock-d"));
    await lock.waitForState(v + 1);
  });

  it("a broker restart (session lost): the lock reconnects, resubscribes, and sends what the cloud has not acknowledged", async () => {
    const lock = await provisioned("lock-e");
    await observer.waitForStatus("lock-e", "online");
    await observer.waitFor(() => (cloud.ack("lock-e") === 2 ? true : undefined), "the first events stored");
    const port = broker.port;
    await observer.close();
    await broker.close();
    junk(lock, "gone-1"); // while the broker is down
    broker = await startTestBroker({ siteSecret: SITE_SECRET, port });
    observer = (await Observer.connect(broker.url)).relay(cloud);
    await lock.waitForConnected({ timeoutMs: 15_000 });
    await lock.waitForDelivered();
    await observer.waitFor(() => (cloud.ack("lock-e") === 3 ? true : undefined), "the event made offline");
    await observer.publishState("lock-e", cloud.state("lock-e"));
    await lock.waitFor((l) => l.unacknowledged === 1, "only reachable if the lock subscribed again");
    expect(broker.violations).toEqual([]);
    // Its keys, published again (retained) on the new broker.
    const keys = await observer.waitFor(() => observer.keys.get("lock-e"), "the keys on the new broker");
    expect(toHex(keys.message.identity)).toBe(toHex(lock.publicKeys.identityKey));
  });
});

function encodeUnlock(id: string, token: Uint8Array): Uint8Array {
  return encodeCommand({ id, type: "unlock", token, proof: new Uint8Array(64), nonce: new Uint8Array(16) });
}
