import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { deriveLockPassword, encodeLockKeys, encodeStatus } from "@latchkey/protocol";
import mqtt from "mqtt";
import { describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import { granted, HA_PASSWORD, HA_USER } from "./helpers/bridge.js";
import { lockKeyMaterial, SITE_SECRET, sealedEvent } from "./helpers/fixtures.js";
import type { MqttLock } from "./helpers/mqtt-lock.js";
import { bridgeSiteEach } from "./helpers/site-each.js";
import { waitFor } from "./helpers/wait.js";

const pick = (m: ReturnType<typeof lockKeyMaterial>) => ({ identity: m.identity, x25519: m.x25519 });

describe("embedded broker", () => {
  const site = bridgeSiteEach();
  let bridge: RunningBridge | null = null;

  const lock = site.lock;

  it("logs a lock in with its derived password and refuses wrong passwords, client ids and users", async () => {
    ({ bridge } = await site.start());
    await lock("lock-a");
    const refused = async (options: mqtt.IClientOptions) => {
      const error = await mqtt
        .connectAsync(bridge!.mqttUrl, { reconnectPeriod: 0, protocolVersion: 4, ...options })
        .then((c) => c.endAsync(true).then(() => null))
        .catch((e: Error) => e);
      expect(error?.message).toMatch(/Bad username or password/i);
    };
    await refused({ clientId: "lock-b", username: "lock-b", password: deriveLockPassword(SITE_SECRET, "lock-a") });
    await refused({ clientId: "lock-b", username: "lock-b", password: "nope" });
    // A lock's valid credentials under another client id could take over that client's persistent session.
    await refused({ clientId: "lock-c", username: "lock-b", password: deriveLockPassword(SITE_SECRET, "lock-b") });
    await refused({ clientId: "x", username: "stranger@site", password: "whatever-password" });
    await refused({ clientId: "anon" });
    await refused({ clientId: "lock-a", username: HA_USER, password: HA_PASSWORD });
    const text = await (await fetch(`${bridge.metricsUrl}/metrics`)).text();
    expect(text).toMatch(/latchkey_bridge_mqtt_auth_failures_total 6/);
  });

  // A reconnect storm: a lock gave up waiting for its CONNACK and dialled again, and the connection it abandoned was
  // still in the bridge's accept queue, its CONNECT and its close behind it. Set up, it took over the lock's live
  // session and published the lock's will as it closed.
  it("sets up no session for a connection its lock closed before the CONNACK, and keeps the lock's live one", async () => {
    ({ bridge } = await site.start());
    const a = await lock("lock-a");
    await waitFor("presence stored", () => bridge!.outbox().items >= 1);
    const before = bridge.outbox().items;
    let taken = false;
    a.client.once("close", () => {
      taken = true;
    });
    // The lock: mqtt.js's own packet encoder, a raw socket that sends its CONNECT and closes.
    const packets = createRequire(createRequire(import.meta.url).resolve("mqtt")).resolve("mqtt-packet");
    const connect = {
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: 4,
      clean: false,
      clientId: "lock-a",
      keepalive: 60,
      username: "lock-a",
      password: deriveLockPassword(SITE_SECRET, "lock-a"),
      will: { topic: "latchkey/locks/lock-a/status", payload: "offline", qos: 1, retain: true },
    };
    const { port } = new URL(bridge.mqttUrl);
    const script = `const { generate } = require(${JSON.stringify(packets)});
      const connect = ${JSON.stringify(connect)};
      connect.password = Buffer.from(connect.password); connect.will.payload = Buffer.from(connect.will.payload);
      const s = require("node:net").connect(${port}, "127.0.0.1", () => s.end(generate(connect), () => process.exit(0)));`;
    // Synchronous: this process (the bridge's) accepts nothing until that lock has sent its CONNECT and exited, so
    // the connection waits in the kernel's queue with both, as in a storm.
    execFileSync(process.execPath, ["-e", script], { stdio: "ignore", timeout: 10_000 });
    const abandoned = async () =>
      /latchkey_bridge_mqtt_connects_abandoned_total 1\b/.test(
        await (await fetch(`${bridge!.metricsUrl}/metrics`)).text(),
      );
    await waitFor("the abandoned connect handled", async () => taken || (await abandoned()));
    expect(taken, "the abandoned connection took over the lock's session").toBe(false);
    expect(a.client.connected).toBe(true);
    expect(bridge.outbox().items, "no will of the abandoned connection stored").toBe(before);
    // The live connection still carries the lock's reports.
    await a.event();
    await waitFor("event stored", () => bridge!.outbox().items === before + 1);
  });

  it("disconnects a lock that publishes under another lock's topic, and stores nothing of it", async () => {
    ({ bridge } = await site.start());
    const a = await lock("lock-a");
    await lock("lock-b");
    await waitFor("presence stored", () => bridge!.outbox().items >= 2);
    const before = bridge.outbox().items;
    const closed = new Promise<void>((resolve) => a.client.once("close", () => resolve()));
    a.client.publish("latchkey/locks/lock-b/events", Buffer.from(sealedEvent("lock-b", 1)), { qos: 1 });
    await closed;
    // Its will ("offline") is its own status: that one is stored; the forged event is not.
    await waitFor("will stored", () => bridge!.outbox().items === before + 1);
    const text = await (await fetch(`${bridge.metricsUrl}/metrics`)).text();
    expect(text).toMatch(/latchkey_bridge_mqtt_acl_denied_total\{action="publish"\} 1/);
  });

  /** Publishes as `lock` and waits for the broker to throw it out (no PUBACK); answers the outbox size after. */
  const refused = async (l: MqttLock, topic: string, payload: Uint8Array | string, retain = false) => {
    const closed = new Promise<void>((resolve) => l.client.once("close", () => resolve()));
    l.client.publish(topic, Buffer.from(payload), { qos: 1, retain });
    await closed;
  };

  it("refuses a lock's report naming another lock, and bytes that are no sealed report", async () => {
    ({ bridge } = await site.start());
    const a = await lock("lock-a");
    await waitFor("presence stored", () => bridge!.outbox().items >= 1);
    const before = bridge.outbox().items;
    // lock-b's report (as a courier might replay it) on lock-a's own topic.
    await refused(a, "latchkey/locks/lock-a/events", sealedEvent("lock-b", 1));
    // Not a report at all: an unsealed payload, or garbage.
    const b = await lock("lock-b");
    await refused(b, "latchkey/locks/lock-b/telemetry", "x");
    // Only the wills (their own status) reached the outbox.
    await waitFor("the wills stored", () => bridge!.outbox().items === before + 3);
    const metrics = await (await fetch(`${bridge.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/latchkey_bridge_mqtt_acl_denied_total\{action="publish"\} 1/);
    expect(metrics).toMatch(/latchkey_bridge_lock_messages_rejected_total\{reason="not_a_report"\} 1/);
  });

  it("refuses retained events, another lock's keys, keys naming another lock, and subscriptions beyond its own", async () => {
    ({ bridge } = await site.start());
    const a = await lock("lock-a");
    expect(
      await granted(a.client, [
        "latchkey/locks/lock-a/sync",
        "latchkey/locks/lock-b/state",
        "latchkey/locks/lock-b/keys",
        "latchkey/locks/+/events",
        "#",
      ]),
    ).toEqual([128, 128, 128, 128, 128]);
    expect(await granted(a.client, ["latchkey/locks/lock-a/cmd", "latchkey/locks/lock-a/state"])).toEqual([1, 1]);
    await refused(a, "latchkey/locks/lock-a/events", sealedEvent("lock-a", 1), true);
    // Another lock's keys, on its topic: the ACL; and on its own topic: the payload names another lock.
    const keysOfB = encodeLockKeys({ lock: "lock-b", ...pick(lockKeyMaterial("lock-a")) });
    await refused(await lock("lock-a"), "latchkey/locks/lock-b/keys", keysOfB, true);
    await refused(await lock("lock-a"), "latchkey/locks/lock-a/keys", keysOfB, true);
    // No `sync` topic any more: a lock may not publish one.
    await refused(await lock("lock-a"), "latchkey/locks/lock-a/sync", "v");
    // lock-b's keys are what lock-b itself published, untouched by lock-a's attempts.
    await lock("lock-b");
    await waitFor("keys known", () => (bridge!.health().locks as { keys: number }).keys === 2);
    const health = bridge.health().locks as { keys: number };
    expect(health.keys).toBe(2);
  });

  it("answers PUBACK only once the message is in the outbox", async () => {
    ({ bridge } = await site.start());
    const a = await lock("lock-a");
    await waitFor("presence stored", () => bridge!.outbox().items >= 1);
    const base = bridge.outbox().items;
    for (let i = 1; i <= 20; i++) {
      await a.event({ seq: i });
      expect(bridge.outbox().items).toBe(base + i);
    }
  });

  it("refuses a message when the outbox is full: no PUBACK, the lock keeps it", async () => {
    ({ bridge } = await site.start({ outbox: { maxItems: 3 } }));
    const a = await lock("lock-a");
    await waitFor("presence stored", () => bridge!.outbox().items >= 1);
    await a.event({ seq: 1 });
    await a.event({ seq: 2 });
    expect(bridge.outbox().items).toBe(3);
    let acknowledged = false;
    const closed = new Promise<void>((resolve) => a.client.once("close", () => resolve()));
    void a.event({ seq: 3 }).then(() => {
      acknowledged = true;
    });
    await closed;
    expect(acknowledged).toBe(false);
    expect(bridge.outbox().items).toBe(3);
    const text = await (await fetch(`${bridge.metricsUrl}/metrics`)).text();
    expect(text).toMatch(/latchkey_bridge_outbox_refused_total 1/);
    expect(text).toMatch(/latchkey_bridge_outbox_full 1/);
  });

  it("keeps sessions and retained messages across a restart", async () => {
    ({ bridge } = await site.start());
    const port = Number(new URL(bridge.mqttUrl).port);
    const a = await lock("lock-a");
    await a.close();
    await bridge.stop();
    ({ bridge } = await site.start({ mqtt: { siteSecret: SITE_SECRET, port } }));
    const again = await mqtt.connectAsync(bridge.mqttUrl, {
      clientId: "lock-a",
      username: "lock-a",
      password: deriveLockPassword(SITE_SECRET, "lock-a"),
      clean: false,
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    site.track(again);
    const connack = await new Promise<boolean>((resolve) => {
      // connectAsync resolved on CONNACK; mqtt.js keeps it on the client as well.
      resolve(
        (again as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent ?? false,
      );
    });
    expect(connack).toBe(true);
    const ha = await mqtt.connectAsync(bridge.mqttUrl, {
      username: HA_USER,
      password: HA_PASSWORD,
      reconnectPeriod: 0,
    });
    site.track(ha);
    const statuses: string[] = [];
    ha.on("message", (topic, payload) => {
      if (topic === "latchkey/locks/lock-a/status") statuses.push(payload.toString());
    });
    await ha.subscribeAsync("latchkey/locks/+/status", { qos: 1 });
    await waitFor("retained status after restart", () => statuses.length > 0);
    expect(statuses[0]).toBe("offline");
  });

  it("serves MQTT over WebSocket", async () => {
    ({ bridge } = await site.start({ mqtt: { siteSecret: SITE_SECRET, port: 0, wsPort: 0 } }));
    expect(bridge.wsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    const ws = await mqtt.connectAsync(bridge.wsUrl!, {
      clientId: "lock-ws",
      username: "lock-ws",
      password: deriveLockPassword(SITE_SECRET, "lock-ws"),
      reconnectPeriod: 0,
    });
    site.track(ws);
    await ws.publishAsync("latchkey/locks/lock-ws/status", Buffer.from(encodeStatus("online")), {
      qos: 1,
      retain: true,
    });
    expect(bridge.outbox().items).toBeGreaterThanOrEqual(1);
  });
});
