import type Database from "better-sqlite3";
import type {
  AccessTokenRecord,
  BridgeRecord,
  ClientRecord,
  DeviceRecord,
  IntegratorRecord,
  IssuerKeyRecord,
  LockHolderRecord,
  Page,
  PageRequest,
  SecretHashes,
  VerificationRecord,
} from "../records.js";
import {
  accessTokenRow,
  bridgeRow,
  clientRow,
  deviceRow,
  integratorRow,
  issuerKeyRow,
  lockHolderRow,
  type Row,
  toPage,
  verificationRow,
} from "../rows.js";
import type {
  AccessTokenRepo,
  BridgeRepo,
  DeviceRepo,
  IntegratorRepo,
  IssuerKeyRepo,
  LockHolderRepo,
  MetaRepo,
  NonceRepo,
  OtpEventKind,
  OtpLockout,
  OtpThrottleRepo,
  VerificationRepo,
} from "../store.js";
import { prep } from "./statements.js";

export class SqliteIntegrators implements IntegratorRepo {
  constructor(private readonly db: Database.Database) {}
  async insert(i: IntegratorRecord, c: ClientRecord): Promise<void> {
    prep(this.db, "INSERT INTO integrators (id, name, created_at) VALUES (?, ?, ?)").run(i.id, i.name, i.createdAt);
    prep(
      this.db,
      `INSERT INTO clients (client_id, integrator_id, secret_hash, previous_secret_hash, previous_secret_expires_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(c.clientId, c.integratorId, c.secretHash, c.previousSecretHash, c.previousSecretExpiresAt, c.createdAt);
  }
  async get(id: string): Promise<IntegratorRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM integrators WHERE id = ?").get(id);
    return r && integratorRow(r);
  }
  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM clients WHERE client_id = ?").get(clientId);
    return r && clientRow(r);
  }
  async setClientSecrets(clientId: string, s: SecretHashes): Promise<void> {
    prep(
      this.db,
      "UPDATE clients SET secret_hash = ?, previous_secret_hash = ?, previous_secret_expires_at = ? WHERE client_id = ?",
    ).run(s.secretHash, s.previousSecretHash, s.previousSecretExpiresAt, clientId);
  }
}

export class SqliteAccessTokens implements AccessTokenRepo {
  constructor(private readonly db: Database.Database) {}
  async insert(t: AccessTokenRecord): Promise<void> {
    prep(
      this.db,
      `INSERT INTO access_tokens (token_hash, kind, subject_id, integrator_id, lock_holder_id, scope, expires_at, issued_under)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(t.tokenHash, t.kind, t.subjectId, t.integratorId, t.lockHolderId, t.scope, t.expiresAt, t.issuedUnder);
  }
  async get(tokenHash: string): Promise<AccessTokenRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM access_tokens WHERE token_hash = ?").get(tokenHash);
    return r && accessTokenRow(r);
  }
  async deleteExpired(now: number): Promise<number> {
    return prep(this.db, "DELETE FROM access_tokens WHERE expires_at <= ?").run(now).changes;
  }
  async deleteForSubject(kind: AccessTokenRecord["kind"], subjectId: string): Promise<void> {
    prep(this.db, "DELETE FROM access_tokens WHERE kind = ? AND subject_id = ?").run(kind, subjectId);
  }
  async deleteIssuedUnder(secretHash: string): Promise<number> {
    return prep(this.db, "DELETE FROM access_tokens WHERE issued_under = ?").run(secretHash).changes;
  }
}

