import { EventEmitter } from "node:events";
import { type Backoff, sleep } from "@latchkey/runtime";
import type { Logger } from "../ops/logger.js";
import type { BridgeMetrics } from "../ops/metrics.js";
import type { Noble } from "./noble-loader.js";

export type BleAdapterState = "starting" | "available" | "unavailable";

export interface BleAdapterStatus {
  state: BleAdapterState;
  /** Why it is unavailable (the loader's error, or the adapter's state). */
  reason: string | null;
  /** Unix ms of the last change of state. */
  since: number;
  /** Failed attempts to load noble since the last success. */
  failures: number;
  /** Unix ms of the next attempt to load noble, while waiting for one. */
  nextAttemptAt: number | null;
}

export interface BleAdapterEvents {
  /** The adapter is powered on; `noble` is ready to scan (first time and after every outage). */
  available: [noble: Noble];
  change: [];
}

/**
 * The Bluetooth adapter, as the bridge's BLE gateway needs it, kept apart from the rest of the bridge: a host without
 * a usable adapter (noble fails to load: no HCI socket, no adapter, no permission) or whose adapter is off must not
 * stop the bridge from serving its MQTT locks. Loading is tried again with backoff (1 s doubling up to the configured
 * maximum); once noble is loaded, its adapter state decides (`poweredOn` is available, anything else unavailable
 * with that state as the reason, until noble reports `poweredOn`). `/healthz`, the status page and
 * `latchkey_bridge_ble_available` show it.
 */
export class BleAdapter extends EventEmitter<BleAdapterEvents> {
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private noble: Noble | null = null;
  private current: BleAdapterStatus;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly load: () => Promise<Noble>,
    private readonly backoff: Backoff,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {
    super();
    this.current = { state: "starting", reason: null, since: now(), failures: 0, nextAttemptAt: null };
    metrics.gauge("ble_available", "1 while the Bluetooth adapter is powered on and usable, else 0", () =>
      this.current.state === "available" ? 1 : 0,
    );
  }

  get status(): BleAdapterStatus {
    return { ...this.current };
  }

  /** noble, when the adapter is available now. */
  get ready(): Noble | null {
    return this.current.state === "available" ? this.noble : null;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    for (const w of this.waiters) w();
    await this.loop;
  }

  /** Resolves once the adapter is available (at once if it is), or when `signal` aborts. */
  whenAvailable(signal: AbortSignal): Promise<void> {
    if (this.current.state === "available" || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.waiters.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.waiters.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  private set(state: BleAdapterState, reason: string | null, nextAttemptAt: number | null = null): void {
    const changed = state !== this.current.state || reason !== this.current.reason;
    this.current = {
      state,
      reason,
      since: changed ? this.now() : this.current.since,
      failures: this.backoff.failures,
      nextAttemptAt,
    };
    if (state === "available") for (const w of [...this.waiters]) w();
    this.emit("change");
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted && !this.noble) {
      try {
        this.noble = await this.load();
      } catch (e) {
        if (signal.aborted) return;
        const delay = this.backoff.next();
        const reason = (e as Error).message;
        this.metrics.bleAdapterFailures.inc();
        if (this.backoff.failures === 1)
          this.logger.warn(
            { err: reason, retryInMs: delay },
            "Bluetooth LE unavailable: serving MQTT locks, trying the adapter again with backoff",
          );
        else this.logger.debug({ err: reason, retryInMs: delay }, "Bluetooth LE still unavailable");
        this.set("unavailable", reason, this.now() + delay);
        await sleep(delay, signal);
      }
    }
    const noble = this.noble;
    if (!noble || signal.aborted) return;
    this.backoff.reset();
    noble.on("stateChange", (state: string) => this.adapterState(noble, state));
    // Reading `state` initialises noble's bindings; a later change comes as a `stateChange`.
    this.adapterState(noble, (noble as unknown as { state: string }).state);
  }

  private adapterState(noble: Noble, state: string): void {
    if (this.abort.signal.aborted) return;
    if (state === "poweredOn") {
      if (this.current.state === "available") return;
      this.logger.info("Bluetooth adapter powered on: BLE locks are served");
      this.set("available", null);
      this.emit("available", noble);
      return;
    }
    // `unknown` and `resetting` come before `poweredOn` at start: not a failure yet.
    if (state === "unknown" || state === "resetting") {
      if (this.current.state !== "available") this.set("starting", `adapter state: ${state}`);
      return;
    }
    if (this.current.state !== "unavailable")
      this.logger.warn({ state }, "Bluetooth adapter unusable: serving MQTT locks, waiting for it to power on");
    this.set("unavailable", `adapter state: ${state}`);
  }
}
