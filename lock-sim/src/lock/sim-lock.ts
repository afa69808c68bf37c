import type {
  Command,
  CommandResult,
  LockEvent,
  LockEventType,
  LockState,
  SyncGrant,
  SyncMessage,
  Telemetry,
} from "@latchkey/protocol";
import type { MqttLockLink } from "../mqtt/lock-link.js";
import { type WaitOptions, waitForChange } from "../wait.js";
import type { BatteryReading } from "./battery.js";
import type { LockFirmware } from "./firmware.js";
import { type LockIdentityKeys, setupCodeOf } from "./identity.js";
import type { TrustEngine } from "./trust-engine.js";

export type EventMatch = LockEventType | ((event: LockEvent) => boolean);

/** A running simulated lock. Everything it has emitted is in `events`; waiting helpers make tests read naturally. */
export interface SimLock {
  readonly id: string;
  /** Every event this lock emitted since it started (this process), in order. */
  readonly events: LockEvent[];
  readonly battery: BatteryReading;
  readonly syncVersion: number;
  readonly state: LockState;
  /** Connected to the broker now. */
  readonly connected: boolean;
  /** The RTC has time (false after a clock reset until a sync brings trusted time). */
  readonly clockSet: boolean;
  /** Unix seconds by the lock's RTC, or null while it is unset. */
  readonly time: number | null;
  /** Events dropped from the full ring buffer, ever (also reported in telemetry). */
  readonly droppedTotal: number;
  /** Events in the flash ring buffer that no broker or gateway has acknowledged yet. */
  readonly unacknowledged: number;
  /** kids (hex) the lock trusts, factory and sync. */
  readonly trustedKids: string[];
  /** Revoked key ids (hex). */
  readonly revoked: string[];
  readonly grants: SyncGrant[];
  /** `<dataDir>/flash.db`. */
  readonly flashPath: string;
  /** The setup code printed on the lock (docs/trust.md "Setup code"): it holds the claim secret, never log it. */
  readonly setupCode: string;
  /** The public keys the lock made at first boot (or its last factory reset). */
  readonly publicKeys: { identityKey: Uint8Array; agreementKey: Uint8Array };
  /** The trust engine (lock/trust-engine.ts); not yet wired to MQTT or BLE, where the unsigned sync still runs. */
  readonly trust: TrustEngine;

  /** Clean stop: status `offline` published, flash closed. */
  stop(): Promise<void>;
  /** Fault: the power goes. No goodbye (the broker fires the last will); what is in flash stays. */
  powerLoss(): Promise<void>;
  /** Fault: the bolt jams (every motor run fails with a `jammed` event) until `jam(false)`. */
  jam(on?: boolean): void;
  /** Fault: the RTC loses its time; keys are refused (`clock_unset`) until a sync brings trusted time. */
  resetClock(): void;
  /** Network fault: the TCP connection drops; the lock reconnects by itself. */
  dropConnection(): void;
  /** New cells at `level` percent (default 100). */
  replaceBattery(level?: number): void;
  /** Does what is due by the injected clock now (re-lock, idle drain, periodic telemetry); also runs on a timer. */
  tick(): void;
  /** Runs a command directly at the lock (no radio, no broker), as a test or bench harness. */
  command(cmd: Command): CommandResult;
  /** Applies a sync as if it came from the bridge; answers `implausible_version` when it is refused (docs/mqtt.md). */
  applySync(sync: SyncMessage): "implausible_version" | null;
  /** The telemetry the lock would publish now. */
  telemetry(): Telemetry;

  on(event: "event", listener: (event: LockEvent) => void): void;
  on(event: "telemetry", listener: (telemetry: Telemetry) => void): void;
  on(event: "change", listener: () => void): void;
  off(event: "event" | "telemetry" | "change", listener: (...args: never[]) => void): void;

  /** The first event (in `events`, from index `from`, default 0) that matches a type or a predicate. */
  waitForEvent(match: EventMatch, options?: WaitOptions & { from?: number }): Promise<LockEvent>;
  waitForSyncVersion(v: number, options?: WaitOptions): Promise<void>;
  waitForConnected(options?: WaitOptions): Promise<void>;
  /** Until the ring buffer holds no unacknowledged event. */
  waitForAcknowledged(options?: WaitOptions): Promise<void>;
  /** Until `predicate(lock)` holds, re-checked on every state change of the lock. */
  waitFor(predicate: (lock: SimLock) => boolean, what: string, options?: WaitOptions): Promise<void>;
}

