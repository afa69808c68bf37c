import {
  deriveLockPassword,
  encodeCommandResult,
  encodeTimeRequest,
  keyPairFromSeed,
  sealReport,
  signLockState,
  signTimeAnswer,
  toHex,
} from "@latchkey/protocol";
import mqtt from "mqtt";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import { siteChanges, startTestBridge } from "./helpers/bridge.js";
import { CLOUD_REPORT_KEY, lockReportKey, SITE_SECRET, sealedEvent, tempDir } from "./helpers/fixtures.js";
import { MqttLock } from "./helpers/mqtt-lock.js";
import { TestCloud } from "./helpers/test-cloud.js";
import { waitFor } from "./helpers/wait.js";

/**
 * Against a real external broker (e.g. `mosquitto -p 1883` allowing these logins): runs only when MQTT_URL is set.
 * Each test uses its own topic prefix, so a shared broker's retained messages and sessions do not interfere.
 */
const MQTT_URL = process.env.MQTT_URL;
const suite = MQTT_URL ? describe : describe.skip;
if (!MQTT_URL)
  console.warn(
    "bridge/test/external.test.ts skipped: set MQTT_URL (e.g. mqtt://127.0.0.1:1883) to run it against Mosquitto",
  );

suite("external broker (MQTT_URL)", () => {
  let cloud: TestCloud;
  let dir: ReturnType<typeof tempDir>;
  let bridge: RunningBridge | null = null;
  const locks: MqttLock[] = [];
  let prefix = "";

  beforeEach(async () => {
    // Fresh names per test: a shared broker keeps sessions and retained messages between runs.
    const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
    prefix = `lkt-${run}`;
    cloud = new TestCloud(`br-${run}`);
    await cloud.start();
    dir = tempDir();
  });
  afterEach(async () => {
    for (const l of locks.splice(0)) await l.close().catch(() => {});
    await bridge?.stop();
    bridge = null;
    await cloud.stop();
    dir.remove();
  });

  const start = () =>
    startTestBridge(cloud, dir.path, {
      topicPrefix: prefix,
      mqtt: { siteSecret: SITE_SECRET, url: MQTT_URL, username: "latchkey-bridge", password: "bridge-password" },
      cloud: { url: cloud.url, bridgeId: cloud.bridgeId, secret: cloud.secret },
    });
  const lock = async (id: string) => {
    const l = new MqttLock(id, MQTT_URL!, { prefix });
    locks.push(l);
    await l.connect();
    return l;
  };

  it("carries sealed reports through the broker, with the keys the lock left retained there", async () => {
    siteChanges(cloud, ["ext-lock-1"]);
    // The lock's keys are retained at the broker before the bridge ever runs: its subscription is shown them.
    const early = await lock("ext-lock-1");
    await early.close();
    locks.length = 0;
    ({ bridge } = await start());
    expect(bridge.mqttUrl).toBe(MQTT_URL);
    await bridge.ready;
    await waitFor("the retained keys taken", () => (bridge!.health().locks as { keys: number }).keys === 1, {
      timeoutMs: 20_000,
    });
    const a = await lock("ext-lock-1");
    for (let i = 1; i <= 20; i++) await a.event({ seq: i });
    await waitFor("events in the cloud", () => cloud.events.size === 20);
    expect(cloud.reportItems.map((i) => toHex(i.report))).toEqual(a.sent.map(toHex));
    expect(cloud.reportItems.every((i) => i.keys !== undefined)).toBe(true);
  });

  it("gets messages published while the bridge was away (persistent session)", async () => {
    siteChanges(cloud, ["ext-lock-2"]);
    ({ bridge } = await start());
    await bridge.ready;
    await bridge.stop();
    bridge = null;
    const a = await lock("ext-lock-2");
    for (let i = 1; i <= 15; i++) await a.event({ seq: i });
    ({ bridge } = await start());
    await waitFor("queued events delivered", () => cloud.events.size === 15, { timeoutMs: 20_000 });
  });

  it("carries a lock's signed state (retained) and its time answers through the broker (issue 13)", async () => {
    siteChanges(cloud, ["ext-lock-6"]);
    const lockId = "ext-lock-6";
    const authority = keyPairFromSeed(new Uint8Array(32).fill(4));
    const reportKey = { id: new Uint8Array(8).fill(1), x: new Uint8Array(32).fill(2) };
    const state = signLockState(
      { lock: lockId, v: 1_800_000_000_000, iat: 1_800_000_000, issuers: [], revoked: [], ack: 0, reportKey },
      { secretKey: authority.secretKey },
    );
    cloud.states.set(lockId, { v: 1_800_000_000_000, iat: 1_800_000_000, state });
    cloud.timeAnswerer = (id, request) =>
      signTimeAnswer({ lock: id, nonce: request.slice(-16), time: 1_800_000_001_000 }, authority.secretKey);
    ({ bridge } = await start());
    await bridge.ready;
    // The lock reporting "online" stands for its connection on an external broker: its document is fetched then.
    await lock(lockId);
    const listener = await mqtt.connectAsync(MQTT_URL!, {
      clientId: `${prefix}-listener`,
      username: lockId,
      password: deriveLockPassword(SITE_SECRET, lockId),
      reconnectPeriod: 0,
    });
    const heard: Array<{ topic: string; payload: Buffer; retain: boolean }> = [];
    listener.on("message", (topic, payload, packet) => heard.push({ topic, payload, retain: packet.retain }));
    await listener.subscribeAsync([`${prefix}/locks/${lockId}/state`, `${prefix}/locks/${lockId}/time/answer`], {
      qos: 1,
    });
    const got = await waitFor("the state", () => heard.find((m) => m.topic.endsWith("/state")), { timeoutMs: 20_000 });
    expect(new Uint8Array(got.payload)).toEqual(state);
    const request = encodeTimeRequest({ lock: lockId, nonce: new Uint8Array(16).fill(6) });
    await listener.publishAsync(`${prefix}/locks/${lockId}/time/request`, Buffer.from(request), { qos: 1 });
    await waitFor("the time answer", () => heard.find((m) => m.topic.endsWith("/time/answer")), { timeoutMs: 20_000 });
    expect(cloud.timeRequests.map((r) => Buffer.from(r.request).toString("hex"))).toEqual([
      Buffer.from(request).toString("hex"),
    ]);
    await listener.endAsync();
    // Retained at the broker: a later subscriber is shown the document at once.
    const later = await mqtt.connectAsync(MQTT_URL!, {
      clientId: `${prefix}-later`,
      username: lockId,
      password: deriveLockPassword(SITE_SECRET, lockId),
      reconnectPeriod: 0,
    });
    const shown: Array<{ payload: Buffer; retain: boolean }> = [];
    later.on("message", (_topic, payload, packet) => shown.push({ payload, retain: packet.retain }));
    await later.subscribeAsync(`${prefix}/locks/${lockId}/state`, { qos: 1 });
    const retained = await waitFor("the retained state", () => shown[0]);
    expect(retained.retain).toBe(true);
    expect(new Uint8Array(retained.payload)).toEqual(state);
    await later.endAsync();
  });

  it("drops, without looping, a payload that names another lock than its topic", async () => {
    siteChanges(cloud, ["ext-lock-3", "ext-lock-4"]);
    ({ bridge } = await start());
    await bridge.ready;
    const rogue = await mqtt.connectAsync(MQTT_URL!, {
      clientId: `${prefix}-rogue`,
      username: "ext-lock-3",
      password: deriveLockPassword(SITE_SECRET, "ext-lock-3"),
      reconnectPeriod: 0,
    });
    // ext-lock-4's report on ext-lock-3's topic, and bytes that are no report: both acknowledged and dropped.
    const forged = sealedEvent("ext-lock-4", 1);
    await rogue.publishAsync(`${prefix}/locks/ext-lock-3/events`, Buffer.from(forged), { qos: 1 });
    await rogue.publishAsync(`${prefix}/locks/ext-lock-3/telemetry`, Buffer.from("not a report"), { qos: 1 });
    await rogue.endAsync();
    const a = await lock("ext-lock-3");
    await a.event({ seq: 1 });
    await waitFor("the honest event arrives", () => cloud.events.size === 1);
    expect(cloud.reportItems.map((i) => toHex(i.report))).toEqual([toHex(a.sent[0]!)]);
  });

  it("review 12.12: ignores and clears what a lock retained on its events, telemetry and cmd/result", async () => {
    siteChanges(cloud, ["ext-lock-5"]);
    const lockId = "ext-lock-5";
    const rogue = await mqtt.connectAsync(MQTT_URL!, {
      clientId: `${prefix}-retainer`,
      username: lockId,
      password: deriveLockPassword(SITE_SECRET, lockId),
      reconnectPeriod: 0,
    });
    const to = (kind: string) => `${prefix}/locks/${lockId}/${kind}`;
    const planted = new Uint8Array(16).fill(0xcd);
    const seal = (body: Parameters<typeof sealReport>[0]) => sealReport(body);
    const key = lockReportKey(lockId);
    const event = seal({
      kind: "event",
      event: { id: planted, lock: lockId, seq: 7, ts: 1_800_000_007, type: "unlocked" },
      key,
      cloudKeyId: CLOUD_REPORT_KEY.id,
      ctr: 70,
    });
    const reading = seal({
      kind: "telemetry",
      telemetry: { lock: lockId, ts: 1_800_000_007, level: 7, mv: 2007, state: "ok" },
      key,
      cloudKeyId: CLOUD_REPORT_KEY.id,
      ctr: 71,
    });
    const result = encodeCommandResult({ id: "planted", ok: true, state: "unlocked" });
    // Retained before the bridge ever subscribed: the broker shows them to it, flagged retained, at its subscription.
    for (const [kind, payload] of [
      ["events", event],
      ["telemetry", reading],
      ["cmd/result", result],
    ] as const)
      await rogue.publishAsync(to(kind), Buffer.from(payload), { qos: 1, retain: true });
    await rogue.endAsync();

    let log: Awaited<ReturnType<typeof start>>["log"];
    ({ bridge, log } = await start());
    await bridge.ready;
    const cleared = () =>
      log.lines.filter((l) => l.msg === "ignored and cleared a retained message a lock left on its own topic");
    await waitFor("the three retained messages cleared", () => cleared().length === 3, { timeoutMs: 20_000 });
    expect(cleared().map((l) => l.kind)).toEqual(expect.arrayContaining(["events", "telemetry", "cmd/result"]));
    const metrics = await (await fetch(`${bridge.metricsUrl}/metrics`)).text();
    for (const kind of ["events", "telemetry", "cmd/result"])
      expect(metrics).toContain(`latchkey_bridge_mqtt_retained_cleared_total{kind="${kind}"} 1`);
    // Nothing is left for the next subscriber, and nothing of it was taken as new.
    await waitFor(
      "the broker holds no retained message there",
      async () => (await retainedUnder(lockId)).length === 0,
      {
        timeoutMs: 20_000,
      },
    );
    // An honest event after it still arrives, once.
    const a = await lock(lockId);
    await a.event({ seq: 8 });
    await waitFor("the honest event arrives", () => cloud.events.size === 1);
    // Retained while the bridge is subscribed: MQTT 3.1.1 delivers it unflagged, so it is taken once, as the live
    // message it is; the copy the broker kept is shown (flagged) at the bridge's next SUBSCRIBE, which it sends again
    // after every reconnect. A client taking the bridge's client id forces one.
    await a.client.publishAsync(to("events"), Buffer.from(a.sealEvent({ seq: 9, type: "locked" })), {
      qos: 1,
      retain: true,
    });
    await waitFor("the live copy arrives", () => cloud.events.size === 2);
    const intruder = await mqtt.connectAsync(MQTT_URL!, {
      clientId: `latchkey-bridge-${cloud.bridgeId}`,
      username: "latchkey-bridge",
      password: "bridge-password",
      reconnectPeriod: 0,
      // Keeps the session: the bridge comes back to it with session present, where mqtt.js subscribes nothing again.
      clean: false,
    });
    await intruder.endAsync(true);
    await waitFor("the fourth retained message cleared after the reconnect", () => cleared().length === 4, {
      timeoutMs: 20_000,
    });
    await waitFor("nothing retained", async () => (await retainedUnder(lockId)).length === 0, { timeoutMs: 20_000 });
    expect(cloud.events.size).toBe(2);
    await bridge.stop();
    bridge = null;
    expect([...cloud.events.keys()]).not.toContain(toHex(planted));
    expect(cloud.telemetry.filter((t) => t.level === 7)).toEqual([]);
  });

  /** The retained messages a fresh subscriber is shown on a lock's events, telemetry and cmd/result. */
  async function retainedUnder(lockId: string): Promise<string[]> {
    const observer = await mqtt.connectAsync(MQTT_URL!, { clientId: `${prefix}-observer`, reconnectPeriod: 0 });
    try {
      const seen: string[] = [];
      const marker = `${prefix}/observer/marker`;
      let done = false;
      observer.on("message", (topic, _payload, packet) => {
        if (topic === marker) done = true;
        else if (packet.retain) seen.push(topic);
      });
      const kinds = ["events", "telemetry", "cmd/result"].map((k) => `${prefix}/locks/${lockId}/${k}`);
      await observer.subscribeAsync([...kinds, marker], { qos: 1 });
      // The broker sends retained messages right after the SUBACK: the marker published after it comes behind them.
      await observer.publishAsync(marker, "m", { qos: 1 });
      await waitFor("the marker", () => done);
      return seen;
    } finally {
      await observer.endAsync(true);
    }
  }
});
