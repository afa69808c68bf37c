import {
  type Clock,
  decodeSetupCode,
  decodeTimeRequest,
  deriveReportKey,
  keyPairFromSeed,
  type LockEvent,
  openReport,
  pinTag,
  type RemoteAction,
  type ReportVerdict,
  type SignedLockState,
  type StateRevocation,
  signHandOver,
  signLockState,
  signRemoteCommand,
  signTimeAnswer,
  type Telemetry,
  toHex,
  x25519KeyPairFromSeed,
} from "@latchkey/protocol";
import type { SimLock } from "../../src/index.js";
import { seededRandom } from "../../src/random.js";
import { type Issuer, T0 } from "./keys.js";

/**
 * Plays the cloud with protocol's own signers (docs/trust.md): a lock holder's authority that knows a lock's claim
 * secret only from its setup code, as the Integrator API would hand it over.
 */
export interface Authority {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

export function makeAuthority(seed: string): Authority {
  return keyPairFromSeed(seededRandom(`authority:${seed}`)(32));
}

export const reportKeyPair = x25519KeyPairFromSeed(seededRandom("cloud-report-key")(32));
export const REPORT_KID = new Uint8Array([0xa1, 0xa2, 0xa3, 0xa4]);

let lastV = 0;

export interface StateOptions {
  authority: Authority;
  /** The setup code the cloud was given: with it the state carries a pin tag for this authority. */
  setupCode?: string;
  /** Pin tag made with this claim secret instead (a wrong one, for the attacks). */
  claimSecret?: Uint8Array;
  handOver?: Uint8Array;
  /** Payload fields; `v` defaults to one more than any state made so far. */
  state?: Partial<SignedLockState>;
  issuers?: { issuer: Issuer; notAfter: number }[];
}

export function signState(lockId: string, iat: number, options: StateOptions): Uint8Array {
  const state: SignedLockState = {
    lock: lockId,
    v: ++lastV,
    iat,
    issuers: (options.issuers ?? []).map((i) => ({ kid: i.issuer.kid, x: i.issuer.publicKey, notAfter: i.notAfter })),
    revoked: [],
    ack: 0,
    reportKey: { id: REPORT_KID, x: reportKeyPair.publicKey },
    ...options.state,
  };
  lastV = Math.max(lastV, state.v);
  const secret =
    options.claimSecret ??
    (options.setupCode === undefined ? undefined : decodeSetupCode(options.setupCode).claimSecret);
  return signLockState(state, {
    secretKey: options.authority.secretKey,
    ...(secret === undefined ? {} : { pinTag: pinTag(secret, lockId, options.authority.publicKey) }),
    ...(options.handOver === undefined ? {} : { handOver: options.handOver }),
  });
}

export function handOver(from: Authority, to: Authority, fromV: number): Uint8Array {
  return signHandOver({ newKey: to.publicKey, fromV }, from.secretKey);
}

/** The cloud's answer to a lock's time request, at `timeMs` (its own, correct, clock). */
export function answerTime(request: Uint8Array, timeMs: number, authority: Authority): Uint8Array {
  const { lock, nonce } = decodeTimeRequest(request);
  return signTimeAnswer({ lock, nonce, time: timeMs }, authority.secretKey);
}

export function command(
  lockId: string,
  nonce: Uint8Array,
  counter: number,
  authority: Authority,
  action: RemoteAction = "unlock",
): Uint8Array {
  return signRemoteCommand({ lock: lockId, nonce, counter, action }, authority.secretKey);
}

/** What the cloud needs of a lock: its id, the setup code it was claimed with, the keys it reports. */
export type CloudLock = Pick<SimLock, "id" | "setupCode" | "publicKeys">;

interface Held {
  setupCode: string;
  reportKey: Uint8Array;
  issuers: { issuer: Issuer; notAfter: number }[];
  revoked: StateRevocation[];
  maxStale?: number;
  highestCounter?: number;
  events: Map<string, LockEvent>;
  seqs: Set<number>;
  ack: number;
  telemetry: Telemetry[];
  commandCounter: number;
}

/**
 * "The cloud" for lock-sim tests, in one place: a lock holder's authority that claimed each lock with its setup code,
 * signs its states (the issuer keys, the revocations, the `ack` of the events it stored), answers its time requests
 * and signs remote commands with a rising counter; and the report ingest, which opens each sealed report with the
 * cloud's report key (`openReport`: forged, replayed, wrong lock are refused) and stores events by id, moving the
 * ack over every seq stored without a hole, as docs/reports.md "Cloud" does.
 */
export class TestCloud {
  readonly authority: Authority;
  /** Every report verdict, in order. */
  readonly verdicts: { lockId: string; verdict: ReportVerdict["verdict"]; ctr?: number }[] = [];
  private readonly locks = new Map<string, Held>();

  constructor(
    private readonly clock: Clock,
    private readonly issuer: Issuer,
    options: { authority?: Authority } = {},
  ) {
    this.authority = options.authority ?? makeAuthority("test-cloud");
  }

