import type Database from "better-sqlite3";
import type { AuthorityRecord, LockClaimRecord, LockReportRecord, SignedStateRecord } from "../records.js";
import { authorityRow, lockClaimRow, lockReportRow, type Row } from "../rows.js";
import type { AuthorityRepo, LockClaimRepo, LockReportRepo } from "../store.js";
import { prep } from "./statements.js";

export class SqliteAuthorities implements AuthorityRepo {
  constructor(private readonly db: Database.Database) {}
  async insert(a: AuthorityRecord): Promise<void> {
    prep(
      this.db,
      `INSERT INTO authorities (public_key, lock_holder_id, secret_sealed, created_at, hand_over, superseded_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(a.publicKey, a.lockHolderId, a.secretSealed, a.createdAt, a.handOver, a.supersededAt);
  }
  async current(lockHolderId: string): Promise<AuthorityRecord | undefined> {
    const r: Row = prep(
      this.db,
      "SELECT * FROM authorities WHERE lock_holder_id = ? AND superseded_at IS NULL ORDER BY created_at DESC LIMIT 1",
    ).get(lockHolderId);
    return r && authorityRow(r);
  }
  async markSuperseded(publicKey: string, at: number): Promise<void> {
    prep(this.db, "UPDATE authorities SET superseded_at = ? WHERE public_key = ? AND superseded_at IS NULL").run(
      at,
      publicKey,
    );
  }
}

export class SqliteLockClaims implements LockClaimRepo {
  constructor(private readonly db: Database.Database) {}
  async insert(c: LockClaimRecord): Promise<void> {
    prep(
      this.db,
      `INSERT INTO lock_claims (lock_id, lock_holder_id, name, claim_secret_sealed, fingerprint, claimed_at, identity_key,
         agreement_key, reported_authority, max_stale_s, min_iat, last_v, state_doc, state_v, state_iat, state_digest,
         confirmed_at, signed_vs)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      c.lockId,
      c.lockHolderId,
      c.name,
      c.claimSecretSealed,
      c.fingerprint,
      c.claimedAt,
      c.identityKey,
      c.agreementKey,
      c.reportedAuthority,
      c.maxStaleS,
      c.minIat,
      c.lastV,
      c.stateDoc,
      c.stateV,
      c.stateIat,
      c.stateDigest,
      c.confirmedAt,
      JSON.stringify(c.signedVs),
    );
  }
  async get(lockId: string, lockHolderId: string): Promise<LockClaimRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM lock_claims WHERE lock_id = ? AND lock_holder_id = ?").get(
      lockId,
      lockHolderId,
    );
    return r && lockClaimRow(r);
  }
  async listForLock(lockId: string): Promise<LockClaimRecord[]> {
    return prep(this.db, "SELECT * FROM lock_claims WHERE lock_id = ? ORDER BY lock_holder_id")
      .all(lockId)
      .map(lockClaimRow);
  }
  async getMany(lockIds: readonly string[]): Promise<LockClaimRecord[]> {
    if (lockIds.length === 0) return [];
    const marks = lockIds.map(() => "?").join(", ");
    return prep(this.db, `SELECT * FROM lock_claims WHERE lock_id IN (${marks})`)
      .all(...lockIds)
      .map(lockClaimRow);
  }
  async listForLockHolder(lockHolderId: string): Promise<LockClaimRecord[]> {
    return prep(this.db, "SELECT * FROM lock_claims WHERE lock_holder_id = ? ORDER BY lock_id")
      .all(lockHolderId)
      .map(lockClaimRow);
  }
  async reclaim(
    lockId: string,
    lockHolderId: string,
    sealed: string,
    fingerprint: string | null,
    name: string | null,
    unproved: boolean,
  ): Promise<void> {
    prep(
      this.db,
      `UPDATE lock_claims SET claim_secret_sealed = ?, fingerprint = ?, name = COALESCE(?, name), identity_key = NULL,
         agreement_key = NULL, reported_authority = NULL, state_digest = NULL,
         confirmed_at = CASE WHEN ? THEN NULL ELSE confirmed_at END,
         signed_vs = CASE WHEN ? THEN '[]' ELSE signed_vs END
         WHERE lock_id = ? AND lock_holder_id = ?`,
    ).run(sealed, fingerprint, name, unproved ? 1 : 0, unproved ? 1 : 0, lockId, lockHolderId);
  }
  async setPublicKeys(lockId: string, lockHolderId: string, identityKey: string, agreementKey: string): Promise<void> {
    prep(
      this.db,
      "UPDATE lock_claims SET identity_key = ?, agreement_key = ? WHERE lock_id = ? AND lock_holder_id = ?",
    ).run(identityKey, agreementKey, lockId, lockHolderId);
  }
  async setReportedAuthority(lockId: string, lockHolderId: string, publicKey: string): Promise<void> {
    prep(this.db, "UPDATE lock_claims SET reported_authority = ? WHERE lock_id = ? AND lock_holder_id = ?").run(
      publicKey,
      lockId,
      lockHolderId,
    );
  }
  async setMaxStale(lockId: string, lockHolderId: string, maxStaleS: number | null): Promise<void> {
    prep(this.db, "UPDATE lock_claims SET max_stale_s = ? WHERE lock_id = ? AND lock_holder_id = ?").run(
      maxStaleS,
      lockId,
      lockHolderId,
    );
  }
  async setMinIat(lockId: string, lockHolderId: string, minIat: number): Promise<void> {
    prep(this.db, "UPDATE lock_claims SET min_iat = ? WHERE lock_id = ? AND lock_holder_id = ?").run(
      minIat,
      lockId,
      lockHolderId,
    );
  }
  async saveState(
    lockId: string,
    lockHolderId: string,
    s: SignedStateRecord,
    signedVs: readonly number[],
  ): Promise<void> {
    prep(
      this.db,
      `UPDATE lock_claims SET state_doc = ?, state_v = ?, state_iat = ?, state_digest = ?, last_v = MAX(last_v, ?),
         authority_from_v = CASE WHEN state_authority IS ? THEN authority_from_v ELSE ? END, state_authority = ?,
         signed_vs = ?
         WHERE lock_id = ? AND lock_holder_id = ?`,
    ).run(
      s.doc,
      s.v,
      s.iat,
      s.digest,
      s.v,
      s.authority,
      s.v,
      s.authority,
      JSON.stringify(signedVs),
      lockId,
      lockHolderId,
    );
  }
  async lastV(lockId: string): Promise<number> {
    const r: Row = prep(this.db, "SELECT MAX(last_v) AS v FROM lock_claims WHERE lock_id = ?").get(lockId);
    return r?.v ?? 0;
  }
  async confirm(lockId: string, lockHolderId: string, at: number): Promise<void> {
    prep(
      this.db,
      "UPDATE lock_claims SET confirmed_at = ?, signed_vs = '[]' WHERE lock_id = ? AND lock_holder_id = ?",
    ).run(at, lockId, lockHolderId);
  }
  async delete(lockId: string, lockHolderId: string): Promise<void> {
    prep(this.db, "DELETE FROM lock_claims WHERE lock_id = ? AND lock_holder_id = ?").run(lockId, lockHolderId);
  }
}

export class SqliteLockReports implements LockReportRepo {
  constructor(private readonly db: Database.Database) {}
  async get(lockId: string): Promise<LockReportRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM lock_reports WHERE lock_id = ?").get(lockId);
    return r && lockReportRow(r);
  }
  async put(r: LockReportRecord): Promise<void> {
    prep(
      this.db,
      `INSERT INTO lock_reports (lock_id, highest_counter, counter_from, counter_gaps, ack_seq, pending_seqs, refused)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (lock_id) DO UPDATE SET highest_counter = excluded.highest_counter,
         counter_from = excluded.counter_from, counter_gaps = excluded.counter_gaps, ack_seq = excluded.ack_seq,
         pending_seqs = excluded.pending_seqs, refused = excluded.refused`,
    ).run(
      r.lockId,
      r.highestCounter,
      r.counterFrom,
      JSON.stringify(r.counterGaps),
      r.ackSeq,
      JSON.stringify(r.pendingSeqs),
      JSON.stringify(r.refused),
    );
  }
  async reset(lockId: string): Promise<void> {
    prep(this.db, "DELETE FROM lock_reports WHERE lock_id = ?").run(lockId);
  }
}
