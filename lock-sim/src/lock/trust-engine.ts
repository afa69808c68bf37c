import {
  type Clock,
  DEFAULT_LEEWAY_SECONDS,
  DEFAULT_MAX_PPM,
  defaultEd25519,
  deriveReportKey,
  type Ed25519Backend,
  encodeTimeRequest,
  isStateStale,
  LockClock,
  NONCE_BYTES,
  NonceBook,
  NonceRefusedError,
  type Refused,
  type RemoteCommand,
  ReportCounter,
  type SignedLockState,
  StateRevocations,
  type TrustStore,
  type TrustVerdict,
  trustedIssuers,
  type UnlockRequest,
  type VerifyKeyTokenOptions,
  type VerifyKeyTokenResult,
  type VerifyLockStateResult,
  type VerifyTimeAnswerResult,
  verifyKeyToken,
  verifyLockState,
  verifyRemoteCommand,
  verifyTimeAnswer,
  verifyUnlockRequest,
} from "@latchkey/protocol";
import { FlashError } from "../flash/flash-file.js";
import type { IdentityFlash, TrustRow } from "../flash/identity-flash.js";
import type { RandomSource } from "../random.js";
import type { LockIdentityKeys } from "./identity.js";

/**
 * The lock's trust engine (docs/design.md section 7, docs/trust.md "Lock"): what a lock believes, and only from its
 * lock holder's authority. Pure logic over an injected local clock, randomness and the flash; it does no I/O of its
 * own. The firmware (lock/firmware.ts) routes every key check, state, time answer, report and remote command through
 * it, whatever carried them (MQTT, BLE, a phone): there is no other way in.
 *
 * It holds
 * - the pinned authority: pinned from the first state whose pin tag vouches for it with the lock's claim secret; after
 *   that only that authority, or a key it hands over to (protocol verifyLockState does every check);
 * - the applied state: strictly newer `v`, this lock, typ and signature checked before anything is read;
 * - the LockClock: a state moves it forward to its iat, never back; a time answer bound to a nonce of the engine's own
 *   time book (5 s round-trip cap, never below the applied iat) corrects it either way and bounds its uncertainty;
 * - the key-check inputs (`keyCheckOptions`), failing closed with no state, no signed time, or a state past maxStale;
 * - the events it may free (up to the signed `ack`, never further), the report counter and the report key;
 * - remote commands: own nonce book, counter strictly increasing.
 * Everything it accepts is in flash before it is acted on, survives a reboot, and is cleared by a factory reset.
 */

/** Why `keyCheckOptions` refuses: no state yet, no signed time yet, or a state older than its maxStale. */
export type KeyCheckRefusal = "no_state" | "clock_unset" | "state_stale";

export type KeyCheck =
  | {
      ok: true;
      /** Unix seconds by the lock's clock, and how far it may be off: pass both to verifyKeyToken. */
      now: number;
      uncertainty: number;
      trust: TrustStore;
      revoked: StateRevocations;
      /** The zone recurring keys are read in: the applied state's `tz`, signed by the authority like all of it. */
      timeZone?: string;
    }
  | { ok: false; code: KeyCheckRefusal; message: string };

export type EngineKeyResult = VerifyKeyTokenResult | { ok: false; code: KeyCheckRefusal; message: string };

/**
 * Past this uncertainty the lock asks for a signed time answer (docs/trust.md "Lock"): keys then start to stop
 * opening a minute before their end, and a fresh answer brings `u` back to about 2.5 s.
 */
export const TIME_UNCERTAINTY_LIMIT_MS = 60_000;

export interface TrustEngineOptions {
  identity: LockIdentityKeys;
  flash: IdentityFlash;
  /**
   * The lock's local millisecond counter (its oscillator; it may drift by up to maxPpm). It must keep counting across
   * reboots, as a battery-backed RTC does: the signed time is kept as (answer, local reading) pairs.
   */
  localClock: Clock;
  random: RandomSource;
  maxPpm?: number;
  leewaySeconds?: number;
  backend?: Ed25519Backend;
}

export interface ReportKey {
  /** The cloud report key id the state names (each report's `kid`). */
  kid: Uint8Array;
  /** The derived 32-byte HMAC key: a secret, never logged. */
  key: Uint8Array;
}