/** The handle `startLock` returns: reads the firmware's state, injects faults, waits. */
export class RunningLock implements SimLock {
  readonly id: string;
  private stopped: Promise<void> | null = null;

  constructor(
    private readonly firmware: LockFirmware,
    private readonly link: MqttLockLink | null,
    readonly flashPath: string,
    private readonly identity: { identity: LockIdentityKeys; trust: TrustEngine },
    private readonly shutdown: (mode: "clean" | "power") => Promise<void>,
  ) {
    this.id = firmware.lockId;
  }

  get setupCode(): string {
    return setupCodeOf(this.identity.identity);
  }
  get publicKeys(): { identityKey: Uint8Array; agreementKey: Uint8Array } {
    const { identityKey, agreementKey } = this.identity.identity;
    return { identityKey, agreementKey };
  }
  get trust(): TrustEngine {
    return this.identity.trust;
  }

  get events(): LockEvent[] {
    return this.firmware.history;
  }
  get battery(): BatteryReading {
    return this.firmware.battery;
  }
  get syncVersion(): number {
    return this.firmware.syncVersion;
  }
  get state(): LockState {
    return this.firmware.state;
  }
  get connected(): boolean {
    return this.link?.connected ?? false;
  }
  get clockSet(): boolean {
    return this.firmware.rtc.isSet;
  }
  get time(): number | null {
    return this.firmware.rtc.nowSeconds();
  }
  get droppedTotal(): number {
    return this.firmware.droppedTotal;
  }
  get unacknowledged(): number {
    return this.stopped === null ? this.firmware.flash.bufferedCount() : 0;
  }
  get trustedKids(): string[] {
    return this.firmware.trustedKids();
  }
  get revoked(): string[] {
    return this.firmware.revokedKeys();
  }
  get grants(): SyncGrant[] {
    return this.firmware.grants();
  }

  stop(): Promise<void> {
    this.stopped ??= this.shutdown("clean");
    return this.stopped;
  }

  powerLoss(): Promise<void> {
    this.stopped ??= this.shutdown("power");
    return this.stopped;
  }

  jam(on = true): void {
    this.firmware.setJamFault(on);
  }
  resetClock(): void {
    this.firmware.resetClock();
  }
  dropConnection(): void {
    this.link?.dropConnection();
  }
  replaceBattery(level = 100): void {
    this.firmware.replaceBattery(level);
  }
  tick(): void {
    this.firmware.tick();
  }
  command(cmd: Command): CommandResult {
    return this.firmware.handleCommand(cmd);
  }
  applySync(sync: SyncMessage): "implausible_version" | null {
    return this.firmware.applySync(sync);
  }
  telemetry(): Telemetry {
    return this.firmware.telemetry();
  }

  on(event: "event" | "telemetry" | "change", listener: (...args: never[]) => void): void {
    this.firmware.on(event, listener as (...args: unknown[]) => void);
  }
  off(event: "event" | "telemetry" | "change", listener: (...args: never[]) => void): void {
    this.firmware.off(event, listener as (...args: unknown[]) => void);
  }

  waitForEvent(match: EventMatch, options: WaitOptions & { from?: number } = {}): Promise<LockEvent> {
    const test = typeof match === "function" ? match : (e: LockEvent) => e.type === match;
    const from = options.from ?? 0;
    const what = typeof match === "function" ? "a matching event" : `a "${match}" event`;
    return waitForChange(
      this.firmware,
      "change",
      () => this.firmware.history.slice(from).find(test),
      `${what} from lock ${this.id} (events so far: ${this.describeEvents()})`,
      options,
    );
  }

  waitForSyncVersion(v: number, options?: WaitOptions): Promise<void> {
    return this.waitFor((l) => l.syncVersion >= v, `lock ${this.id} to apply sync v${v}`, options);
  }

  waitForConnected(options?: WaitOptions): Promise<void> {
    return this.waitFor((l) => l.connected, `lock ${this.id} to connect`, options);
  }

  waitForAcknowledged(options?: WaitOptions): Promise<void> {
    return this.waitFor((l) => l.unacknowledged === 0, `lock ${this.id}'s events to be acknowledged`, options);
  }

  async waitFor(predicate: (lock: SimLock) => boolean, what: string, options?: WaitOptions): Promise<void> {
    await waitForChange(this.firmware, "change", () => (predicate(this) ? true : undefined), what, options);
  }

  private describeEvents(): string {
    const last = this.firmware.history.slice(-8).map((e) => `${e.seq}:${e.type}${e.code ? `(${e.code})` : ""}`);
    return last.length === 0 ? "none" : last.join(", ");
  }
}
