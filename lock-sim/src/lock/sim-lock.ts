import type {
  Command,
  CommandResult,
  LockEvent,
  LockEventType,
  LockState,
  SignedLockState,
  Telemetry,
} from "@latchkey/protocol";
import { toHex } from "@latchkey/protocol";
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
  /** The `v` of the signed state the lock runs; 0 before the first (what `ping` and telemetry report). */
  readonly stateV: number;
  /** The applied signed state, or undefined before the first. */
  readonly signedState: SignedLockState | undefined;
  readonly state: LockState;
  /** Connected to the broker now. */
  readonly connected: boolean;
  /** A signed time answer bounds the clock (false before the first one and after a clock reset: no key opens). */
  readonly clockSet: boolean;
  /** Unix seconds by the lock's clock (a state's iat may set it before signed time does), or null while it has none. */
  readonly time: number | null;
  /** Events dropped from the full ring buffer, ever (also reported in telemetry). */
  readonly droppedTotal: number;
  /** Events in the flash ring buffer: not yet acknowledged by the `ack` of a signed state. */
  readonly unacknowledged: number;
  /** Events in the ring the broker has not PUBACKed in this MQTT session (all of them without a report key). */
  readonly undelivered: number;
  /** kids (hex) of the issuers the applied state names (each trusted until its notAfter on the lock's clock). */
  readonly trustedKids: string[];
  /** ctis (hex) the applied state revokes. */
  readonly revoked: string[];
  /** `<dataDir>/flash.db`. */
  readonly flashPath: string;
  /** The setup code printed on the lock (docs/trust.md "Setup code"): it holds the claim secret, never log it. */
  readonly setupCode: string;
  /** The public keys the lock made at first boot (or its last factory reset), as its `keys` topic carries them. */
  readonly publicKeys: { identityKey: Uint8Array; agreementKey: Uint8Array };
  /** The trust engine (lock/trust-engine.ts): what the lock believes, and its clock. */
  readonly trust: TrustEngine;

  /** Clean stop: status `offline` published, flash closed. */
  stop(): Promise<void>;
  /** Fault: the power goes. No goodbye (the broker fires the last will); what is in flash stays. */
  powerLoss(): Promise<void>;
  /** Fault: the bolt jams (every motor run fails with a `jammed` event) until `jam(false)`. */
  jam(on?: boolean): void;
  /** Fault: the clock loses its time; keys are refused (`clock_unset`) until the next signed time answer. */
  resetClock(): void;
  /** Network fault: the TCP connection drops; the lock reconnects by itself. */
  dropConnection(): void;
  /** New cells at `level` percent (default 100). */
  replaceBattery(level?: number): void;
  /** Does what is due by the injected clock now (re-lock, idle drain, telemetry, time requests, re-sends). */
  tick(): void;
  /** Runs a command directly at the lock (no radio, no broker), as a test or bench harness; `state` applies one. */
  command(cmd: Command): CommandResult;
  /** The telemetry reading the lock would report now. */
  telemetry(): Telemetry;

  on(event: "event", listener: (event: LockEvent) => void): void;
  on(event: "telemetry", listener: (telemetry: Telemetry) => void): void;
  on(event: "change", listener: () => void): void;
  off(event: "event" | "telemetry" | "change", listener: (...args: never[]) => void): void;

  /** The first event (in `events`, from index `from`, default 0) that matches a type or a predicate. */
  waitForEvent(match: EventMatch, options?: WaitOptions & { from?: number }): Promise<LockEvent>;
  /** Until the lock runs a signed state of `v` or newer. */
  waitForState(v: number, options?: WaitOptions): Promise<void>;
  waitForConnected(options?: WaitOptions): Promise<void>;
  /** Until the broker has PUBACKed every event in the ring in this session (they stay in flash until the ack). */
  waitForDelivered(options?: WaitOptions): Promise<void>;
  /** Until the ring buffer is empty: a signed state's `ack` covered every event. */
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
    private readonly identity: LockIdentityKeys,
    private readonly shutdown: (mode: "clean" | "power") => Promise<void>,
  ) {
    this.id = firmware.lockId;
  }

  get setupCode(): string {
    return setupCodeOf(this.identity);
  }
  get publicKeys(): { identityKey: Uint8Array; agreementKey: Uint8Array } {
    const { identityKey, agreementKey } = this.identity;
    return { identityKey, agreementKey };
  }
  get trust(): TrustEngine {
    return this.firmware.engine;
  }

  get events(): LockEvent[] {
    return this.firmware.history;
  }
  get battery(): BatteryReading {
    return this.firmware.battery;
  }
  get stateV(): number {
    return this.firmware.engine.stateV;
  }
  get signedState(): SignedLockState | undefined {
    return this.firmware.engine.state;
  }
  get state(): LockState {
    return this.firmware.state;
  }
  get connected(): boolean {
    return this.link?.connected ?? false;
  }
  get clockSet(): boolean {
    return this.firmware.engine.hasSignedTime;
  }
  get time(): number | null {
    const now = this.firmware.engine.reading().nowMs;
    return now === undefined ? null : Math.floor(now / 1000);
  }
  get droppedTotal(): number {
    return this.firmware.droppedTotal;
  }
  get unacknowledged(): number {
    return this.stopped === null ? this.firmware.flash.bufferedCount() : 0;
  }
  get undelivered(): number {
    if (this.stopped !== null) return 0;
    return this.link === null ? this.firmware.flash.bufferedCount() : this.link.undelivered;
  }
  get trustedKids(): string[] {
    return (this.signedState?.issuers ?? []).map((i) => toHex(i.kid)).sort();
  }
  get revoked(): string[] {
    return (this.signedState?.revoked ?? []).map((r) => toHex(r.cti)).sort();
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

  waitForState(v: number, options?: WaitOptions): Promise<void> {
    return this.waitFor((l) => l.stateV >= v, `lock ${this.id} to apply a signed state of v ${v}`, options);
  }

  waitForConnected(options?: WaitOptions): Promise<void> {
    return this.waitFor((l) => l.connected, `lock ${this.id} to connect`, options);
  }

  waitForDelivered(options?: WaitOptions): Promise<void> {
    return this.waitFor((l) => l.undelivered === 0, `lock ${this.id}'s events to reach the broker`, options);
  }

  waitForAcknowledged(options?: WaitOptions): Promise<void> {
    return this.waitFor(
      (l) => l.unacknowledged === 0,
      `lock ${this.id}'s events to be acknowledged by a signed state`,
      options,
    );
  }

  async waitFor(predicate: (lock: SimLock) => boolean, what: string, options?: WaitOptions): Promise<void> {
    await waitForChange(this.firmware, "change", () => (predicate(this) ? true : undefined), what, options);
  }

  private describeEvents(): string {
    const last = this.firmware.history.slice(-8).map((e) => `${e.seq}:${e.type}${e.code ? `(${e.code})` : ""}`);
    return last.length === 0 ? "none" : last.join(", ");
  }
}
