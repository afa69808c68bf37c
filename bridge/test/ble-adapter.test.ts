import { EventEmitter } from "node:events";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { loadHardwareNoble, type Noble } from "../src/ble/noble-loader.js";
import type { RunningBridge } from "../src/index.js";
import { siteChanges } from "./helpers/bridge.js";
import type { LogCapture } from "./helpers/fixtures.js";
import { bridgeSiteEach } from "./helpers/site-each.js";
import { waitFor } from "./helpers/wait.js";

const require = createRequire(import.meta.url);

/**
 * An adapter for noble's own code (`@abandonware/noble/with-bindings`) where this host has none: it powers on when
 * noble initialises it, scans and finds nothing, and can be switched off and on. Only the adapter is stood in for;
 * noble and the bridge run as they do on a gateway.
 */
class StandInAdapter extends EventEmitter {
  init(): void {
    setImmediate(() => this.emit("stateChange", "poweredOn"));
  }
  power(on: boolean): void {
    this.emit("stateChange", on ? "poweredOn" : "poweredOff");
  }
  startScanning(): void {
    setImmediate(() => this.emit("scanStart", false));
  }
  stopScanning(): void {
    setImmediate(() => this.emit("scanStop"));
  }
  setScanParameters(): void {}
  reset(): void {}
}

interface BleHealth {
  status: string;
  degraded: Array<{ check: string; message: string }>;
  ble: { state: string; reason: string | null; failures: number } | null;
}
const health = (bridge: RunningBridge) => bridge.health() as unknown as BleHealth;
const metrics = async (bridge: RunningBridge) => (await fetch(`${bridge.metricsUrl}/metrics`)).text();

/** The host's noble fails to load here (no Bluetooth): the case. On a host with an adapter it loads. */
const hostNoble = await loadHardwareNoble().then(
  () => null,
  (e: Error) => e.message,
);

/** BLE without an adapter (issue 15 item 3): the bridge keeps serving MQTT, says BLE is unavailable, and retries. */
describe("BLE without a usable adapter", () => {
  const site = bridgeSiteEach();
  let bridge: RunningBridge | null = null;
  let log: LogCapture;

  it.skipIf(hostNoble === null)(
    `on this host (noble: ${hostNoble ?? "loads: this host has Bluetooth, nothing to test"}) it serves MQTT locks, reports BLE unavailable and tries again`,
    async () => {
      siteChanges(site.cloud, ["lock-a"]);
      ({ bridge, log } = await site.start({ ble: { enabled: true, retryMaxSeconds: 1 } }, { bleRetryInitialMs: 20 }));
      await bridge.ready;
      const a = await site.lock("lock-a");
      await a.event();
      await waitFor("the lock's report in the cloud", () => site.cloud.verdicts.ok === 1);

      await waitFor("several tries", () => (health(bridge!).ble?.failures ?? 0) >= 3);
      const h = health(bridge);
      expect(h.status).toBe("degraded");
      expect(h.ble).toMatchObject({ state: "unavailable", reason: expect.stringContaining(hostNoble!) });
      expect(h.degraded).toEqual([
        {
          check: "ble_unavailable",
          message: expect.stringContaining("Bluetooth LE is unavailable: ble.enabled is set"),
        },
      ]);
      const text = await metrics(bridge);
      expect(text).toMatch(/^latchkey_bridge_ble_available 0$/m);
      expect(text).toMatch(/^latchkey_bridge_ble_adapter_failures_total [3-9]\d*$/m);
      await expect(bridge.bleRound()).rejects.toMatchObject({ name: "BleUnavailableError" });
      // One warning when it starts, not one per try.
      expect(
        log.lines.filter((l) => l.level === 40 && String(l.msg).startsWith("Bluetooth LE unavailable")),
      ).toHaveLength(1);
    },
  );

  it("an adapter that appears later is used, and one powered off is waited for, MQTT served all along", async () => {
    const adapter = new StandInAdapter();
    let tries = 0;
    const loadNoble = async (): Promise<Noble> => {
      if (++tries <= 2) throw new Error(`no adapter yet (try ${tries})`);
      return (require("@abandonware/noble/with-bindings") as (b: unknown) => Noble)(adapter);
    };
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge } = await site.start(
      { ble: { enabled: true, scanSeconds: 1, pollSeconds: 1 } },
      { loadNoble, bleRetryInitialMs: 20 },
    ));
    await waitFor("BLE available", () => health(bridge!).ble?.state === "available");
    expect(tries).toBe(3);
    expect(health(bridge).status).toBe("running");
    expect(await metrics(bridge)).toMatch(/^latchkey_bridge_ble_available 1$/m);
    expect(await bridge.bleRound()).toEqual({ locks: [] });

    adapter.power(false);
    expect(health(bridge).ble).toMatchObject({ state: "unavailable", reason: "adapter state: poweredOff" });
    expect(health(bridge).degraded.map((d) => d.check)).toEqual(["ble_unavailable"]);
    await expect(bridge.bleRound()).rejects.toMatchObject({ name: "BleUnavailableError" });
    const a = await site.lock("lock-a");
    await a.event();
    await waitFor("the lock's report in the cloud", () => site.cloud.verdicts.ok === 1);

    adapter.power(true);
    expect(health(bridge).ble?.state).toBe("available");
    expect(await bridge.bleRound()).toEqual({ locks: [] });
  });
});
