import { EventEmitter } from "node:events";
import {
  type BatteryState,
  CLOCK_UNSET,
  type Clock,
  type Command,
  type CommandResult,
  decodeSync,
  type Ed25519Backend,
  EVENT_ID_BYTES,
  encodeEvent,
  IMPLAUSIBLE_VERSION,
  isImplausibleSyncVersion,
  isStrongPublicKey,
  type LockEvent,
  type LockState,
  MAX_EVENTS_PER_RESULT,
  MAX_SYNC_V_STEP,
  NONCE_BYTES,
  NonceBook,
  peekCti,
  type SyncGrant,
  type SyncMessage,
  type Telemetry,
  TrustStore,
  toHex,
  verifyUnlockRequest,
} from "@latchkey/protocol";
import type { Logger } from "pino";
import type { EventDraft, LockFlash } from "../flash/lock-flash.js";
import { type RandomSource, randomFraction } from "../random.js";
import type { Actuator } from "./actuator.js";
import type { Battery, BatteryReading } from "./battery.js";
import type { RealTimeClock } from "./rtc.js";

/** Where the firmware sends what it has to report: the MQTT link, or nothing when the lock runs offline. */
export interface Uplink {
  publishEvent(event: LockEvent): void;
  publishTelemetry(telemetry: Telemetry): void;
  /** Events handed to the broker and not yet acknowledged: the ring buffer drops these last. */
  readonly inFlight: ReadonlySet<number>;
}

/**
 * Denial code while the clock has no time. Not one of docs/design.md's token codes: the token may be perfectly good, the
 * lock just cannot check its validity window. The command result carries it too.
 */

/** Leeway that makes protocol's window checks pass, so an unset clock still reports every other failure precisely. */
const NO_TIME_CHECK = 2 ** 52;

export interface FirmwareConfig {
  lockId: string;
  baseClock: Clock;
  random: RandomSource;
  backend: Ed25519Backend;
  leewaySeconds: number;
  ringCapacity: number;
  telemetryIntervalMs: number;
  telemetryJitter: number;
  eventHistory: number;
  logger: Logger;
}

export interface FirmwareParts {
  flash: LockFlash;
  rtc: RealTimeClock;
  battery: Battery;
  actuator: Actuator;
  nextSeq: number;
  syncVersion: number;
  droppedTotal: number;
}

/**
 * What lock firmware does around protocol's `verifyUnlockRequest`: keeps the trust store (factory keys plus the
 * ones sync delivers), the revocation list and the sync version; stamps, persists and reports every attempt as an
 * event; runs the motor; drains the battery; and answers commands the same way whatever carried them (MQTT or BLE).
 */
export class LockFirmware extends EventEmitter {
  readonly lockId: string;
  readonly history: LockEvent[] = [];
  private readonly nonces = new NonceBook();
  private trust: TrustStore;
  private revoked: Set<string>;
  private nextSeq: number;
  private syncVersionValue: number;
  private droppedTotalValue: number;
  private uplink: Uplink | null = null;
  private nextTelemetryAtMs: number;
  private lastReported: BatteryReading;
  private halted = false;
  private deferred: (() => void)[] | null = null;

  constructor(
    private readonly config: FirmwareConfig,
    private readonly parts: FirmwareParts,
  ) {
    super();
    this.lockId = config.lockId;
    this.nextSeq = parts.nextSeq;
    this.syncVersionValue = parts.syncVersion;
    this.droppedTotalValue = parts.droppedTotal;
    this.trust = this.buildTrust();
    this.revoked = new Set(parts.flash.revoked().map(toHex));
    this.lastReported = parts.battery.reading();
    this.nextTelemetryAtMs = config.baseClock.now() + this.telemetryDelay(true);
  }

  // ── state ──────────────────────────────────────────────────────────────────────────────────────────────────────

  get syncVersion(): number {
    return this.syncVersionValue;
  }

  get droppedTotal(): number {
    return this.droppedTotalValue;
  }

  get state(): LockState {
    return this.parts.actuator.state;
  }

  get battery(): BatteryReading {
    return this.parts.battery.reading();
  }

  get rtc(): RealTimeClock {
    return this.parts.rtc;
  }

  get flash(): LockFlash {
    return this.parts.flash;
  }

  trustedKids(): string[] {
    return this.trust.kids();
  }

  revokedKeys(): string[] {
    return [...this.revoked].sort();
  }

  grants(): SyncGrant[] {
    return this.parts.flash.grants();
  }

  telemetry(): Telemetry {
    const b = this.parts.battery.reading();
    return {
      lock: this.lockId,
      ts: this.parts.rtc.stampSeconds(),
      level: b.level,
      mv: b.mv,
      state: b.state,
      v: this.syncVersionValue,
      dropped: this.droppedTotalValue,
    };
  }