  /** Claims a lock (again after a factory reset: new keys, a new counter state). */
  enroll(lock: CloudLock): void {
    const reportKey = deriveReportKey({
      lockId: lock.id,
      cloudKeyId: REPORT_KID,
      cloudPrivate: reportKeyPair.privateKey,
      peerPublic: lock.publicKeys.agreementKey,
    });
    const before = this.locks.get(lock.id);
    this.locks.set(lock.id, {
      setupCode: lock.setupCode,
      reportKey,
      issuers: before?.issuers ?? [{ issuer: this.issuer, notAfter: T0 + 365 * 86_400 }],
      revoked: before?.revoked ?? [],
      events: new Map(),
      seqs: new Set(),
      ack: 0,
      telemetry: [],
      commandCounter: before?.commandCounter ?? 0,
    });
  }

  private held(lockId: string): Held {
    const held = this.locks.get(lockId);
    if (held === undefined) throw new Error(`the test cloud has not claimed lock ${lockId}`);
    return held;
  }

  revoke(lockId: string, cti: Uint8Array, before?: number): void {
    this.held(lockId).revoked.push(before === undefined ? { cti } : { cti, before });
  }

  setIssuers(lockId: string, issuers: { issuer: Issuer; notAfter: number }[]): void {
    this.held(lockId).issuers = issuers;
  }

  setMaxStale(lockId: string, seconds: number | undefined): void {
    const held = this.held(lockId);
    if (seconds === undefined) delete held.maxStale;
    else held.maxStale = seconds;
  }

  /** The lock's next signed state, as the cloud would sign it now (`iat` = its clock). */
  state(lockId: string, overrides: Partial<SignedLockState> = {}, authority: Authority = this.authority): Uint8Array {
    const held = this.held(lockId);
    const state: Partial<SignedLockState> = { revoked: [...held.revoked], ack: held.ack, ...overrides };
    if (held.maxStale !== undefined && overrides.maxStale === undefined) state.maxStale = held.maxStale;
    return signState(lockId, Math.floor(this.clock.now() / 1000), {
      authority,
      setupCode: held.setupCode,
      issuers: held.issuers,
      state,
    });
  }

  /** The answer to a lock's time request at the cloud's time now (or `atMs`). */
  answerTime(request: Uint8Array, atMs = this.clock.now(), authority: Authority = this.authority): Uint8Array {
    return answerTime(request, atMs, authority);
  }

  /** A remote command bound to the lock's `nonce`, with the next command counter of the lock. */
  command(lockId: string, nonce: Uint8Array, action: RemoteAction = "unlock"): Uint8Array {
    const held = this.held(lockId);
    return command(lockId, nonce, ++held.commandCounter, this.authority, action);
  }

  /** One sealed report, delivered for `lockId`: the verdict, and what an `ok` report carried stored. */
  receive(lockId: string, bytes: Uint8Array): ReportVerdict {
    const held = this.held(lockId);
    const options: Parameters<typeof openReport>[1] = {
      lockId,
      keys: (id, kid) => (id === lockId && toHex(kid) === toHex(REPORT_KID) ? held.reportKey : undefined),
    };
    if (held.highestCounter !== undefined) options.highestCounter = held.highestCounter;
    const verdict = openReport(bytes, options);
    const entry: TestCloud["verdicts"][number] = { lockId, verdict: verdict.verdict };
    if (verdict.ok) entry.ctr = verdict.report.ctr;
    else if (verdict.ctr !== undefined) entry.ctr = verdict.ctr;
    this.verdicts.push(entry);
    if (!verdict.ok) return verdict;
    const report = verdict.report;
    held.highestCounter = report.ctr;
    if (report.kind === "telemetry") {
      held.telemetry.push(report.telemetry);
    } else {
      const id = toHex(report.event.id);
      if (!held.events.has(id)) {
        held.events.set(id, report.event);
        held.seqs.add(report.event.seq);
        while (held.seqs.has(held.ack + 1)) held.ack++;
      }
    }
    return verdict;
  }

  /** The highest event seq stored with no hole below it: what the next state's `ack` says. */
  ack(lockId: string): number {
    return this.held(lockId).ack;
  }

  /** The lock's events the cloud stored, by seq. */
  events(lockId: string): LockEvent[] {
    return [...this.held(lockId).events.values()].sort((a, b) => a.seq - b.seq);
  }

  telemetry(lockId: string): Telemetry[] {
    return this.held(lockId).telemetry;
  }

  /**
   * Claims the lock (unless it holds this very lock already) and gives it a state and signed time straight at the
   * lock, as a BLE courier carrying them would; throws when the lock refuses either.
   */
  provision(lock: SimLock, overrides: Partial<SignedLockState> = {}): void {
    if (this.locks.get(lock.id)?.setupCode !== lock.setupCode) this.enroll(lock);
    const applied = lock.command({ id: "cloud-state", type: "state", doc: this.state(lock.id, overrides) });
    if (!applied.ok) throw new Error(`lock ${lock.id} refused its state: ${applied.code} (${applied.message})`);
    this.giveTime(lock);
  }

  /** One signed time round trip straight at the lock (no time passes); throws when the lock refuses it. */
  giveTime(lock: SimLock): void {
    const asked = lock.command({ id: "cloud-time", type: "time_request" });
    if (!asked.ok || asked.request === undefined)
      throw new Error(`lock ${lock.id} made no time request: ${asked.code}`);
    const answered = lock.command({ id: "cloud-answer", type: "time_answer", answer: this.answerTime(asked.request) });
    if (!answered.ok) throw new Error(`lock ${lock.id} refused its time answer: ${answered.code}`);
  }
}
