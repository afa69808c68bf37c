import { deriveLockPassword, encodeEvent, toHex } from "@latchkey/protocol";
import mqtt from "mqtt";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import { siteChanges, startTestBridge } from "./helpers/bridge.js";
import { SITE_SECRET, tempDir } from "./helpers/fixtures.js";
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

  it("syncs locks and forwards their events through the broker", async () => {
    siteChanges(cloud, ["ext-lock-1"]);
    ({ bridge } = await start());
    expect(bridge.mqttUrl).toBe(MQTT_URL);
    await bridge.ready;
    const a = await lock("ext-lock-1");
    await waitFor("sync over the external broker", () => a.syncs[0], { timeoutMs: 20_000 });
    for (let i = 1; i <= 20; i++) await a.event({ seq: i });
    await waitFor("events in the cloud", () => cloud.events.size === 20);
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
    const forged = encodeEvent({
      id: new Uint8Array(16).fill(0xab),
      lock: "ext-lock-4",
      seq: 1,
      ts: 1,
      type: "unlocked",
    });
    await rogue.publishAsync(`${prefix}/locks/ext-lock-3/events`, Buffer.from(forged), { qos: 1 });
    await rogue.endAsync();
    const a = await lock("ext-lock-3");
    await a.event({ seq: 1 });
    await waitFor("the honest event arrives", () => cloud.events.size === 1);
    expect([...cloud.events.keys()]).not.toContain(toHex(new Uint8Array(16).fill(0xab)));
  });
});