  /** Connects the firmware to its uplink (or disconnects it with null). */
  attach(uplink: Uplink | null): void {
    this.uplink = uplink;
  }

  /** Stops all activity: after a power loss or a stop, nothing more is written or sent. */
  halt(): void {
    this.halted = true;
    this.uplink = null;
  }

  // ── commands ───────────────────────────────────────────────────────────────────────────────────────────────────

  /** Answers one command; every unlock attempt becomes exactly one event. Never throws on bad input. */
  handleCommand(cmd: Command): CommandResult {
    if (this.halted) return { id: cmd.id, ok: false, code: "busy", message: "the lock is powered off" };
    switch (cmd.type) {
      case "challenge":
        return this.challenge(cmd.id);
      case "unlock":
        return this.unlock(cmd);
      case "lock":
        return this.lock(cmd.id);
      case "ping":
        return { id: cmd.id, ok: true, state: this.state, v: this.syncVersionValue };
      case "sync":
        return this.syncCommand(cmd.id, cmd.sync);
      case "events":
        return this.eventsCommand(cmd.id, cmd.after);
    }
  }

  /**
   * A fresh single-use nonce, valid for 30 s by the base clock (firmware counts this with a tick timer, not the RTC).
   * `holder` is the BLE connection asking: it gets at most `holder.max` live nonces. No live nonce is ever evicted for a
   * new one (review 12.8), so a full book or a greedy connection is answered `too_many_challenges` (docs/mqtt.md, "BLE").
   */
  challenge(id: string, holder?: { id: string; max: number }): CommandResult {
    if (this.halted) return { id, ok: false, code: "busy", message: "the lock is powered off" };
    const issued = this.nonces.offer(this.config.random(NONCE_BYTES), this.config.baseClock.now(), holder);
    if (issued.ok) return { id, ok: true, nonce: issued.nonce };
    return {
      id,
      ok: false,
      code: "too_many_challenges",
      message:
        issued.refusal === "holder_limit"
          ? "this connection already holds its challenges: answer one first"
          : "the lock holds too many live challenges: try again shortly",
    };
  }

  /** Forgets the nonces of a BLE connection that closed: nothing can answer on it any more. */
  releaseChallenges(holderId: string): void {
    this.nonces.release(holderId);
  }

  /** A fresh nonce for a caller that wants it or an error (the benchmark's loop): see `challenge`. */
  issueChallenge(): Uint8Array {
    return this.nonces.issue(this.config.random(NONCE_BYTES), this.config.baseClock.now());
  }

  /** Consumes a nonce for a gateway command's authentication. */
  consumeNonce(nonce: Uint8Array): "ok" | "unknown" | "expired" {
    return this.nonces.consume(nonce, this.config.baseClock.now());
  }

  private unlock(cmd: Extract<Command, { type: "unlock" }>): CommandResult {
    const nowSeconds = this.parts.rtc.nowSeconds();
    const verdict = verifyUnlockRequest(
      { token: cmd.token, proof: cmd.proof, nonce: cmd.nonce },
      {
        trust: this.trust,
        lockId: this.lockId,
        now: nowSeconds ?? 0,
        leeway: nowSeconds === null ? NO_TIME_CHECK : this.config.leewaySeconds,
        revoked: this.revoked,
        nonces: this.nonces,
        nowMs: this.config.baseClock.now(),
        backend: this.config.backend,
      },
    );
    if (!verdict.ok) {
      this.emitEvent({ type: "denied", code: verdict.code, key: peekCti(cmd.token) });
      return { id: cmd.id, ok: false, code: verdict.code, message: verdict.message };
    }
    const key = verdict.claims.cti;
    // Motor, battery and event land in flash together: one commit, and nothing is sent before it.
    return this.atomically(() => this.actuateUnlock(cmd.id, key, nowSeconds));
  }

  private actuateUnlock(id: string, key: Uint8Array, nowSeconds: number | null): CommandResult {
    if (nowSeconds === null) {
      this.emitEvent({ type: "denied", code: CLOCK_UNSET, key });
      return {
        id,
        ok: false,
        code: CLOCK_UNSET,
        message: "the lock's clock has no time yet; it refuses time-bound keys until a sync brings trusted time",
      };
    }
    const outcome = this.parts.actuator.run("unlocked", this.config.baseClock.now(), this.parts.battery.empty);
    this.batteryAfterActuation();
    if (!outcome.ok) {
      this.emitEvent({ type: "jammed", code: outcome.reason, key });
      return { id, ok: false, code: "jammed", message: `the bolt did not move (${outcome.reason})` };
    }
    this.emitEvent({ type: "unlocked", key });
    return { id, ok: true, state: this.state };
  }

  private lock(id: string): CommandResult {
    if (this.state === "locked") return { id, ok: true, state: "locked" };
    return this.atomically(() => this.actuateLock(id));
  }

