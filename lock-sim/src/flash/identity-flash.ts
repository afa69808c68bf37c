import { columnGroup } from "@latchkey/runtime";
import type Database from "better-sqlite3";

/**
 * The flash rows of a lock's identity and trust engine (docs/trust.md "Lock"), kept apart from lock-flash.ts (the
 * firmware's record and event ring) because they have another life: the identity outlives a factory reset.
 *
 * - `lock_identity`: the factory part (format, claim secret: never changes, it is printed on the lock) and the keys
 *   made at first boot (replaced by a factory reset).
 * - `lock_trust`: what the trust engine has accepted (pinned authority, applied state bytes, counters, the last signed
 *   time); a factory reset deletes the row.
 */
export interface IdentityRow {
  format: number;
  claimSecret: Uint8Array;
  /** Ed25519 secret key (32-byte seed). */
  identitySecret: Uint8Array;
  /** X25519 private key. */
  agreementSecret: Uint8Array;
}

export interface TrustRow {
  authority: Uint8Array | null;
  /** The raw bytes of the applied signed state: re-verified at boot under the pinned authority. */
  state: Uint8Array | null;
  commandCounter: number;
  reportCounter: number;
  /** The last signed time answer applied (time, round trip, local ms at receipt). */
  answer: { timeMs: number; rttMs: number; localMs: number } | null;
  /** A state's iat that moved the clock forward after that answer (or with none yet). */
  iatMove: { iat: number; localMs: number } | null;
}

interface IdentitySql {
  format: number;
  claim_secret: Buffer;
  identity_secret: Buffer;
  agreement_secret: Buffer;
}

interface TrustSql {
  authority: Buffer | null;
  state: Buffer | null;
  command_counter: number;
  report_counter: number;
  answer_time_ms: number | null;
  answer_rtt_ms: number | null;
  answer_local_ms: number | null;
  iat_moved_s: number | null;
  iat_local_ms: number | null;
}

function prepare(db: Database.Database) {
  return {
    getIdentity: db.prepare<[string], IdentitySql>(
      "SELECT format, claim_secret, identity_secret, agreement_secret FROM lock_identity WHERE lock = ?",
    ),
    putIdentity: db.prepare(
      "INSERT OR REPLACE INTO lock_identity (lock, format, claim_secret, identity_secret, agreement_secret) VALUES (?, ?, ?, ?, ?)",
    ),
    hasPartition: db.prepare<[string], { n: number }>("SELECT COUNT(*) AS n FROM lock_state WHERE lock = ?"),
    getTrust: db.prepare<[string], TrustSql>("SELECT * FROM lock_trust WHERE lock = ?"),
    putTrust: db.prepare(
      `INSERT OR REPLACE INTO lock_trust (lock, authority, state, command_counter, report_counter, answer_time_ms,
        answer_rtt_ms, answer_local_ms, iat_moved_s, iat_local_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    wipe: ["lock_trust", "lock_state", "events"].map((table) => db.prepare(`DELETE FROM ${table} WHERE lock = ?`)),
  };
}

type Statements = ReturnType<typeof prepare>;
const cache = new WeakMap<Database.Database, Statements>();

function statements(db: Database.Database): Statements {
  let s = cache.get(db);
  if (s === undefined) {
    s = prepare(db);
    cache.set(db, s);
  }
  return s;
}

const bytes = (b: Buffer): Uint8Array => new Uint8Array(b);

/** One lock's identity and trust rows. */
export class IdentityFlash {
  private readonly s: Statements;

  constructor(
    private readonly db: Database.Database,
    readonly lockId: string,
  ) {
    this.s = statements(db);
  }

  identity(): IdentityRow | undefined {
    const row = this.s.getIdentity.get(this.lockId);
    if (row === undefined) return undefined;
    return {
      format: row.format,
      claimSecret: bytes(row.claim_secret),
      identitySecret: bytes(row.identity_secret),
      agreementSecret: bytes(row.agreement_secret),
    };
  }

  writeIdentity(row: IdentityRow): void {
    this.s.putIdentity.run(this.lockId, row.format, row.claimSecret, row.identitySecret, row.agreementSecret);
  }

  /** Whether the lock has booted on this flash before (it has a lock_state row). */
  hasPartition(): boolean {
    return this.s.hasPartition.get(this.lockId)!.n > 0;
  }

  trust(): TrustRow | undefined {
    const r = this.s.getTrust.get(this.lockId);
    if (r === undefined) return undefined;
    return {
      authority: r.authority === null ? null : bytes(r.authority),
      state: r.state === null ? null : bytes(r.state),
      commandCounter: r.command_counter,
      reportCounter: r.report_counter,
      answer: columnGroup({ timeMs: r.answer_time_ms, rttMs: r.answer_rtt_ms, localMs: r.answer_local_ms }),
      iatMove: columnGroup({ iat: r.iat_moved_s, localMs: r.iat_local_ms }),
    };
  }

  saveTrust(t: TrustRow): void {
    this.s.putTrust.run(
      this.lockId,
      t.authority,
      t.state,
      t.commandCounter,
      t.reportCounter,
      t.answer?.timeMs ?? null,
      t.answer?.rttMs ?? null,
      t.answer?.localMs ?? null,
      t.iatMove?.iat ?? null,
      t.iatMove?.localMs ?? null,
    );
  }

  /**
   * Factory reset: new keys, and everything but the factory part is gone (pin, applied state, counters, signed time,
   * events, the lock's record), in one transaction.
   */
  factoryReset(row: IdentityRow): void {
    this.db.transaction(() => {
      for (const statement of this.s.wipe) statement.run(this.lockId);
      this.writeIdentity(row);
    })();
  }
}