function issue(book: NonceBook, nonce: Uint8Array, nowMs: number, holder?: { id: string; max: number }): Uint8Array {
  const issued = book.offer(nonce, nowMs, holder);
  if (!issued.ok) throw new NonceRefusedError(issued.refusal);
  return issued.nonce;
}

function noAuthority(what: string): Refused {
  return { ok: false, code: "wrong_authority", message: `no authority is pinned: a ${what} cannot be checked` };
}

export class TrustEngine {
  readonly lockId: string;
  private lockClock: LockClock;
  private readonly maxPpm: number;
  private readonly identity: LockIdentityKeys;
  private readonly flash: IdentityFlash;
  private readonly local: Clock;
  private readonly random: RandomSource;
  private readonly backend: Ed25519Backend;
  private readonly leeway: number;
  /** One nonce book per purpose (docs/trust.md): an answer for one can never pass for another. */
  private readonly timeNonces = new NonceBook();
  private readonly commandNonces = new NonceBook();
  private row: TrustRow;
  private applied: SignedLockState | undefined;
  private counter: ReportCounter;
  private derived: { v: number; key: ReportKey | undefined } | undefined;

  constructor(options: TrustEngineOptions) {
    this.identity = options.identity;
    this.lockId = options.identity.lockId;
    this.flash = options.flash;
    this.local = options.localClock;
    this.random = options.random;
    this.backend = options.backend ?? defaultEd25519;
    this.leeway = options.leewaySeconds ?? DEFAULT_LEEWAY_SECONDS;
    this.maxPpm = options.maxPpm ?? DEFAULT_MAX_PPM;
    this.lockClock = new LockClock(this.maxPpm);
    this.row = options.flash.trust() ?? {
      authority: null,
      state: null,
      commandCounter: 0,
      reportCounter: 0,
      answer: null,
      iatMove: null,
    };
    this.counter = new ReportCounter(this.row.reportCounter);
    this.restore();
  }

  /** Re-reads what flash holds: the state is verified again under the pinned authority (flash is not trusted blindly). */
  private restore(): void {
    const { state, authority, answer, iatMove } = this.row;
    if (state !== null) {
      if (authority === null) throw new FlashError(`lock ${this.lockId}: flash holds a state but no authority`);
      const verdict = verifyLockState(state, { lockId: this.lockId, authority, backend: this.backend });
      if (!verdict.ok || verdict.pin !== "kept") {
        throw new FlashError(
          `lock ${this.lockId}: the state in flash does not verify (${verdict.ok ? verdict.pin : verdict.code}); factory reset it`,
        );
      }
      this.applied = verdict.state;
    }
    // The clock is the last answer, then the last iat that moved it after that answer: replaying both gives it back.
    if (answer !== null) this.lockClock.applyTimeAnswer(answer.timeMs, answer.rttMs, answer.localMs);
    if (iatMove !== null) this.lockClock.applyStateIat(iatMove.iat, iatMove.localMs);
  }

  /** The lock's clock (docs/trust.md "Time"): only signed documents move it. */
  get clock(): LockClock {
    return this.lockClock;
  }

  private save(change: Partial<TrustRow>): void {
    const next = { ...this.row, ...change };
    this.flash.saveTrust(next);
    this.row = next;
  }

  /** The lock's clock now (unix ms, undefined while never set) and how far it may be off (ms, Infinity unsigned). */
  reading(): { nowMs: number | undefined; uncertaintyMs: number } {
    const localMs = this.local.now();
    return { nowMs: this.lockClock.nowMs(localMs), uncertaintyMs: this.lockClock.uncertaintyMs(localMs) };
  }

  /** Whether a signed time answer bounds the clock (before one, or after `forgetTime`, no key opens). */
  get hasSignedTime(): boolean {
    return this.lockClock.signed;
  }

  /**
   * Whether the lock should ask for a signed time answer now: it has an authority to ask, and its clock has no signed
   * time or may be more than TIME_UNCERTAINTY_LIMIT_MS off (docs/trust.md "Lock").
   */
  needsTime(): boolean {
    if (this.authority === undefined) return false;
    return this.lockClock.uncertaintyMs(this.local.now()) > TIME_UNCERTAINTY_LIMIT_MS;
  }

  /**
   * The clock loses its time (its backup cell died, so the local counter the signed time hangs on stopped): the signed
   * time and the forward moves by states are forgotten, in flash too, and no key opens until the next time answer.
   * The applied state stays.
   */
  forgetTime(): void {
    this.save({ answer: null, iatMove: null });
    this.lockClock = new LockClock(this.maxPpm);
  }

