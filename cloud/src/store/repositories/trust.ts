import type { AuthorityRecord, LockClaimRecord, LockReportRecord, SignedStateRecord } from "../records.js";
import { authorityRow, lockClaimRow, lockReportRow } from "../rows.js";
import { rowsWhereAnyOf, type Sql } from "../sql.js";
import type { AuthorityRepo, LockClaimRepo, LockReportRepo } from "../store.js";

export class Authorities implements AuthorityRepo {
  constructor(private readonly sql: Sql) {}
  async insert(a: AuthorityRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO authorities (public_key, lock_holder_id, secret_sealed, created_at, hand_over, superseded_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      [a.publicKey, a.lockHolderId, a.secretSealed, a.createdAt, a.handOver, a.supersededAt],
    );
  }
  async current(lockHolderId: string): Promise<AuthorityRecord | undefined> {
    const r = await this.sql.get(
      "SELECT * FROM authorities WHERE lock_holder_id = ? AND superseded_at IS NULL ORDER BY created_at DESC LIMIT 1",
      [lockHolderId],
    );
    return r && authorityRow(r);
  }
  async markSuperseded(publicKey: string, at: number): Promise<void> {
    await this.sql.run("UPDATE authorities SET superseded_at = ? WHERE public_key = ? AND superseded_at IS NULL", [
      at,
      publicKey,
    ]);
  }
}

export class LockClaims implements LockClaimRepo {
  constructor(private readonly sql: Sql) {}
  async insert(c: LockClaimRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO lock_claims (lock_id, lock_holder_id, name, claim_secret_sealed, fingerprint, claimed_at, identity_key,
         agreement_key, reported_authority, max_stale_s, min_iat, last_v, state_doc, state_v, state_iat, state_digest,
         confirmed_at, signed_vs)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
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
      ],
    );
  }
  async get(lockId: string, lockHolderId: string): Promise<LockClaimRecord | undefined> {
    const r = await this.sql.get("SELECT * FROM lock_claims WHERE lock_id = ? AND lock_holder_id = ?", [
      lockId,
      lockHolderId,
    ]);
    return r && lockClaimRow(r);
  }
  async listForLock(lockId: string): Promise<LockClaimRecord[]> {
    const rows = await this.sql.all("SELECT * FROM lock_claims WHERE lock_id = ? ORDER BY lock_holder_id", [lockId]);
    return rows.map(lockClaimRow);
  }
  async getMany(lockIds: readonly string[]): Promise<LockClaimRecord[]> {
    return (await rowsWhereAnyOf(this.sql, "lock_claims", "lock_id", lockIds)).map(lockClaimRow);
  }
  async listForLockHolder(lockHolderId: string): Promise<LockClaimRecord[]> {
    const rows = await this.sql.all("SELECT * FROM lock_claims WHERE lock_holder_id = ? ORDER BY lock_id", [
      lockHolderId,
    ]);
    return rows.map(lockClaimRow);
  }
  async reclaim(
    lockId: string,
    lockHolderId: string,
    sealed: string,
    fingerprint: string | null,
    name: string | null,
    unproved: boolean,
  ): Promise<void> {
    const flag = unproved ? 1 : 0;
    await this.sql.run(
      `UPDATE lock_claims SET claim_secret_sealed = ?, fingerprint = ?, name = COALESCE(?, name), identity_key = NULL,
         agreement_key = NULL, reported_authority = NULL, state_digest = NULL,
         confirmed_at = CASE WHEN ? = 1 THEN NULL ELSE confirmed_at END,
         signed_vs = CASE WHEN ? = 1 THEN '[]' ELSE signed_vs END
         WHERE lock_id = ? AND lock_holder_id = ?`,
      [sealed, fingerprint, name, flag, flag, lockId, lockHolderId],
    );
  }
  async setPublicKeys(lockId: string, lockHolderId: string, identityKey: string, agreementKey: string): Promise<void> {
    await this.sql.run(
      "UPDATE lock_claims SET identity_key = ?, agreement_key = ? WHERE lock_id = ? AND lock_holder_id = ?",
      [identityKey, agreementKey, lockId, lockHolderId],
    );
  }
  async setReportedAuthority(lockId: string, lockHolderId: string, publicKey: string): Promise<void> {
    await this.sql.run("UPDATE lock_claims SET reported_authority = ? WHERE lock_id = ? AND lock_holder_id = ?", [
      publicKey,
      lockId,
      lockHolderId,
    ]);
  }
  async setMaxStale(lockId: string, lockHolderId: string, maxStaleS: number | null): Promise<void> {
    await this.sql.run("UPDATE lock_claims SET max_stale_s = ? WHERE lock_id = ? AND lock_holder_id = ?", [
      maxStaleS,
      lockId,
      lockHolderId,
    ]);
  }
  async setMinIat(lockId: string, lockHolderId: string, minIat: number): Promise<void> {
    await this.sql.run("UPDATE lock_claims SET min_iat = ? WHERE lock_id = ? AND lock_holder_id = ?", [
      minIat,
      lockId,
      lockHolderId,
    ]);
  }
  async saveState(
    lockId: string,
    lockHolderId: string,
    s: SignedStateRecord,
    signedVs: readonly number[],
  ): Promise<void> {
    await this.sql.run(
      `UPDATE lock_claims SET state_doc = ?, state_v = ?, state_iat = ?, state_digest = ?,
         last_v = ${this.sql.dialect.greatest}(last_v, ?),
         authority_from_v = CASE WHEN state_authority IS NOT DISTINCT FROM ? THEN authority_from_v ELSE ? END,
         state_authority = ?, signed_vs = ?
         WHERE lock_id = ? AND lock_holder_id = ?`,
      [s.doc, s.v, s.iat, s.digest, s.v, s.authority, s.v, s.authority, JSON.stringify(signedVs), lockId, lockHolderId],
    );
  }
  async lastV(lockId: string): Promise<number> {
    const r = await this.sql.get("SELECT MAX(last_v) AS v FROM lock_claims WHERE lock_id = ?", [lockId]);
    return r?.v ?? 0;
  }
  async confirm(lockId: string, lockHolderId: string, at: number): Promise<void> {
    await this.sql.run(
      "UPDATE lock_claims SET confirmed_at = ?, signed_vs = '[]' WHERE lock_id = ? AND lock_holder_id = ?",
      [at, lockId, lockHolderId],
    );
  }
  async delete(lockId: string, lockHolderId: string): Promise<void> {
    await this.sql.run("DELETE FROM lock_claims WHERE lock_id = ? AND lock_holder_id = ?", [lockId, lockHolderId]);
  }
}

