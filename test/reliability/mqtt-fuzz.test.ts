import { connect as tcpConnect } from "node:net";
import {
  decodeCommand,
  decodeCommandResult,
  decodeEvent,
  decodeStatus,
  decodeSync,
  decodeTelemetry,
  decodeTimeRequest,
  deriveLockPassword,
  encodeStatus,
  isStrongPublicKey,
  toHex,
} from "@latchkey/protocol";
import { pollUntil } from "@latchkey/scripts";
import mqtt from "mqtt";
import { afterAll, describe, expect, inject, it } from "vitest";
import { TestBroker } from "../src/reliability/broker.js";
import { LogSink, Secrets } from "../src/reliability/evidence.js";
import { metricValue, scrape } from "../src/reliability/metrics.js";
import {
  commandPayloads,
  commandResultPayloads,
  eventPayloads,
  sample,
  statusPayloads,
  syncPayloads,
  telemetryPayloads,
  timeRequestPayloads,
} from "../src/reliability/payload-fuzz.js";
import { ReliabilitySite } from "../src/reliability/site.js";
import { Tally } from "../src/reliability/tally.js";
import { Resources } from "../src/resources.js";

/**
 * Malformed and oversized payloads for every MQTT message the bridge and the lock decode, sent through a real broker
 * to the real bridge process and the real lock firmware. Protocol's decoder says what each payload is; the bridge must
 * store exactly the valid ones, drop every other with a log line and a metric, and neither may crash or write half a
 * record.
 */
const tally = new Tally("mqtt-fuzz");
const resources = new Resources();
const logs = new LogSink();
const secrets = new Secrets();
afterAll(async () => {
  expect(secrets.foundIn(logs.text())).toEqual([]);
  tally.publish(inject("reliabilityReport"));
  await resources.cleanup();
});

const FUZZ_LOCK = "fuzz-lock";
const HA = { username: "homeassistant@fuzz", password: "ha-password-0123456789", role: "homeassistant" };

type Verdict = "valid" | "invalid" | "other-lock";
function judge(decode: (b: Uint8Array) => object, payload: Uint8Array): Verdict {
  try {
    const message = decode(payload) as { lock?: unknown };
    return message.lock !== undefined && message.lock !== FUZZ_LOCK ? "other-lock" : "valid";
  } catch {
    return "invalid";
  }
}