export class SqliteLockHolders implements LockHolderRepo {
  constructor(private readonly db: Database.Database) {}
  async insert(l: LockHolderRecord): Promise<void> {
    prep(
      this.db,
      `INSERT INTO lock_holders (id, integrator_id, name, country_iso, organization_id, organization_id_suffix, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(l.id, l.integratorId, l.name, l.countryIso, l.organizationId, l.organizationIdSuffix, l.createdAt);
  }
  async get(id: string): Promise<LockHolderRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM lock_holders WHERE id = ?").get(id);
    return r && lockHolderRow(r);
  }
  async list(integratorId: string, page: PageRequest): Promise<Page<LockHolderRecord>> {
    const rows = prep(this.db, "SELECT * FROM lock_holders WHERE integrator_id = ? AND id > ? ORDER BY id LIMIT ?").all(
      integratorId,
      page.startAfterId ?? "",
      page.limit + 1,
    );
    return toPage(rows, page.limit, lockHolderRow, (l) => l.id);
  }
  async update(id: string, patch: Partial<Pick<LockHolderRecord, "name" | "countryIso">>): Promise<void> {
    if (patch.name !== undefined) prep(this.db, "UPDATE lock_holders SET name = ? WHERE id = ?").run(patch.name, id);
    if (patch.countryIso !== undefined)
      prep(this.db, "UPDATE lock_holders SET country_iso = ? WHERE id = ?").run(patch.countryIso, id);
  }
}

export class SqliteIssuerKeys implements IssuerKeyRepo {
  constructor(private readonly db: Database.Database) {}
  async insert(k: IssuerKeyRecord): Promise<void> {
    prep(
      this.db,
      `INSERT INTO issuer_keys (kid, lock_holder_id, public_key, secret_sealed, created_at, rotated_at, max_token_exp_s, retired_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(k.kid, k.lockHolderId, k.publicKey, k.secretSealed, k.createdAt, k.rotatedAt, k.maxTokenExpS, k.retiredAt);
  }
  async active(lockHolderId: string): Promise<IssuerKeyRecord | undefined> {
    const r: Row = prep(
      this.db,
      "SELECT * FROM issuer_keys WHERE lock_holder_id = ? AND rotated_at IS NULL ORDER BY created_at DESC, rowid DESC LIMIT 1",
    ).get(lockHolderId);
    return r && issuerKeyRow(r);
  }
  async listLive(lockHolderIds: string[]): Promise<IssuerKeyRecord[]> {
    if (lockHolderIds.length === 0) return [];
    const marks = lockHolderIds.map(() => "?").join(", ");
    return prep(
      this.db,
      `SELECT * FROM issuer_keys WHERE lock_holder_id IN (${marks}) AND retired_at IS NULL ORDER BY created_at, rowid`,
    )
      .all(...lockHolderIds)
      .map(issuerKeyRow);
  }
  async list(lockHolderId: string): Promise<IssuerKeyRecord[]> {
    return prep(this.db, "SELECT * FROM issuer_keys WHERE lock_holder_id = ? ORDER BY created_at, rowid")
      .all(lockHolderId)
      .map(issuerKeyRow);
  }
  async markRotated(kid: string, at: number): Promise<void> {
    prep(this.db, "UPDATE issuer_keys SET rotated_at = ? WHERE kid = ? AND rotated_at IS NULL").run(at, kid);
  }
  async raiseMaxTokenExp(kid: string, expS: number): Promise<void> {
    prep(this.db, "UPDATE issuer_keys SET max_token_exp_s = ? WHERE kid = ? AND max_token_exp_s < ?").run(
      expS,
      kid,
      expS,
    );
  }
  async retirable(nowS: number, leewayS: number): Promise<IssuerKeyRecord[]> {
    return prep(
      this.db,
      "SELECT * FROM issuer_keys WHERE rotated_at IS NOT NULL AND retired_at IS NULL AND max_token_exp_s + ? <= ?",
    )
      .all(leewayS, nowS)
      .map(issuerKeyRow);
  }
  async markRetired(kid: string, at: number): Promise<void> {
    prep(this.db, "UPDATE issuer_keys SET retired_at = ? WHERE kid = ?").run(at, kid);
  }
}

export class SqliteBridges implements BridgeRepo {
  constructor(private readonly db: Database.Database) {}
  async insert(b: BridgeRecord): Promise<void> {
    prep(
      this.db,
      `INSERT INTO bridges (id, lock_holder_id, name, secret_hash, previous_secret_hash, previous_secret_expires_at,
           created_at, last_seen_at, version, locks_online)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      b.id,
      b.lockHolderId,
      b.name,
      b.secretHash,
      b.previousSecretHash,
      b.previousSecretExpiresAt,
      b.createdAt,
      b.lastSeenAt,
      b.version,
      b.locksOnline,
    );
  }
  async get(id: string): Promise<BridgeRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM bridges WHERE id = ?").get(id);
    return r && bridgeRow(r);
  }
  async list(lockHolderId: string, page: PageRequest): Promise<Page<BridgeRecord>> {
    const rows = prep(this.db, "SELECT * FROM bridges WHERE lock_holder_id = ? AND id > ? ORDER BY id LIMIT ?").all(
      lockHolderId,
      page.startAfterId ?? "",
      page.limit + 1,
    );
    return toPage(rows, page.limit, bridgeRow, (b) => b.id);
  }
  async heartbeat(id: string, at: number, version: string, locksOnline: number | null): Promise<void> {
    prep(this.db, "UPDATE bridges SET last_seen_at = ?, version = ?, locks_online = ? WHERE id = ?").run(
      at,
      version,
      locksOnline,
      id,
    );
  }
  async setSecrets(id: string, s: SecretHashes): Promise<void> {
    prep(
      this.db,
      "UPDATE bridges SET secret_hash = ?, previous_secret_hash = ?, previous_secret_expires_at = ? WHERE id = ?",
    ).run(s.secretHash, s.previousSecretHash, s.previousSecretExpiresAt, id);
  }
}

export class SqliteVerifications implements VerificationRepo {
  constructor(private readonly db: Database.Database) {}
  async insert(v: VerificationRecord): Promise<void> {
    prep(
      this.db,
      `INSERT INTO verifications (id, phone_number, code_hash, created_at, expires_at, attempts, status)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(v.id, v.phoneNumber, v.codeHash, v.createdAt, v.expiresAt, v.attempts, v.status);
  }
  async get(id: string): Promise<VerificationRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM verifications WHERE id = ?").get(id);
    return r && verificationRow(r);
  }
  async countSince(phoneNumber: string, since: number): Promise<number> {
    const r: Row = prep(
      this.db,
      "SELECT COUNT(*) AS n FROM verifications WHERE phone_number = ? AND created_at >= ?",
    ).get(phoneNumber, since);
    return r.n;
  }
  async recordAttempt(id: string): Promise<number> {
    const r: Row = prep(
      this.db,
      "UPDATE verifications SET attempts = attempts + 1 WHERE id = ? RETURNING attempts",
    ).get(id);
    return r ? r.attempts : 0;
  }
  async setStatus(id: string, status: VerificationRecord["status"]): Promise<void> {
    prep(this.db, "UPDATE verifications SET status = ? WHERE id = ?").run(status, id);
  }
}

export class SqliteDevices implements DeviceRepo {
  constructor(private readonly db: Database.Database) {}
  async insert(d: DeviceRecord): Promise<void> {
    prep(
      this.db,
      "INSERT INTO devices (id, user_id, public_key, name, created_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?)",
    ).run(d.id, d.userId, d.publicKey, d.name, d.createdAt, d.deletedAt);
  }
  async get(id: string): Promise<DeviceRecord | undefined> {
    const r: Row = prep(this.db, "SELECT * FROM devices WHERE id = ?").get(id);
    return r && deviceRow(r);
  }
  async markDeleted(id: string, at: number): Promise<void> {
    prep(this.db, "UPDATE devices SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL").run(at, id);
  }
}

export class SqliteMeta implements MetaRepo {
  constructor(private readonly db: Database.Database) {}
  async get(name: string): Promise<string | undefined> {
    const r: Row = prep(this.db, "SELECT value FROM cloud_meta WHERE name = ?").get(name);
    return r?.value;
  }
  async insertIfAbsent(name: string, value: string): Promise<boolean> {
    return (
      prep(this.db, "INSERT INTO cloud_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING").run(name, value)
        .changes === 1
    );
  }
}

export class SqliteNonces implements NonceRepo {
  constructor(private readonly db: Database.Database) {}
  async issue(lockId: string, nonce: string, at: number, keep: number): Promise<void> {
    prep(this.db, "INSERT INTO virtual_lock_nonces (nonce, lock_id, issued_at) VALUES (?, ?, ?)").run(
      nonce,
      lockId,
      at,
    );
    prep(
      this.db,
      `DELETE FROM virtual_lock_nonces WHERE lock_id = ? AND nonce NOT IN (
           SELECT nonce FROM virtual_lock_nonces WHERE lock_id = ? ORDER BY n DESC LIMIT ?)`,
    ).run(lockId, lockId, keep);
  }
  async consume(lockId: string, nonce: string): Promise<number | undefined> {
    const r: Row = prep(
      this.db,
      "DELETE FROM virtual_lock_nonces WHERE nonce = ? AND lock_id = ? RETURNING issued_at",
    ).get(nonce, lockId);
    return r?.issued_at;
  }
  async deleteIssuedBefore(at: number): Promise<number> {
    return prep(this.db, "DELETE FROM virtual_lock_nonces WHERE issued_at < ?").run(at).changes;
  }
}

export class SqliteOtpThrottle implements OtpThrottleRepo {
  constructor(private readonly db: Database.Database) {}
  async record(subject: string, kind: OtpEventKind, at: number): Promise<void> {
    prep(this.db, "INSERT INTO otp_events (subject, kind, at) VALUES (?, ?, ?)").run(subject, kind, at);
  }
  async window(subject: string, kind: OtpEventKind, since: number) {
    const r: Row = prep(
      this.db,
      "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM otp_events WHERE subject = ? AND kind = ? AND at > ?",
    ).get(subject, kind, since);
    return { count: r.n as number, oldest: (r.oldest as number | null) ?? undefined };
  }
  async lockout(subject: string): Promise<OtpLockout | undefined> {
    const r: Row = prep(this.db, "SELECT strikes, locked_until FROM otp_lockouts WHERE subject = ?").get(subject);
    return r && { strikes: r.strikes, lockedUntil: r.locked_until };
  }
  async setLockout(subject: string, lockout: OtpLockout): Promise<void> {
    prep(
      this.db,
      `INSERT INTO otp_lockouts (subject, strikes, locked_until) VALUES (?, ?, ?)
         ON CONFLICT (subject) DO UPDATE SET strikes = excluded.strikes, locked_until = excluded.locked_until`,
    ).run(subject, lockout.strikes, lockout.lockedUntil);
  }
  async clearLockout(subject: string): Promise<void> {
    prep(this.db, "DELETE FROM otp_lockouts WHERE subject = ?").run(subject);
  }
  async deleteEventsBefore(at: number): Promise<void> {
    prep(this.db, "DELETE FROM otp_events WHERE at < ?").run(at);
  }
}