  /** The pinned authority key, or undefined while unpinned (new, or after a factory reset). */
  get authority(): Uint8Array | undefined {
    return this.row.authority ?? undefined;
  }

  /** The applied state, or undefined before the first. */
  get state(): SignedLockState | undefined {
    return this.applied;
  }

  /** The `v` of the applied state, 0 before the first (what `ping` and telemetry report). */
  get stateV(): number {
    return this.applied?.v ?? 0;
  }

  /** The counter of the last remote command executed (0 before the first). */
  get commandCounter(): number {
    return this.row.commandCounter;
  }

  /** The last report counter used (0 before the first report). */
  get reportCounter(): number {
    return this.counter.last;
  }

  /**
   * Verifies a signed lock state and, when it is accepted, makes it durable before it takes effect: pin (first or by
   * hand-over), state, and the clock moved forward to its iat. A refused state changes nothing.
   */
  applyState(bytes: Uint8Array): VerifyLockStateResult {
    const verdict = verifyLockState(bytes, {
      lockId: this.lockId,
      authority: this.authority,
      claimSecret: this.identity.claimSecret,
      currentV: this.applied?.v,
      backend: this.backend,
    });
    if (!verdict.ok) return verdict;
    const localMs = this.local.now();
    // Forward only: recorded when it moves the clock, so a reboot replays it after the last answer.
    const moves = (this.clock.nowMs(localMs) ?? Number.NEGATIVE_INFINITY) < verdict.state.iat * 1000;
    this.save({
      authority: new Uint8Array(verdict.authority),
      state: new Uint8Array(bytes),
      ...(moves ? { iatMove: { iat: verdict.state.iat, localMs } } : {}),
    });
    this.applied = verdict.state;
    if (moves) this.lockClock.applyStateIat(verdict.state.iat, localMs);
    return verdict;
  }

  /**
   * A time request (docs/trust.md "Time request"): a fresh nonce of the time book. Throws NonceRefusedError when the
   * book is full of live nonces, or `holder` (one BLE connection) already holds its share.
   */
  timeRequest(holder?: { id: string; max: number }): Uint8Array {
    const nonce = issue(this.timeNonces, this.random(NONCE_BYTES), this.local.now(), holder);
    return encodeTimeRequest({ lock: this.lockId, nonce });
  }

  /** Forgets the time and command nonces `holderId` (a BLE connection that closed) holds. */
  releaseNonces(holderId: string): void {
    this.timeNonces.release(holderId);
    this.commandNonces.release(holderId);
  }

  /** Verifies a time answer against the time book and the applied iat; when accepted, sets the clock and persists it. */
  applyTimeAnswer(bytes: Uint8Array): VerifyTimeAnswerResult {
    const authority = this.authority;
    if (authority === undefined) return noAuthority("time answer");
    const localMs = this.local.now();
    const options: Parameters<typeof verifyTimeAnswer>[1] = {
      lockId: this.lockId,
      authority,
      nonces: this.timeNonces,
      nowMs: localMs,
      backend: this.backend,
    };
    if (this.applied !== undefined) options.stateIat = this.applied.iat;
    const verdict = verifyTimeAnswer(bytes, options);
    if (!verdict.ok) return verdict;
    this.save({ answer: { timeMs: verdict.time, rttMs: verdict.rttMs, localMs }, iatMove: null });
    this.lockClock.applyTimeAnswer(verdict.time, verdict.rttMs, localMs);
    return verdict;
  }

  /**
   * What verifyKeyToken needs, from the applied state and the clock now (docs/trust.md "Applying a state"): issuers
   * whose notAfter may have passed are gone, revocations and minIat apply, and the uncertainty widens every bound.
   * Fails closed with no state, no signed time, or a state past its maxStale.
   */
  keyCheckOptions(): KeyCheck {
    const state = this.applied;
    if (state === undefined) return { ok: false, code: "no_state", message: "no signed state applied yet" };
    const time = this.lockClock.tokenTime(this.local.now());
    if (time === undefined) return { ok: false, code: "clock_unset", message: "no signed time answer yet" };
    if (isStateStale(state, time)) {
      return {
        ok: false,
        code: "state_stale",
        message: `the applied state is older than maxStale ${state.maxStale} s`,
      };
    }
    return {
      ok: true,
      now: time.now,
      uncertainty: time.uncertainty,
      trust: trustedIssuers(state, time, this.leeway),
      revoked: new StateRevocations(state),
      ...(state.tz !== undefined ? { timeZone: state.tz } : {}),
    };
  }

