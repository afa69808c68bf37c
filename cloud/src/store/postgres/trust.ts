import type { AuthorityRecord, LockClaimRecord, LockReportRecord, SignedStateRecord } from "../records.js";
import { authorityRow, lockClaimRow, lockReportRow } from "../rows.js";
import type { AuthorityRepo, LockClaimRepo, LockReportRepo } from "../store.js";
import type { Sql } from "./sql.js";

export class PgAuthorities implements AuthorityRepo {
  constructor(private readonly sql: Sql) {}
  async insert(a: AuthorityRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO authorities (public_key, lock_holder_id, secret_sealed, created_at, hand_over, superseded_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
      [a.publicKey, a.lockHolderId, a.secretSealed, a.createdAt, a.handOver, a.supersededAt],
    );
  }
  async current(lockHolderId: string): Promise<AuthorityRecord | undefined> {
    const r = await this.sql.one(
      "SELECT * FROM authorities WHERE lock_holder_id = $1 AND superseded_at IS NULL ORDER BY created_at DESC LIMIT 1",
      [lockHolderId],
    );
    return r && authorityRow(r);
  }
  async markSuperseded(publicKey: string, at: number): Promise<void> {
    await this.sql.run("UPDATE authorities SET superseded_at = $1 WHERE public_key = $2 AND superseded_at IS NULL", [
      at,
      publicKey,
    ]);
  }
}

export class PgLockClaims implements LockClaimRepo {
  constructor(private readonly sql: Sql) {}
  async insert(c: LockClaimRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO lock_claims (lock_id, lock_holder_id, name, claim_secret_sealed, fingerprint, claimed_at, identity_key,
         agreement_key, reported_authority, max_stale_s, min_iat, last_v, state_doc, state_v, state_iat, state_digest,
         confirmed_at, signed_vs)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
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
    const r = await this.sql.one("SELECT * FROM lock_claims WHERE lock_id = $1 AND lock_holder_id = $2", [
      lockId,
      lockHolderId,
    ]);
    return r && lockClaimRow(r);
  }
  async listForLock(lockId: string): Promise<LockClaimRecord[]> {
    return (await this.sql.all("SELECT * FROM lock_claims WHERE lock_id = $1 ORDER BY lock_holder_id", [lockId])).map(
      lockClaimRow,
    );
  }
  async getMany(lockIds: readonly string[]): Promise<LockClaimRecord[]> {
    if (lockIds.length === 0) return [];
    return (await this.sql.all("SELECT * FROM lock_claims WHERE lock_id = ANY($1::text[])", [lockIds])).map(
      lockClaimRow,
    );
  }
  async listForLockHolder(lockHolderId: string): Promise<LockClaimRecord[]> {
    return (
      await this.sql.all("SELECT * FROM lock_claims WHERE lock_holder_id = $1 ORDER BY lock_id", [lockHolderId])
    ).map(lockClaimRow);
  }
  async reclaim(
    lockId: string,
    lockHolderId: string,
    sealed: string,
    fingerprint: string | null,
    name: string | null,
    unproved: boolean,
  ): Promise<void> {
    await this.sql.run(
      `UPDATE lock_claims SET claim_secret_sealed = $1, fingerprint = $2, name = COALESCE($3, name), identity_key = NULL,
         agreement_key = NULL, reported_authority = NULL, state_digest = NULL,
         confirmed_at = CASE WHEN $4 THEN NULL ELSE confirmed_at END,
         signed_vs = CASE WHEN $4 THEN '[]' ELSE signed_vs END
         WHERE lock_id = $5 AND lock_holder_id = $6`,
      [sealed, fingerprint, name, unproved, lockId, lockHolderId],
    );
  }
  async setPublicKeys(lockId: string, lockHolderId: string, identityKey: string, agreementKey: string): Promise<void> {
    await this.sql.run(
      "UPDATE lock_claims SET identity_key = $1, agreement_key = $2 WHERE lock_id = $3 AND lock_holder_id = $4",
      [identityKey, agreementKey, lockId, lockHolderId],
    );
  }
  async setReportedAuthority(lockId: string, lockHolderId: string, publicKey: string): Promise<void> {
    await this.sql.run("UPDATE lock_claims SET reported_authority = $1 WHERE lock_id = $2 AND lock_holder_id = $3", [
      publicKey,
      lockId,
      lockHolderId,
    ]);
  }
  async setMaxStale(lockId: string, lockHolderId: string, maxStaleS: number | null): Promise<void> {
    await this.sql.run("UPDATE lock_claims SET max_stale_s = $1 WHERE lock_id = $2 AND lock_holder_id = $3", [
      maxStaleS,
      lockId,
      lockHolderId,
    ]);
  }
  async setMinIat(lockId: string, lockHolderId: string, minIat: number): Promise<void> {
    await this.sql.run("UPDATE lock_claims SET min_iat = $1 WHERE lock_id = $2 AND lock_holder_id = $3", [
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
      `UPDATE lock_claims SET state_doc = $1, state_v = $2, state_iat = $3, state_digest = $4,
         last_v = GREATEST(last_v, $2),
         authority_from_v = CASE WHEN state_authority IS NOT DISTINCT FROM $6 THEN authority_from_v ELSE $2 END,
         state_authority = $6, signed_vs = $7
         WHERE lock_id = $5 AND lock_holder_id = $8`,
      [s.doc, s.v, s.iat, s.digest, lockId, s.authority, JSON.stringify(signedVs), lockHolderId],
    );
  }
  async lastV(lockId: string): Promise<number> {
    const r = await this.sql.one("SELECT MAX(last_v) AS v FROM lock_claims WHERE lock_id = $1", [lockId]);
    return r?.v === null || r?.v === undefined ? 0 : Number(r.v);
  }
  async confirm(lockId: string, lockHolderId: string, at: number): Promise<void> {
    await this.sql.run(
      "UPDATE lock_claims SET confirmed_at = $1, signed_vs = '[]' WHERE lock_id = $2 AND lock_holder_id = $3",
      [at, lockId, lockHolderId],
    );
  }
  async delete(lockId: string, lockHolderId: string): Promise<void> {
    await this.sql.run("DELETE FROM lock_claims WHERE lock_id = $1 AND lock_holder_id = $2", [lockId, lockHolderId]);
  }
}

export class PgLockReports implements LockReportRepo {
  constructor(private readonly sql: Sql) {}
  async get(lockId: string): Promise<LockReportRecord | undefined> {
    const r = await this.sql.one("SELECT * FROM lock_reports WHERE lock_id = $1", [lockId]);
    return r && lockReportRow(r);
  }
  async put(r: LockReportRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO lock_reports (lock_id, highest_counter, counter_from, counter_gaps, ack_seq, pending_seqs, refused)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
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
    await this.sql.run("DELETE FROM lock_reports WHERE lock_id = $1", [lockId]);
  }
}