  private actuateLock(id: string): CommandResult {
    const outcome = this.parts.actuator.run("locked", this.config.baseClock.now(), this.parts.battery.empty);
    this.batteryAfterActuation();
    if (!outcome.ok) {
      this.emitEvent({ type: "jammed", code: outcome.reason });
      return { id, ok: false, code: "jammed", message: `the bolt did not move (${outcome.reason})`, state: this.state };
    }
    this.emitEvent({ type: "locked" });
    return { id, ok: true, state: "locked" };
  }

  private syncCommand(id: string, bytes: Uint8Array): CommandResult {
    let sync: SyncMessage;
    try {
      sync = decodeSync(bytes);
    } catch {
      return { id, ok: false, code: "invalid_command", message: "not a valid sync message", v: this.syncVersionValue };
    }
    if (this.applySync(sync) === IMPLAUSIBLE_VERSION) {
      const message = `sync v ${sync.v} jumps more than ${MAX_SYNC_V_STEP} past the lock's ${this.syncVersionValue}`;
      return { id, ok: false, code: IMPLAUSIBLE_VERSION, message, v: this.syncVersionValue };
    }
    return { id, ok: true, v: this.syncVersionValue };
  }

  /** A gateway pulls events after `after` and, by asking, acknowledges everything up to `after`. */
  private eventsCommand(id: string, after: number): CommandResult {
    this.parts.flash.ackEventsThrough(after);
    const events = this.parts.flash.eventsAfter(after, MAX_EVENTS_PER_RESULT);
    this.emit("change");
    return { id, ok: true, events: events.map(encodeEvent), v: this.syncVersionValue };
  }

  // ── sync ───────────────────────────────────────────────────────────────────────────────────────────────────────

  /** Raw sync bytes from MQTT or a gateway; returns the applied version, or null when the message is invalid. */
  onSyncBytes(bytes: Uint8Array): number | null {
    let sync: SyncMessage;
    try {
      sync = decodeSync(bytes);
    } catch (e) {
      this.config.logger.warn({ lock: this.lockId, err: (e as Error).message }, "sync message refused");
      return null;
    }
    this.applySync(sync);
    return this.syncVersionValue;
  }

  /**
   * Applies a sync (docs/mqtt.md): its `time` from any sync when the clock is unset or behind; its issuers, grants and
   * revocations only when `v` is newer, atomically, followed by a `sync_applied` event and telemetry reporting `v`.
   * A sync whose `v` jumps more than MAX_SYNC_V_STEP past the lock's is refused whole, time included
   * (`implausible_version`): applied, it could park the lock where no later version exists.
   */
  applySync(sync: SyncMessage): typeof IMPLAUSIBLE_VERSION | null {
    if (this.halted) return null;
    if (isImplausibleSyncVersion(this.syncVersionValue, sync.v)) {
      this.config.logger.warn(
        { lock: this.lockId, code: IMPLAUSIBLE_VERSION, v: sync.v, current: this.syncVersionValue },
        "sync refused: its version jumps implausibly far",
      );
      return IMPLAUSIBLE_VERSION;
    }
    const adjustment = this.parts.rtc.adopt(sync.time * 1000);
    if (adjustment !== "unchanged")
      this.emitEvent({ type: "clock_set", code: adjustment === "set" ? "unset" : "behind" });
    if (sync.v <= this.syncVersionValue) {
      this.emit("change");
      return null;
    }
    const issuers = sync.issuers.filter((i) => {
      const strong = isStrongPublicKey(i.x);
      if (!strong) this.config.logger.warn({ lock: this.lockId, kid: toHex(i.kid) }, "sync issuer key refused");
      return strong;
    });
    const flash = this.parts.flash;
    this.atomically(() => {
      flash.setIssuers("sync", issuers);
      flash.setRevoked(sync.revoked);
      flash.setGrants(sync.grants ?? []);
      flash.setSyncVersion(sync.v);
      this.syncVersionValue = sync.v;
      this.revoked = new Set(sync.revoked.map(toHex));
      this.trust = this.buildTrust();
      this.emitEvent({ type: "sync_applied", v: sync.v });
      this.reportTelemetry();
    });
    return null;
  }

  private buildTrust(): TrustStore {
    const store = new TrustStore();
    for (const source of ["factory", "sync"] as const) {
      for (const issuer of this.parts.flash.issuers(source)) {
        try {
          store.add({ kid: issuer.kid, publicKey: issuer.x });
        } catch (e) {
          this.config.logger.warn({ lock: this.lockId, err: (e as Error).message }, "issuer key ignored");
        }
      }
    }
    return store;
  }

  // ── time passing ───────────────────────────────────────────────────────────────────────────────────────────────

