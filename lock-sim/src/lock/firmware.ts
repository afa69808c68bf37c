import { EventEmitter } from "node:events";
import {
  type BatteryState,
  type Clock,
  type Command,
  type CommandResult,
  type CommandResultCode,
  commandResultBinding,
  EVENT_ID_BYTES,
  type LockEvent,
  type LockState,
  NONCE_BYTES,
  NonceBook,
  NonceRefusedError,
  peekCti,
  type Telemetry,
  type VerifyLockStateResult,
  type VerifyTimeAnswerResult,
} from "@latchkey/protocol";
import type { Logger } from "pino";
import type { EventDraft, LockFlash } from "../flash/lock-flash.js";
import { type RandomSource, randomFraction } from "../random.js";
import type { Actuator } from "./actuator.js";
import type { Battery, BatteryReading } from "./battery.js";
import type { LockIdentityKeys } from "./identity.js";
import { ReportSealer } from "./reports.js";
import { TimeRequestSchedule } from "./time-requests.js";
import type { TrustEngine } from "./trust-engine.js";

/**
 * Where the firmware sends what it has to report: the MQTT link, or nothing when the lock runs offline (then a BLE
 * gateway pulls its reports with `reports`). The link decides when to seal and publish (lock/reports.ts).
 */
export interface Uplink {
  /** Events handed to the broker and not yet PUBACKed: the ring buffer drops these last. */
  readonly inFlight: ReadonlySet<number>;
  /** Connected, with its session set up (keys published, subscriptions made). */
  readonly ready: boolean;
  /** An event was committed to the ring, and the ring dropped these (oldest first) to make room. */
  eventAdded(seq: number, dropped: readonly number[]): void;
  /** A signed state was applied: the report key may have come or changed, the ack moved. */
  stateApplied(): void;
  /** A new telemetry reading (ReportSealer.setTelemetry has it). */
  telemetryChanged(): void;
  /** The lock's time request (`encodeTimeRequest`), for the `time/request` topic. */
  publishTimeRequest(request: Uint8Array): void;
  /** Called on every tick: what is due by the clock (re-sends). */
  poll(): void;
}

export interface FirmwareConfig {
  lockId: string;
  /** Motor, battery, challenge nonces and telemetry run on this (the firmware's tick timer). */
  baseClock: Clock;
  /** The oscillator the trust engine's clock counts on (docs/trust.md "Time"). */
  localClock: Clock;
  random: RandomSource;
  ringCapacity: number;
  telemetryIntervalMs: number;
  telemetryJitter: number;
  eventHistory: number;
  /** An event PUBACKed (or handed to a gateway) but still above the signed ack this long after is sent again. */
  resendMs: number;
  logger: Logger;
}

export interface FirmwareParts {
  flash: LockFlash;
  engine: TrustEngine;
  identity: LockIdentityKeys;
  battery: Battery;
  actuator: Actuator;
  nextSeq: number;
  droppedTotal: number;
  stampFloorMs: number;
}

/** Who asks for a nonce over BLE (one connection), and how many live nonces of a book it may hold. */
export interface NonceHolder {
  id: string;
  max: number;
}

/** A clock correction by a time answer at least this large is an audit event (`clock_set`). */
const CLOCK_EVENT_MS = 1000;

const refusal = (id: string, code: CommandResultCode, message: string, extra: Partial<CommandResult> = {}) => ({
  id,
  ok: false,
  code,
  message,
  ...extra,
});

/**
 * What lock firmware does around protocol (docs/design.md section 7, docs/trust.md "Lock"): every key check, state,
 * time answer and remote command goes through the trust engine, whatever carried it (MQTT, BLE, a phone); every
 * attempt and every applied state becomes an event in flash; events leave the ring only up to the signed `ack`; the
 * motor runs and the battery drains. Commands are answered the same way whatever carried them.
 */
