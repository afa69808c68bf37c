import { Backoff } from "@latchkey/runtime";
import type { ActionRunner } from "../actions/action-runner.js";
import { BleAdapter } from "../ble/ble-adapter.js";
import { BleGateway } from "../ble/ble-gateway.js";
import { BleUnavailableError, loadHardwareNoble, type Noble } from "../ble/noble-loader.js";
import type { StateRelay } from "../trust/state-relay.js";
import type { BridgeContext, Extension } from "./extension.js";

export interface BleExtensionOptions {
  noble?: Noble;
  loadNoble?: () => Promise<Noble>;
  bleRetryInitialMs?: number;
}

/**
 * BLE locks, visited in rounds. No usable adapter is no reason to stop serving MQTT locks: the adapter is tried again
 * with backoff, and shown as unavailable in /healthz, the status page and latchkey_bridge_ble_available meanwhile.
 */
export class BleExtension implements Extension {
  readonly name = "ble";
  readonly adapter: BleAdapter;
  private gateway: BleGateway | null = null;

  constructor(ctx: BridgeContext, parts: { states: StateRelay; actions: ActionRunner }, options: BleExtensionOptions) {
    const { settings, metrics, events, clock } = ctx;
    const logger = ctx.logger.child({ part: "ble" });
    const given = options.noble;
    const load = given ? async () => given : (options.loadNoble ?? (() => loadHardwareNoble()));
    const adapter = new BleAdapter(
      load,
      new Backoff(options.bleRetryInitialMs ?? 1000, settings.ble.retryMaxSeconds * 1000, ctx.random),
      metrics,
      logger,
      () => clock.now(),
    );
    this.adapter = adapter;
    adapter.once("available", (noble) => {
      if (ctx.draining()) return;
      this.gateway = new BleGateway(
        noble,
        ctx.db,
        ctx.registry,
        ctx.messages,
        ctx.cloud,
        parts.states,
        parts.actions,
        settings.ble,
        metrics,
        logger,
        (signal) => adapter.whenAvailable(signal),
      );
      this.gateway.start();
    });
    adapter.on("change", () => events.emit("bridgeStateChanged"));
    events.on("bleActionPending", () => this.gateway?.wake());
  }

  /** One round now; rejects while the adapter is unavailable. */
  round(): Promise<{ locks: string[] }> {
    if (!this.gateway || !this.adapter.ready)
      return Promise.reject(
        new BleUnavailableError(
          `Bluetooth LE is unavailable: ${this.adapter.status.reason ?? this.adapter.status.state}`,
        ),
      );
    return this.gateway.round();
  }

  async start(): Promise<void> {
    this.adapter.start();
  }

  async stop(): Promise<void> {
    await Promise.all([this.adapter.stop(), this.gateway?.stop()]);
  }
}
