import mqtt from "mqtt";
import { describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import { granted, HA_PASSWORD, HA_USER, siteChanges } from "./helpers/bridge.js";
import { bridgeSiteEach } from "./helpers/site-each.js";
import { waitFor } from "./helpers/wait.js";

/** Home Assistant as it logs in (an `mqtt.accounts` login): every retained discovery and state message it is shown. */
async function homeAssistant(url: string) {
  const client = await mqtt.connectAsync(url, { username: HA_USER, password: HA_PASSWORD, reconnectPeriod: 0 });
  const seen = new Map<string, string>();
  let configs = 0;
  client.on("message", (topic, payload) => {
    seen.set(topic, payload.toString());
    if (topic.endsWith("/config")) configs++;
  });
  await client.subscribeAsync(["homeassistant/#", "latchkey/ha/#"], { qos: 1 });
  return { client, seen, configs: () => configs, json: (topic: string) => JSON.parse(seen.get(topic) ?? "null") };
}

const BRIDGE_DEVICE = "latchkey_bridge_br-test";
const BRIDGE_CONFIGS = ["binary_sensor/{n}/cloud", "sensor/{n}/status", "sensor/{n}/locks_online", "sensor/{n}/outbox"];

describe("Home Assistant discovery (issue 15 items 4–6)", () => {
  const site = bridgeSiteEach();
  let bridge: RunningBridge | null = null;

  it("publishes the bridge as a device that each lock's via_device names, with read-only lock entities", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge } = await site.start());
    await bridge.ready;
    const a = await site.lock("lock-a");
    await a.telemetry({ level: 55 });
    const ha = await homeAssistant(bridge.mqttUrl);
    site.track(ha.client);

    const bridgeConfigs = BRIDGE_CONFIGS.map((c) => `homeassistant/${c.replace("{n}", BRIDGE_DEVICE)}/config`);
    const lockConfigs = [
      "homeassistant/sensor/latchkey_lock-a/lock_state/config",
      "homeassistant/sensor/latchkey_lock-a/battery/config",
    ];
    await waitFor("the bridge device and the lock's entities", () =>
      [...bridgeConfigs, ...lockConfigs, "latchkey/ha/lock-a/battery"].every((t) => ha.seen.has(t)),
    );
    for (const topic of bridgeConfigs)
      expect(ha.json(topic)).toMatchObject({
        device: { identifiers: [BRIDGE_DEVICE], manufacturer: "latchkey", model: "latchkey-bridge" },
        state_topic: "latchkey/ha/_bridge/br-test",
        availability_topic: "latchkey/bridges/br-test/status",
      });
    // Item 4: the locks' via_device points at a device Home Assistant has been told of.
    for (const topic of lockConfigs) expect(ha.json(topic).device.via_device).toBe(BRIDGE_DEVICE);
    const lockState = ha.json(lockConfigs[0]!);
    expect(lockState).toMatchObject({
      device_class: "enum",
      options: ["locked", "unlocked", "jammed"],
      state_topic: "latchkey/ha/lock-a/state",
      availability_mode: "all",
    });
    // Item 6: nothing offers Home Assistant a way to command a lock; the lock entity with its buttons is gone.
    for (const [topic, payload] of ha.seen)
      if (topic.endsWith("/config")) expect(payload).not.toContain("command_topic");
    expect(ha.seen.get("homeassistant/lock/latchkey_lock-a/lock/config") ?? "").toBe("");

    await waitFor("the bridge device's state", () => {
      const state = ha.json("latchkey/ha/_bridge/br-test");
      return state?.cloud_reachable === true && state.locks_online === 1;
    });
    expect(ha.json("latchkey/ha/_bridge/br-test")).toMatchObject({
      status: "running",
      locks_known: 1,
      outbox_items: expect.any(Number),
    });
    expect(ha.json("latchkey/ha/lock-a/battery")).toMatchObject({ level: 55 });

    const before = ha.configs();
    await ha.client.publishAsync("homeassistant/status", "online", { qos: 1 });
    await waitFor("discovery re-published", () => ha.configs() >= before + bridgeConfigs.length + 2);
    // Home Assistant may not read lock events nor command a lock through the bridge.
    expect(await granted(ha.client, ["latchkey/locks/+/events"])).toEqual([128]);
  });

  it("retains a lock's state from the moment it connects, before its first event (its ping answer)", async () => {
    siteChanges(site.cloud, ["lock-b"]);
    ({ bridge } = await site.start());
    const b = await site.lock("lock-b");
    // The test lock answers `ping` with state `locked`; it has sent no event at all.
    await waitFor("the lock's state retained", async () => {
      const ha = await homeAssistant(bridge!.mqttUrl);
      try {
        await waitFor("retained state", () => ha.seen.get("latchkey/ha/lock-b/state"), { timeoutMs: 300 });
        return ha.seen.get("latchkey/ha/lock-b/state") === "LOCKED";
      } finally {
        await ha.client.endAsync(true);
      }
    });
    expect(b.sent).toEqual([]);
    expect(b.commands.some((c) => c.type === "ping")).toBe(true);
  });
});