export class LockReports implements LockReportRepo {
  constructor(private readonly sql: Sql) {}
  async get(lockId: string): Promise<LockReportRecord | undefined> {
    const r = await this.sql.get("SELECT * FROM lock_reports WHERE lock_id = ?", [lockId]);
    return r && lockReportRow(r);
  }
  async getMany(lockIds: readonly string[]): Promise<LockReportRecord[]> {
    return (await rowsWhereAnyOf(this.sql, "lock_reports", "lock_id", lockIds)).map(lockReportRow);
  }
  async getManyForUpdate(lockIds: readonly string[]): Promise<LockReportRecord[]> {
    return (await this.sql.rowsForUpdate("lock_reports", "lock_id", lockIds)).map(lockReportRow);
  }
  async put(r: LockReportRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO lock_reports (lock_id, highest_counter, counter_from, counter_gaps, ack_seq, pending_seqs, refused)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (lock_id) DO UPDATE SET highest_counter = excluded.highest_counter,
         counter_from = excluded.counter_from, counter_gaps = excluded.counter_gaps, ack_seq = excluded.ack_seq,
         pending_seqs = excluded.pending_seqs, refused = excluded.refused`,
      [
        r.lockId,
        r.highestCounter,
        r.counterFrom,
        JSON.stringify(r.counterGaps),
        r.ackSeq,
        JSON.stringify(r.pendingSeqs),
        JSON.stringify(r.refused),
      ],
    );
  }
  async reset(lockId: string): Promise<void> {
    await this.sql.run("DELETE FROM lock_reports WHERE lock_id = ?", [lockId]);
  }
}