  /** A key token checked with `keyCheckOptions` (the proof of possession is the caller's, as today). */
  checkKeyToken(token: Uint8Array): EngineKeyResult {
    const check = this.keyCheckOptions();
    if (!check.ok) return check;
    return verifyKeyToken(token, this.verifyOptions(check));
  }

  /** verifyKeyToken's options for this lock from a passed key check. */
  private verifyOptions(check: Extract<KeyCheck, { ok: true }>): VerifyKeyTokenOptions {
    return {
      lockId: this.lockId,
      now: check.now,
      uncertainty: check.uncertainty,
      trust: check.trust,
      revoked: check.revoked,
      ...(check.timeZone !== undefined ? { timeZone: check.timeZone } : {}),
      leeway: this.leeway,
      backend: this.backend,
    };
  }

  /**
   * A whole unlock request (docs/design.md section 2) checked with `keyCheckOptions`: the challenge nonce is consumed
   * first, so it is burnt whatever the answer, also when the lock refuses for want of a state or of signed time.
   */
  checkUnlock(request: UnlockRequest, challenge: { nonces: NonceBook; nowMs: number }): EngineKeyResult {
    const check = this.keyCheckOptions();
    if (!check.ok) {
      challenge.nonces.consume(request.nonce, challenge.nowMs);
      return check;
    }
    return verifyUnlockRequest(request, {
      ...this.verifyOptions(check),
      nonces: challenge.nonces,
      nowMs: challenge.nowMs,
    });
  }

  /** The highest event seq the lock may free: the signed `ack`, and nothing without a state (no PUBACK frees events). */
  get freeableThrough(): number {
    return this.applied?.ack ?? 0;
  }

  /** Frees stored events up to the signed ack, never further; answers how many left flash. */
  freeAcknowledgedEvents(ring: { ackEventsThrough(seq: number): number }): number {
    const through = this.freeableThrough;
    return through > 0 ? ring.ackEventsThrough(through) : 0;
  }

  /**
   * The key reports are MACed with (protocol deriveReportKey, docs/reports.md): X25519 of the lock's key and the cloud
   * key the applied state names. Undefined with no state, or when that key gives no secret (weak_key).
   */
  reportKey(): ReportKey | undefined {
    const state = this.applied;
    if (state === undefined) return undefined;
    if (this.derived?.v !== state.v) {
      let key: ReportKey | undefined;
      try {
        key = {
          kid: new Uint8Array(state.reportKey.id),
          key: deriveReportKey({
            lockId: this.lockId,
            cloudKeyId: state.reportKey.id,
            lockPrivate: this.identity.agreementSecret,
            peerPublic: state.reportKey.x,
          }),
        };
      } catch {
        key = undefined;
      }
      this.derived = { v: state.v, key };
    }
    return this.derived.key;
  }

  /** The next report counter, durable before it is returned (a reboot never reuses one). */
  nextReportCounter(): number {
    const next = new ReportCounter(this.counter.last).next();
    this.save({ reportCounter: next });
    this.counter = new ReportCounter(next);
    return next;
  }

  /** A fresh nonce of the command book for the cloud to bind a remote command to; refusals as `timeRequest`. */
  commandNonce(holder?: { id: string; max: number }): Uint8Array {
    return issue(this.commandNonces, this.random(NONCE_BYTES), this.local.now(), holder);
  }

  /**
   * Verifies a remote command (pinned authority, own nonce, counter above the last executed); when accepted its
   * counter is in flash before the caller acts on it, so a replay after a reboot is still `stale_counter`.
   */
  verifyCommand(bytes: Uint8Array): TrustVerdict<{ command: RemoteCommand }> {
    const authority = this.authority;
    if (authority === undefined) return noAuthority("command");
    const verdict = verifyRemoteCommand(bytes, {
      lockId: this.lockId,
      authority,
      nonces: this.commandNonces,
      nowMs: this.local.now(),
      lastCounter: this.row.commandCounter,
      backend: this.backend,
    });
    if (verdict.ok) this.save({ commandCounter: verdict.command.counter });
    return verdict;
  }
}