describe("fuzzing what the bridge decodes, through its embedded broker", () => {
  it("events, telemetry, status, command results, time requests and Home Assistant status: the valid stored once, the rest dropped and logged", async () => {
    const site = await ReliabilitySite.start(resources, logs, secrets, { seed: "mqtt-fuzz" });
    secrets.add("home assistant password", HA.password);
    const bridge = await site.startBridgeProcess({ mqtt: { accounts: [HA] } });
    await bridge.child.waitForLog("change feed caught up", () => true, { timeoutMs: 60_000 });
    const password = deriveLockPassword(site.siteSecret, FUZZ_LOCK);
    secrets.add("lock mqtt password", password);
    const asLock = (reconnect: boolean) =>
      mqtt.connectAsync(site.mqttUrl, {
        clientId: FUZZ_LOCK,
        username: FUZZ_LOCK,
        password,
        clean: true,
        reconnectPeriod: reconnect ? 100 : 0,
      });
    let lock = await asLock(true);
    const topic = (kind: string) => `latchkey/locks/${FUZZ_LOCK}/${kind}`;
    await lock.publishAsync(topic("status"), Buffer.from(encodeStatus("online")), { qos: 1, retain: true });
    await pollUntil(
      "the fuzz lock assigned",
      async () => (await site.client.listLocks(site.lockHolderId)).locks.some((l) => l.id === FUZZ_LOCK),
      { timeoutMs: 60_000 },
    );
    // Settle what the connection itself made (presence, first telemetry) before counting.
    await pollUntil("the outbox drained", async () => (await health(site)).outbox.items === 0, { timeoutMs: 30_000 });

    const batches: Array<[string, Uint8Array[], (b: Uint8Array) => object]> = [
      ["events", sample(eventPayloads(FUZZ_LOCK), 400, 1), decodeEvent],
      ["telemetry", sample(telemetryPayloads(FUZZ_LOCK), 250, 2), decodeTelemetry],
      ["status", sample(statusPayloads(), 120, 3), (b) => ({ status: decodeStatus(b) })],
      ["cmd/result", sample(commandResultPayloads(), 150, 4), decodeCommandResult],
      // Issue 13: relayed to the cloud when valid (this lock is unclaimed, so the cloud answers 404), else dropped.
      ["time/request", sample(timeRequestPayloads(FUZZ_LOCK), 150, 6), decodeTimeRequest],
    ];
    const sent = { valid: new Map<string, number>(), invalid: 0, otherLock: 0 };
    const validEvents = new Set<string>();
    const validTelemetry = new Set<string>();
    for (const [kind, payloads, decode] of batches) {
      for (const payload of payloads) {
        const verdict = judge(decode, payload);
        tally.input();
        if (verdict === "other-lock") {
          // Refused like an ACL violation: no PUBACK, the connection cut. A throwaway client takes it.
          lock.end(true);
          const rogue = await asLock(false);
          const closed = new Promise<void>((resolve) => rogue.once("close", () => resolve()));
          rogue.publish(topic(kind), Buffer.from(payload), { qos: 1 });
          await closed;
          rogue.end(true);
          lock = await asLock(true);
          sent.otherLock++;
          tally.refuse();
          continue;
        }
        await lock.publishAsync(topic(kind), Buffer.from(payload), { qos: 1 });
        if (verdict === "invalid") {
          sent.invalid++;
          tally.refuse();
        } else {
          sent.valid.set(kind, (sent.valid.get(kind) ?? 0) + 1);
          if (kind === "events") validEvents.add(toHex(decodeEvent(payload).id));
          if (kind === "telemetry") validTelemetry.add(toHex(payload));
        }
      }
    }
    // Home Assistant's status topic, from its own account: anything but "online" is ignored.
    const ha = await mqtt.connectAsync(site.mqttUrl, { ...HA, clientId: "ha-fuzz", reconnectPeriod: 0 });
    for (const payload of sample(statusPayloads(), 60, 5)) {
      await ha.publishAsync("homeassistant/status", Buffer.from(payload), { qos: 1 });
      tally.input();
    }
    await ha.endAsync();
    await lock.endAsync();

    // No crash, every refusal counted and logged.
    expect(bridge.child.running).toBe(true);
    const metrics = await scrape(site.metricsUrl);
    expect(metricValue(metrics, "latchkey_bridge_lock_messages_rejected_total")).toBe(sent.invalid);
    const dropped = logs.records("dropped a lock message that does not decode").length;
    expect(dropped, "one log line per dropped message").toBe(sent.invalid);
    expect(
      logs.records("refused a event naming another lock").length +
        logs.records("refused a telemetry naming another lock").length +
        logs.records("refused a time request naming another lock").length,
    ).toBe(sent.otherLock);
    expect(sent.invalid).toBeGreaterThan(300);
    expect(sent.valid.get("events")).toBeGreaterThan(50);

    // Nothing half-written: the cloud holds each valid event and reading once, or the bridge logged the cloud's refusal.
    await pollUntil("the outbox drained", async () => (await health(site)).outbox.items === 0, { timeoutMs: 60_000 });
    const db = site.cloudDb();
    const events = db.prepare("SELECT id FROM events WHERE lock_id = ?").all(FUZZ_LOCK) as Array<{ id: string }>;
    const refusedByCloud = logs
      .records("the cloud refused an item for good; dropped it from the outbox")
      .filter((r) => r.lockId === FUZZ_LOCK);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(events.every((e) => validEvents.has(e.id))).toBe(true);
    const refusedEvents = refusedByCloud.filter((r) => r.kind === "event").length;
    expect(events.length + refusedEvents).toBe(validEvents.size);
    const telemetry = db.prepare("SELECT COUNT(*) AS n FROM telemetry WHERE lock_id = ?").get(FUZZ_LOCK) as {
      n: number;
    };
    const refusedTelemetry = refusedByCloud.filter((r) => r.kind === "telemetry").length;
    // Telemetry the lock's connection made before the fuzz is in there too (at least one reading).
    expect(telemetry.n + refusedTelemetry).toBeGreaterThanOrEqual(validTelemetry.size);
    expect(telemetry.n + refusedTelemetry).toBeLessThanOrEqual(validTelemetry.size + 2);
    const others = db.prepare("SELECT COUNT(*) AS n FROM events WHERE lock_id <> ?").get(FUZZ_LOCK) as { n: number };
    expect(others.n, "nothing stored for a lock that did not send it").toBe(0);
    tally.note("valid payloads stored", events.length + telemetry.n);
    tally.note("refused by the cloud (logged)", refusedByCloud.length);
  });

  it("garbage and oversized MQTT packets on the raw socket, before and after a login: the broker survives", async () => {
    const site = await ReliabilitySite.start(resources, logs, secrets, { seed: "mqtt-raw" });
    const bridge = await site.startBridgeProcess();
    const port = site.mqttPort;
    const garbage = [
      Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
      Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]),
      Buffer.from([0x30, 0x00]),
      Buffer.from([0xf0, 0x00]),
      Buffer.alloc(4096, 0xff),
      Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05, 0xff, 0x00, 0x3c, 0x00, 0x00]),
    ];
    for (const bytes of garbage) {
      await new Promise<void>((resolve) => {
        const socket = tcpConnect(port, "127.0.0.1", () => socket.end(bytes));
        socket.on("close", () => resolve());
        socket.on("error", () => resolve());
        socket.resume();
      });
      tally.input();
      tally.refuse();
    }
    expect(bridge.child.running).toBe(true);
    expect((await fetch(`${site.metricsUrl}/healthz`)).status).toBe(200);
  });

  it("an unauthenticated client announcing a 200 MB packet is cut off early, not buffered", async () => {
    const site = await ReliabilitySite.start(resources, logs, secrets, { seed: "mqtt-huge" });
    const bridge = await site.startBridgeProcess();
    const before = (await health(site)).memory.rssMb;
    // CONNECT with a remaining length of 200 MB, then its body, as fast as the bridge takes it.
    const announced = 200 * 1024 * 1024;
    const header = Buffer.from([0x10, ...varint(announced)]);
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const written = await new Promise<number>((resolve) => {
      let total = 0;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        socket.destroy();
        resolve(total);
      };
      const socket = tcpConnect(site.mqttPort, "127.0.0.1", () => {
        socket.write(header);
        const pump = () => {
          while (!done && total < announced) {
            total += chunk.length;
            if (!socket.write(chunk)) return void socket.once("drain", pump);
          }
          finish();
        };
        pump();
      });
      socket.on("close", finish);
      socket.on("error", finish);
    });
    tally.input();
    expect(bridge.child.running).toBe(true);
    const after = (await health(site)).memory.rssMb;
    tally.note("bytes a client could push before the cut (MiB)", Math.round(written / 1048576));
    tally.note("bridge RSS growth from a 200 MB packet (MB)", Math.round(after - before));
    expect(written, "the bridge cut the connection long before 200 MB").toBeLessThan(32 * 1024 * 1024);
    tally.refuse();
  });
});

