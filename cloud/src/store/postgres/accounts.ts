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
import type { Sql } from "./sql.js";

export class PgIntegrators implements IntegratorRepo {
  constructor(private readonly sql: Sql) {}
  async insert(i: IntegratorRecord, c: ClientRecord): Promise<void> {
    await this.sql.run("INSERT INTO integrators (id, name, created_at) VALUES ($1, $2, $3)", [
      i.id,
      i.name,
      i.createdAt,
    ]);
    await this.sql.run(
      `INSERT INTO clients (client_id, integrator_id, secret_hash, previous_secret_hash, previous_secret_expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
      [c.clientId, c.integratorId, c.secretHash, c.previousSecretHash, c.previousSecretExpiresAt, c.createdAt],
    );
  }
  async get(id: string): Promise<IntegratorRecord | undefined> {
    const r = await this.sql.one("SELECT * FROM integrators WHERE id = $1", [id]);
    return r && integratorRow(r);
  }
  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    const r = await this.sql.one("SELECT * FROM clients WHERE client_id = $1", [clientId]);
    return r && clientRow(r);
  }
  async setClientSecrets(clientId: string, s: SecretHashes): Promise<void> {
    await this.sql.run(
      "UPDATE clients SET secret_hash = $1, previous_secret_hash = $2, previous_secret_expires_at = $3 WHERE client_id = $4",
      [s.secretHash, s.previousSecretHash, s.previousSecretExpiresAt, clientId],
    );
  }
}

export class PgAccessTokens implements AccessTokenRepo {
  constructor(private readonly sql: Sql) {}
  async insert(t: AccessTokenRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO access_tokens (token_hash, kind, subject_id, integrator_id, lock_holder_id, scope, expires_at, issued_under)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [t.tokenHash, t.kind, t.subjectId, t.integratorId, t.lockHolderId, t.scope, t.expiresAt, t.issuedUnder],
    );
  }
  async get(tokenHash: string): Promise<AccessTokenRecord | undefined> {
    const r = await this.sql.one("SELECT * FROM access_tokens WHERE token_hash = $1", [tokenHash]);
    return r && accessTokenRow(r);
  }
  async deleteExpired(now: number): Promise<number> {
    return this.sql.run("DELETE FROM access_tokens WHERE expires_at <= $1", [now]);
  }
  async deleteForSubject(kind: AccessTokenRecord["kind"], subjectId: string): Promise<void> {
    await this.sql.run("DELETE FROM access_tokens WHERE kind = $1 AND subject_id = $2", [kind, subjectId]);
  }
  async deleteIssuedUnder(secretHash: string): Promise<number> {
    return this.sql.run("DELETE FROM access_tokens WHERE issued_under = $1", [secretHash]);
  }
}

export class PgLockHolders implements LockHolderRepo {
  constructor(private readonly sql: Sql) {}
  async insert(l: LockHolderRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO lock_holders (id, integrator_id, name, country_iso, organization_id, organization_id_suffix, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [l.id, l.integratorId, l.name, l.countryIso, l.organizationId, l.organizationIdSuffix, l.createdAt],
    );
  }
  async get(id: string): Promise<LockHolderRecord | undefined> {
    const r = await this.sql.one("SELECT * FROM lock_holders WHERE id = $1", [id]);
    return r && lockHolderRow(r);
  }
  async list(integratorId: string, page: PageRequest): Promise<Page<LockHolderRecord>> {
    const rows = await this.sql.all(
      "SELECT * FROM lock_holders WHERE integrator_id = $1 AND id > $2 ORDER BY id LIMIT $3",
      [integratorId, page.startAfterId ?? "", page.limit + 1],
    );
    return toPage(rows, page.limit, lockHolderRow, (l) => l.id);
  }
  async update(id: string, patch: Partial<Pick<LockHolderRecord, "name" | "countryIso">>): Promise<void> {
    if (patch.name !== undefined)
      await this.sql.run("UPDATE lock_holders SET name = $1 WHERE id = $2", [patch.name, id]);
    if (patch.countryIso !== undefined)
      await this.sql.run("UPDATE lock_holders SET country_iso = $1 WHERE id = $2", [patch.countryIso, id]);
  }
}

export class PgIssuerKeys implements IssuerKeyRepo {
  constructor(private readonly sql: Sql) {}
  async insert(k: IssuerKeyRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO issuer_keys (kid, lock_holder_id, public_key, secret_sealed, created_at, rotated_at, max_token_exp_s, retired_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [k.kid, k.lockHolderId, k.publicKey, k.secretSealed, k.createdAt, k.rotatedAt, k.maxTokenExpS, k.retiredAt],
    );
  }
  async active(lockHolderId: string): Promise<IssuerKeyRecord | undefined> {
    const r = await this.sql.one(
      "SELECT * FROM issuer_keys WHERE lock_holder_id = $1 AND rotated_at IS NULL ORDER BY created_at DESC, n DESC LIMIT 1",
      [lockHolderId],
    );
    return r && issuerKeyRow(r);
  }
  async listLive(lockHolderIds: string[]): Promise<IssuerKeyRecord[]> {
    if (lockHolderIds.length === 0) return [];
    const rows = await this.sql.all(
      "SELECT * FROM issuer_keys WHERE lock_holder_id = ANY($1::text[]) AND retired_at IS NULL ORDER BY created_at, n",
      [lockHolderIds],
    );
    return rows.map(issuerKeyRow);
  }
  async list(lockHolderId: string): Promise<IssuerKeyRecord[]> {
    const rows = await this.sql.all("SELECT * FROM issuer_keys WHERE lock_holder_id = $1 ORDER BY created_at, n", [
      lockHolderId,
    ]);
    return rows.map(issuerKeyRow);
  }
  async markRotated(kid: string, at: number): Promise<void> {
    await this.sql.run("UPDATE issuer_keys SET rotated_at = $1 WHERE kid = $2 AND rotated_at IS NULL", [at, kid]);
  }
  async raiseMaxTokenExp(kid: string, expS: number): Promise<void> {
    await this.sql.run("UPDATE issuer_keys SET max_token_exp_s = $1 WHERE kid = $2 AND max_token_exp_s < $1", [
      expS,
      kid,
    ]);
  }
  async retirable(nowS: number, leewayS: number): Promise<IssuerKeyRecord[]> {
    const rows = await this.sql.all(
      "SELECT * FROM issuer_keys WHERE rotated_at IS NOT NULL AND retired_at IS NULL AND max_token_exp_s + $1 <= $2",
      [leewayS, nowS],
    );
    return rows.map(issuerKeyRow);
  }
  async markRetired(kid: string, at: number): Promise<void> {
    await this.sql.run("UPDATE issuer_keys SET retired_at = $1 WHERE kid = $2", [at, kid]);
  }
}

export class PgBridges implements BridgeRepo {
  constructor(private readonly sql: Sql) {}
  async insert(b: BridgeRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO bridges (id, lock_holder_id, name, secret_hash, previous_secret_hash, previous_secret_expires_at,
           created_at, last_seen_at, version, locks_online)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
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
      ],
    );
  }
  async get(id: string): Promise<BridgeRecord | undefined> {
    const r = await this.sql.one("SELECT * FROM bridges WHERE id = $1", [id]);
    return r && bridgeRow(r);
  }
  async list(lockHolderId: string, page: PageRequest): Promise<Page<BridgeRecord>> {
    const rows = await this.sql.all(
      "SELECT * FROM bridges WHERE lock_holder_id = $1 AND id > $2 ORDER BY id LIMIT $3",
      [lockHolderId, page.startAfterId ?? "", page.limit + 1],
    );
    return toPage(rows, page.limit, bridgeRow, (b) => b.id);
  }
  async heartbeat(id: string, at: number, version: string, locksOnline: number | null): Promise<void> {
    await this.sql.run("UPDATE bridges SET last_seen_at = $1, version = $2, locks_online = $3 WHERE id = $4", [
      at,
      version,
      locksOnline,
      id,
    ]);
  }
  async setSecrets(id: string, s: SecretHashes): Promise<void> {
    await this.sql.run(
      "UPDATE bridges SET secret_hash = $1, previous_secret_hash = $2, previous_secret_expires_at = $3 WHERE id = $4",
      [s.secretHash, s.previousSecretHash, s.previousSecretExpiresAt, id],
    );
  }
}

export class PgVerifications implements VerificationRepo {
  constructor(private readonly sql: Sql) {}
  async insert(v: VerificationRecord): Promise<void> {
    await this.sql.run(
      `INSERT INTO verifications (id, phone_number, code_hash, created_at, expires_at, attempts, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [v.id, v.phoneNumber, v.codeHash, v.createdAt, v.expiresAt, v.attempts, v.status],
    );
  }
  async get(id: string): Promise<VerificationRecord | undefined> {
    const r = await this.sql.one("SELECT * FROM verifications WHERE id = $1", [id]);
    return r && verificationRow(r);
  }
  async countSince(phoneNumber: string, since: number): Promise<number> {
    const r = await this.sql.one(
      "SELECT COUNT(*) AS n FROM verifications WHERE phone_number = $1 AND created_at >= $2",
      [phoneNumber, since],
    );
    return r.n;
  }
  async recordAttempt(id: string): Promise<number> {
    const r = await this.sql.one("UPDATE verifications SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts", [
      id,
    ]);
    return r ? r.attempts : 0;
  }
  async setStatus(id: string, status: VerificationRecord["status"]): Promise<void> {
    await this.sql.run("UPDATE verifications SET status = $1 WHERE id = $2", [status, id]);
  }
}

export class PgDevices implements DeviceRepo {
  constructor(private readonly sql: Sql) {}
  async insert(d: DeviceRecord): Promise<void> {
    await this.sql.run(
      "INSERT INTO devices (id, user_id, public_key, name, created_at, deleted_at) VALUES ($1, $2, $3, $4, $5, $6)",
      [d.id, d.userId, d.publicKey, d.name, d.createdAt, d.deletedAt],
    );
  }
  async get(id: string): Promise<DeviceRecord | undefined> {
    const r = await this.sql.one("SELECT * FROM devices WHERE id = $1", [id]);
    return r && deviceRow(r);
  }
  async markDeleted(id: string, at: number): Promise<void> {
    await this.sql.run("UPDATE devices SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL", [at, id]);
  }
}

export class PgMeta implements MetaRepo {
  constructor(private readonly sql: Sql) {}
  async get(name: string): Promise<string | undefined> {
    return (await this.sql.one("SELECT value FROM cloud_meta WHERE name = $1", [name]))?.value;
  }
  async insertIfAbsent(name: string, value: string): Promise<boolean> {
    return (
      (await this.sql.run("INSERT INTO cloud_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", [
        name,
        value,
      ])) === 1
    );
  }
}

export class PgNonces implements NonceRepo {
  constructor(private readonly sql: Sql) {}
  async issue(lockId: string, nonce: string, at: number, keep: number): Promise<void> {
    await this.sql.run("INSERT INTO virtual_lock_nonces (nonce, lock_id, issued_at) VALUES ($1, $2, $3)", [
      nonce,
      lockId,
      at,
    ]);
    await this.sql.run(
      `DELETE FROM virtual_lock_nonces WHERE lock_id = $1 AND nonce NOT IN (
           SELECT nonce FROM virtual_lock_nonces WHERE lock_id = $1 ORDER BY n DESC LIMIT $2)`,
      [lockId, keep],
    );
  }
  async consume(lockId: string, nonce: string): Promise<number | undefined> {
    const r = await this.sql.one(
      "DELETE FROM virtual_lock_nonces WHERE nonce = $1 AND lock_id = $2 RETURNING issued_at",
      [nonce, lockId],
    );
    return r?.issued_at;
  }
  async deleteIssuedBefore(at: number): Promise<number> {
    return this.sql.run("DELETE FROM virtual_lock_nonces WHERE issued_at < $1", [at]);
  }
}

export class PgOtpThrottle implements OtpThrottleRepo {
  constructor(private readonly sql: Sql) {}
  async record(subject: string, kind: OtpEventKind, at: number): Promise<void> {
    await this.sql.run("INSERT INTO otp_events (subject, kind, at) VALUES ($1, $2, $3)", [subject, kind, at]);
  }
  async window(subject: string, kind: OtpEventKind, since: number) {
    const r = await this.sql.one(
      "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM otp_events WHERE subject = $1 AND kind = $2 AND at > $3",
      [subject, kind, since],
    );
    return { count: Number(r.n), oldest: r.oldest === null ? undefined : Number(r.oldest) };
  }
  async lockout(subject: string): Promise<OtpLockout | undefined> {
    const r = await this.sql.one("SELECT strikes, locked_until FROM otp_lockouts WHERE subject = $1", [subject]);
    return r && { strikes: Number(r.strikes), lockedUntil: Number(r.locked_until) };
  }
  async setLockout(subject: string, lockout: OtpLockout): Promise<void> {
    await this.sql.run(
      `INSERT INTO otp_lockouts (subject, strikes, locked_until) VALUES ($1, $2, $3)
         ON CONFLICT (subject) DO UPDATE SET strikes = excluded.strikes, locked_until = excluded.locked_until`,
      [subject, lockout.strikes, lockout.lockedUntil],
    );
  }
  async clearLockout(subject: string): Promise<void> {
    await this.sql.run("DELETE FROM otp_lockouts WHERE subject = $1", [subject]);
  }
  async deleteEventsBefore(at: number): Promise<void> {
    await this.sql.run("DELETE FROM otp_events WHERE at < $1", [at]);
  }
}