  /** Everything due by now on the base clock: auto re-lock, idle battery drain, periodic telemetry. Idempotent. */
  tick(): void {
    if (this.halted) return;
    const now = this.config.baseClock.now();
    if (this.parts.actuator.relockDue(now)) this.lock("relock");
    this.atomically(() => {
      const crossing = this.parts.battery.idle(now);
      if (crossing !== null) this.batteryCrossed(crossing);
      this.reportBatteryChange();
    });
    if (this.config.telemetryIntervalMs > 0 && now >= this.nextTelemetryAtMs) {
      this.nextTelemetryAtMs = now + this.telemetryDelay(false);
      this.reportTelemetry();
    }
  }

  private telemetryDelay(first: boolean): number {
    const interval = this.config.telemetryIntervalMs;
    if (interval <= 0) return Number.POSITIVE_INFINITY;
    const r = this.config.telemetryJitter > 0 ? randomFraction(this.config.random) : 0.5;
    // The first report lands anywhere in the interval, so a fleet started together does not report in lockstep.
    if (first && this.config.telemetryJitter > 0) return Math.floor(r * interval);
    return Math.floor(interval * (1 + this.config.telemetryJitter * (2 * r - 1)));
  }

  private batteryAfterActuation(): void {
    const crossing = this.parts.battery.actuation();
    if (crossing !== null) this.batteryCrossed(crossing);
    this.reportBatteryChange();
  }

  private batteryCrossed(state: BatteryState): void {
    this.emitEvent({ type: "battery_low", code: state });
  }

  private reportBatteryChange(): void {
    const now = this.parts.battery.reading();
    if (now.level !== this.lastReported.level || now.state !== this.lastReported.state) this.reportTelemetry();
  }

  reportTelemetry(): void {
    if (this.halted) return;
    const t = this.telemetry();
    this.lastReported = { level: t.level, mv: t.mv, state: t.state };
    this.afterCommit(() => {
      this.uplink?.publishTelemetry(t);
      this.emit("telemetry", t);
    });
  }

  /**
   * Runs `fn` as one flash transaction; what it would send or announce (events to the broker, telemetry, listeners)
   * goes out only after the commit, so nothing leaves the lock that its flash does not hold.
   */
  private atomically<T>(fn: () => T): T {
    if (this.deferred !== null) return fn();
    const deferred: (() => void)[] = [];
    const before = { nextSeq: this.nextSeq, dropped: this.droppedTotalValue, history: this.history.length };
    this.deferred = deferred;
    try {
      const result = this.parts.flash.atomically(fn);
      this.deferred = null;
      for (const f of deferred) f();
      return result;
    } catch (e) {
      this.deferred = null;
      this.parts.flash.reload();
      this.nextSeq = before.nextSeq;
      this.droppedTotalValue = before.dropped;
      this.history.length = Math.min(this.history.length, before.history);
      throw e;
    }
  }

  private afterCommit(f: () => void): void {
    if (this.deferred === null) f();
    else this.deferred.push(f);
  }

  // ── fault injection ────────────────────────────────────────────────────────────────────────────────────────────

  setJamFault(on: boolean): void {
    this.parts.actuator.setJamFault(on);
    this.emit("change");
  }

  resetClock(): void {
    this.parts.rtc.reset();
    this.emit("change");
  }

  replaceBattery(level: number): void {
    this.parts.battery.replace(level, this.config.baseClock.now());
    this.reportBatteryChange();
    this.emit("change");
  }

  // ── events ─────────────────────────────────────────────────────────────────────────────────────────────────────

  private emitEvent(fields: Omit<EventDraft, "id" | "ts">): LockEvent {
    const draft: EventDraft = { id: this.config.random(EVENT_ID_BYTES), ts: this.parts.rtc.stampSeconds(), ...fields };
    if (draft.key === undefined) delete draft.key;
    const { event, dropped } = this.parts.flash.appendEvent(
      this.nextSeq,
      draft,
      this.config.ringCapacity,
      this.uplink?.inFlight ?? EMPTY,
      this.parts.rtc.floorMs,
    );
    this.nextSeq++;
    for (const d of dropped) {
      this.droppedTotalValue++;
      const credited = this.findHistory(d.creditedSeq);
      if (credited !== undefined) credited.dropped = d.creditedDropped;
    }
    this.history.push(event);
    this.afterCommit(() => {
      if (this.history.length > this.config.eventHistory)
        this.history.splice(0, this.history.length - this.config.eventHistory);
      this.uplink?.publishEvent(event);
      this.emit("event", event);
      this.emit("change");
    });
    return event;
  }

  private findHistory(seq: number): LockEvent | undefined {
    for (let i = this.history.length - 1; i >= 0; i--) {
      const e = this.history[i]!;
      if (e.seq === seq) return e;
      if (e.seq < seq) return undefined;
    }
    return undefined;
  }
}

const EMPTY: ReadonlySet<number> = new Set();