describe("fuzzing what the lock decodes, through a broker where the test speaks as the bridge", () => {
  it("sync and commands: invalid ones refused (logged, or answered invalid_command), valid ones applied; the lock's flash stays whole", async () => {
    const broker = new TestBroker();
    await broker.start();
    resources.defer("stop the test broker", () => broker.stop());
    const site = await ReliabilitySite.start(resources, logs, secrets, { seed: "lock-fuzz" });
    const lock = await site.startLock("fuzz-target", { mqttUrl: broker.url });
    const asBridge = await mqtt.connectAsync(broker.url, { clientId: "fuzz-bridge", reconnectPeriod: 0 });
    resources.defer("close the fuzzing bridge client", () => asBridge.endAsync(true));
    const results: Buffer[] = [];
    asBridge.on("message", (_topic, payload) => results.push(payload));
    await asBridge.subscribeAsync("latchkey/locks/fuzz-target/cmd/result", { qos: 1 });

    const syncs = sample(syncPayloads(), 250, 11);
    let invalidSyncs = 0;
    let highest = lock.syncVersion;
    let trusted: string[] = lock.trustedKids;
    for (const payload of syncs) {
      let v: number | undefined;
      let kids: string[] = [];
      try {
        const sync = decodeSync(payload);
        v = sync.v;
        kids = sync.issuers.filter((i) => isStrongPublicKey(i.x)).map((i) => toHex(i.kid));
      } catch {
        invalidSyncs++;
        tally.refuse();
      }
      await asBridge.publishAsync("latchkey/locks/fuzz-target/sync", Buffer.from(payload), { qos: 1 });
      tally.input();
      if (v !== undefined && v > highest) {
        highest = v;
        trusted = [...new Set(kids)].sort();
      }
    }
    await lock.waitForSyncVersion(highest, { timeoutMs: 30_000 });
    await pollUntil("every refused sync logged", () => logs.records("sync message refused").length >= invalidSyncs, {
      timeoutMs: 30_000,
    });
    expect(logs.records("sync message refused").length).toBe(invalidSyncs);
    expect(lock.syncVersion).toBe(highest);
    expect([...lock.trustedKids].sort()).toEqual(trusted);

    const commands = sample(commandPayloads(), 250, 12);
    let invalidCommands = 0;
    for (const payload of commands) {
      try {
        const command = decodeCommand(payload);
        // A sync command carries a sync message of its own, which the firmware decodes in turn.
        if (command.type === "sync") {
          const sync = decodeSync(command.sync ?? new Uint8Array());
          if (sync.v > highest) {
            highest = sync.v;
            trusted = [...new Set(sync.issuers.filter((i) => isStrongPublicKey(i.x)).map((i) => toHex(i.kid)))].sort();
          }
        }
      } catch {
        invalidCommands++;
        tally.refuse();
      }
      await asBridge.publishAsync("latchkey/locks/fuzz-target/cmd", Buffer.from(payload), { qos: 1 });
      tally.input();
    }
    await pollUntil("a result for every command", () => results.length >= commands.length, { timeoutMs: 30_000 });
    const answered = results.map((r) => decodeCommandResult(r));
    expect(answered.length).toBe(commands.length);
    expect(answered.filter((r) => r.code === "invalid_command").length).toBe(invalidCommands);
    expect(answered.filter((r) => r.code === "invalid_command").every((r) => !r.ok)).toBe(true);

    // The flash holds what memory says: a restart comes back with the same version, keys and event numbering.
    const lastSeq = lock.events.at(-1)?.seq ?? 0;
    await lock.stop();
    site.locks.splice(site.locks.indexOf(lock), 1);
    const again = await site.startLock("fuzz-target", { mqttUrl: broker.url });
    expect(again.syncVersion).toBe(highest);
    expect([...again.trustedKids].sort()).toEqual(trusted);
    again.command({ id: "after", type: "lock" });
    const next = again.events.at(-1)?.seq;
    if (next !== undefined) expect(next).toBeGreaterThan(lastSeq);
    tally.note("lock: syncs refused", invalidSyncs);
    tally.note("lock: commands refused", invalidCommands);
  });
});

async function health(site: ReliabilitySite): Promise<{ outbox: { items: number }; memory: { rssMb: number } }> {
  return (await fetch(`${site.metricsUrl}/healthz`)).json() as Promise<{
    outbox: { items: number };
    memory: { rssMb: number };
  }>;
}

/** MQTT's variable-length remaining-length encoding. */
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}