export class LockFirmware extends EventEmitter {
  readonly lockId: string;
  readonly history: LockEvent[] = [];
  readonly reports: ReportSealer;
  private readonly nonces = new NonceBook();
  private readonly timeSchedule = new TimeRequestSchedule();
  private nextSeq: number;
  private droppedTotalValue: number;
  private stampFloorMs: number;
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
    this.droppedTotalValue = parts.droppedTotal;
    this.stampFloorMs = parts.stampFloorMs;
    this.reports = new ReportSealer(parts.engine, parts.flash, config.localClock, config.resendMs);
    this.lastReported = parts.battery.reading();
    this.nextTelemetryAtMs = config.baseClock.now() + this.telemetryDelay(true);
  }

  // ── state ──────────────────────────────────────────────────────────────────────────────────────────────────────

  get engine(): TrustEngine {
    return this.parts.engine;
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

  get flash(): LockFlash {
    return this.parts.flash;
  }

  /** The public keys `ping` answers and the `keys` topic carries. */
  get publicKeys(): { identity: Uint8Array; x25519: Uint8Array } {
    return { identity: this.parts.identity.identityKey, x25519: this.parts.identity.agreementKey };
  }

  telemetry(): Telemetry {
    const b = this.parts.battery.reading();
    return {
      lock: this.lockId,
      ts: this.stampSeconds(),
      level: b.level,
      mv: b.mv,
      state: b.state,
      v: this.engine.stateV,
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

  /**
   * The uplink (re)connected: a fresh telemetry reading and, once an authority is pinned, a time request
   * (docs/trust.md "Lock": at every connect).
   */
  uplinkReady(): void {
    if (this.halted) return;
    this.timeSchedule.reset();
    this.requestTimeIfDue(this.engine.authority !== undefined);
    this.reportTelemetry();
  }

  // ── commands ───────────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Answers one command; every unlock attempt becomes exactly one event. Never throws on bad input. `holder` is the
   * BLE connection asking, when one is: it may hold only a few live nonces of each book (challenges, time requests,
   * command nonces), so nobody in radio range can fill a book the phone or the bridge needs (review 12.8).
   */
  handleCommand(cmd: Command, holder?: NonceHolder): CommandResult {
    if (this.halted) return refusal(cmd.id, "busy", "the lock is powered off");
    switch (cmd.type) {
      case "challenge":
        return this.challenge(cmd.id, holder);
      case "unlock":
        return this.unlock(cmd);
      case "lock":
        return this.lock(cmd.id);
      case "ping":
        return { id: cmd.id, ok: true, state: this.state, v: this.engine.stateV, keys: this.publicKeys };
      case "state":
        return this.stateCommand(cmd.id, cmd.doc);
      case "time_request":
        return this.timeRequestCommand(cmd.id, holder);
      case "time_answer":
        return this.timeAnswerCommand(cmd.id, cmd.answer);
      case "reports":
        return { id: cmd.id, ok: true, v: this.engine.stateV, reports: this.reports.reportsAfter(cmd.after) };
      case "command_nonce":
        return this.commandNonce(cmd.id, holder);
      case "remote":
        return this.remote(cmd.id, cmd.command);
    }
  }

  /**
   * A fresh single-use nonce, valid for 30 s by the base clock (firmware counts this with a tick timer, not its clock).
   * `holder` is the BLE connection asking: it gets at most `holder.max` live nonces. No live nonce is ever evicted for a
   * new one (review 12.8), so a full book or a greedy connection is answered `too_many_challenges` (docs/mqtt.md, "BLE").
   */
  challenge(id: string, holder?: NonceHolder): CommandResult {
    if (this.halted) return refusal(id, "busy", "the lock is powered off");
    const issued = this.nonces.offer(this.config.random(NONCE_BYTES), this.config.baseClock.now(), holder);
    if (issued.ok) return { id, ok: true, nonce: issued.nonce };
    return refusal(
      id,
      "too_many_challenges",
      issued.refusal === "holder_limit"
        ? "this connection already holds its challenges: answer one first"
        : "the lock holds too many live challenges: try again shortly",
    );
  }

  /** Forgets the nonces of a BLE connection that closed, in every book: nothing can answer on it any more. */
  releaseNonces(holderId: string): void {
    this.nonces.release(holderId);
    this.engine.releaseNonces(holderId);
  }

  /**
   * Unlock (docs/design.md section 2) through the trust engine only: its issuers, revocations, minIat, maxStale, time
   * and uncertainty (TrustEngine.checkUnlock). No state: `no_state`; no signed time: `clock_unset`; a state past its
   * maxStale: `state_stale`. The challenge is burnt whatever the answer.
   */
  private unlock(cmd: Extract<Command, { type: "unlock" }>): CommandResult {
    const verdict = this.engine.checkUnlock(
      { token: cmd.token, proof: cmd.proof, nonce: cmd.nonce },
      { nonces: this.nonces, nowMs: this.config.baseClock.now() },
    );
    if (!verdict.ok) {
      this.emitEvent({ type: "denied", code: verdict.code, key: peekCti(cmd.token) });
      return refusal(cmd.id, verdict.code, verdict.message);
    }
    const key = verdict.claims.cti;
    // Motor, battery and event land in flash together: one commit, and nothing is sent before it.
    return this.atomically(() => this.actuateUnlock(cmd.id, { key }));
  }

  private actuateUnlock(id: string, cause: { key?: Uint8Array; cmd?: Uint8Array }): CommandResult {
    const outcome = this.parts.actuator.run("unlocked", this.config.baseClock.now(), this.parts.battery.empty);
    this.batteryAfterActuation();
    if (!outcome.ok) {
      this.emitEvent({ type: "jammed", code: outcome.reason, ...cause });
      return refusal(id, "jammed", `the bolt did not move (${outcome.reason})`);
    }
    this.emitEvent({ type: "unlocked", ...cause });
    return { id, ok: true, state: this.state };
  }

  private lock(id: string): CommandResult {
    if (this.state === "locked") return { id, ok: true, state: "locked" };
    return this.atomically(() => this.actuateLock(id, {}));
  }

  private actuateLock(id: string, cause: { cmd?: Uint8Array }): CommandResult {
    const outcome = this.parts.actuator.run("locked", this.config.baseClock.now(), this.parts.battery.empty);
    this.batteryAfterActuation();
    if (!outcome.ok) {
      this.emitEvent({ type: "jammed", code: outcome.reason, ...cause });
      return refusal(id, "jammed", `the bolt did not move (${outcome.reason})`, { state: this.state });
    }
    this.emitEvent({ type: "locked", ...cause });
    return { id, ok: true, state: "locked" };
  }

  // ── signed documents ───────────────────────────────────────────────────────────────────────────────────────────

  private stateCommand(id: string, doc: Uint8Array): CommandResult {
    const verdict = this.applyState(doc);
    if (!verdict.ok) return refusal(id, verdict.code, verdict.message, { v: this.engine.stateV });
    return { id, ok: true, v: this.engine.stateV };
  }

  /**
   * A signed lock state, from the `state` topic or a `state` command (a bridge, a BLE gateway, a phone): applied by
   * the engine (pin, v, signature, this lock), then in the same flash transaction the events up to its `ack` are freed
   * and a `state_applied` event with its `v` is stored. A refused state changes nothing.
   */
  applyState(bytes: Uint8Array): VerifyLockStateResult {
    const hadAuthority = this.engine.authority !== undefined;
    const verdict = this.atomically(() => {
      const applied = this.engine.applyState(bytes);
      if (applied.ok) {
        this.engine.freeAcknowledgedEvents(this.parts.flash);
        this.emitEvent({ type: "state_applied", v: applied.state.v });
      }
      return applied;
    });
    if (!verdict.ok) return verdict;
    this.reports.forgetThrough(verdict.state.ack);
    this.config.logger.info(
      { lock: this.lockId, v: verdict.state.v, ack: verdict.state.ack, pin: verdict.pin },
      "signed state applied",
    );
    this.uplink?.stateApplied();
    this.reportTelemetry();
    // Pinned just now: the clock has no signed time, so ask at once.
    if (!hadAuthority) this.requestTimeIfDue(true);
    this.emit("change");
    return verdict;
  }

  private timeRequestCommand(id: string, holder?: NonceHolder): CommandResult {
    if (this.engine.authority === undefined) {
      return refusal(id, "no_state", "no authority is pinned yet: deliver a signed state first");
    }
    try {
      return { id, ok: true, request: this.engine.timeRequest(holder) };
    } catch (e) {
      if (!(e instanceof NonceRefusedError)) throw e;
      return refusal(id, "too_many_challenges", "the lock holds too many live time requests: try again shortly");
    }
  }

  private timeAnswerCommand(id: string, answer: Uint8Array): CommandResult {
    const verdict = this.applyTimeAnswer(answer);
    return verdict.ok ? { id, ok: true } : refusal(id, verdict.code, verdict.message);
  }

  /**
   * A signed time answer, from `time/answer` or a `time_answer` command: the engine checks its own nonce, the round
   * trip and the applied iat. The first signed time (also after a clock reset) is a `clock_set` event with code
   * `unset`; a later correction of a second or more one with `behind` (moved forward) or `ahead` (moved back).
   */
  applyTimeAnswer(bytes: Uint8Array): VerifyTimeAnswerResult {
    const hadSigned = this.engine.hasSignedTime;
    const before = this.engine.reading().nowMs;
    const verdict = this.engine.applyTimeAnswer(bytes);
    if (!verdict.ok) return verdict;
    this.timeSchedule.reset();
    const after = this.engine.reading().nowMs!;
    if (!hadSigned) this.emitEvent({ type: "clock_set", code: "unset" });
    else if (before !== undefined && Math.abs(after - before) >= CLOCK_EVENT_MS) {
      this.emitEvent({ type: "clock_set", code: after > before ? "behind" : "ahead" });
    }
    this.emit("change");
    return verdict;
  }

  private commandNonce(id: string, holder?: NonceHolder): CommandResult {
    if (this.engine.authority === undefined) {
      return refusal(id, "no_state", "no authority is pinned yet: it could sign no command");
    }
    try {
      return { id, ok: true, nonce: this.engine.commandNonce(holder) };
    } catch (e) {
      if (!(e instanceof NonceRefusedError)) throw e;
      return refusal(id, "too_many_challenges", "the lock holds too many live command nonces: try again shortly");
    }
  }

  /**
   * A remote command signed by the authority (docs/trust.md "Remote commands"): the engine checks it (its nonce, its
   * counter above the last executed, made durable before the lock acts), then the bolt moves as for a key, with the
   * normal auto-relock, and the event carries `cmd` = sha256(nonce). A refused command answers its code and emits
   * nothing. A `lock` when already locked still answers with a `locked` event: the cloud learns of its success only
   * from an event that names the command.
   */
  private remote(id: string, bytes: Uint8Array): CommandResult {
    const verdict = this.engine.verifyCommand(bytes);
    if (!verdict.ok) {
      this.config.logger.warn({ lock: this.lockId, code: verdict.code }, "remote command refused");
      return refusal(id, verdict.code, verdict.message);
    }
    const cmd = commandResultBinding(verdict.command.nonce);
    if (verdict.command.action === "unlock") return this.atomically(() => this.actuateUnlock(id, { cmd }));
    if (this.state === "locked") {
      this.emitEvent({ type: "locked", cmd });
      return { id, ok: true, state: "locked" };
    }
    return this.atomically(() => this.actuateLock(id, { cmd }));
  }

  // ── time passing ───────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Everything due by now: auto re-lock, idle battery drain, periodic telemetry, a time request when the clock needs
   * one (lock/time-requests.ts), re-sends. Idempotent.
   */
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
    this.requestTimeIfDue(this.engine.needsTime());
    this.uplink?.poll();
  }

  /** Publishes a time request when the uplink is up and the schedule says so (or `needed` at a connect). */
  private requestTimeIfDue(needed: boolean): void {
    const uplink = this.uplink;
    if (uplink === null || !uplink.ready) return;
    if (!this.timeSchedule.due(this.config.localClock.now(), needed)) return;
    let request: Uint8Array;
    try {
      request = this.engine.timeRequest();
    } catch (e) {
      if (!(e instanceof NonceRefusedError)) throw e;
      return; // a book full of live requests: one of them may still be answered
    }
    uplink.publishTimeRequest(request);
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

  /** A new telemetry reading: kept for the couriers (sealed when one takes it), and announced to listeners. */
  reportTelemetry(): void {
    if (this.halted) return;
    const t = this.telemetry();
    this.lastReported = { level: t.level, mv: t.mv, state: t.state };
    this.afterCommit(() => {
      this.reports.setTelemetry(t);
      this.uplink?.telemetryChanged();
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
    const before = {
      nextSeq: this.nextSeq,
      dropped: this.droppedTotalValue,
      history: this.history.length,
      floor: this.stampFloorMs,
    };
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
      this.stampFloorMs = before.floor;
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

  /** The clock loses its time (TrustEngine.forgetTime): no key opens until the next signed time answer. */
  resetClock(): void {
    this.engine.forgetTime();
    this.timeSchedule.reset();
    this.emit("change");
  }

  replaceBattery(level: number): void {
    this.parts.battery.replace(level, this.config.baseClock.now());
    this.reportBatteryChange();
    this.emit("change");
  }

  // ── events ─────────────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * The time to stamp an event or a reading with: the lock's clock, or while it has none the last time it knew (kept in
   * flash, 0 before it ever knew one), never going back, so events stay ordered.
   */
  private stampSeconds(): number {
    const now = this.engine.reading().nowMs;
    if (now !== undefined && now > this.stampFloorMs) this.stampFloorMs = now;
    return Math.floor(this.stampFloorMs / 1000);
  }

  private emitEvent(fields: Omit<EventDraft, "id" | "ts">): LockEvent {
    const draft: EventDraft = { id: this.config.random(EVENT_ID_BYTES), ts: this.stampSeconds(), ...fields };
    if (draft.key === undefined) delete draft.key;
    const { event, dropped } = this.parts.flash.appendEvent(
      this.nextSeq,
      draft,
      this.config.ringCapacity,
      this.uplink?.inFlight ?? EMPTY,
      this.stampFloorMs,
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
      this.uplink?.eventAdded(
        event.seq,
        dropped.map((d) => d.seq),
      );
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
