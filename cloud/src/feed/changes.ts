import type { CloudContext } from "../context.js";
import type {
  IssuerKeyRecord,
  KeyRecord,
  LockRecord,
  RemoteActionRecord,
  VendorConnectionRecord,
} from "../store/records.js";
import type { Tx } from "../store/store.js";

/**
 * The change feed's payloads (docs/bridge-api.md). Each write that a bridge must hear of appends one in the same
 * transaction, so the feed never misses or invents a change.
 */

/** `exp` for a key without end, while it is in force: "no end" (9999-12-31T23:59:59Z). */
export const NO_END_S = 253_402_300_799;

/**
 * The feed's `exp` of a key (docs/bridge-api.md). In force: its end, or "no end". Revoked: the latest `exp` of any
 * token minted for it, since the lock must refuse the cti until then (the bridge adds the leeway margin); a token of a
 * key without end lives up to `max(minted, start) + openEndedTokenSeconds`, which for a start ahead is long after the
 * revocation (review 12.1). With no mint recorded (never minted, or minted before the cloud recorded it) the bound is
 * the most any such token could have had.
 */
export function keyExpS(key: KeyRecord, openEndedTokenSeconds: number): number {
  if (key.status !== "revoked" || key.revokedAt === null) {
    return key.endAt !== null ? Math.floor(key.endAt / 1000) : NO_END_S;
  }
  if (key.maxTokenExpS !== null) return key.maxTokenExpS;
  if (key.endAt !== null) return Math.floor(key.endAt / 1000);
  return Math.floor(Math.max(key.revokedAt, key.startAt) / 1000) + openEndedTokenSeconds;
}

export function keyChange(key: KeyRecord, openEndedTokenSeconds: number): Record<string, unknown> {
  return {
    keyId: key.id,
    lockId: key.lockId,
    cti: key.cti,
    sub: key.userId,
    nbf: Math.floor(key.startAt / 1000),
    exp: keyExpS(key, openEndedTokenSeconds),
    state: key.status === "revoked" ? "revoked" : "active",
  };
}

export function vendorConnectionChange(vc: VendorConnectionRecord): Record<string, unknown> {
  return {
    vendorConnection: {
      id: vc.id,
      lockHolderId: vc.lockHolderId,
      vendor: vc.vendor,
      username: vc.username,
      credentialCheck: { salt: vc.credentialSalt, digest: vc.credentialDigest },
      state: vc.state,
      deleted: vc.deletedAt !== null,
    },
  };
}

/**
 * A lock under one of the bridge's connections. `claimed`: its holder has claimed it with its setup code, so the cloud
 * signs its state (docs/trust.md "Cloud"); a claim puts a new entry on the feed so the bridge fetches that state at once.
 */
export function lockChange(lock: LockRecord, removed: boolean, claimed: boolean): Record<string, unknown> {
  return {
    lockId: lock.id,
    vendorConnectionId: lock.vendorConnectionId,
    lockHolderId: lock.lockHolderId,
    removed,
    claimed,
  };
}

export function issuerChange(key: IssuerKeyRecord): Record<string, unknown> {
  return {
    lockHolderId: key.lockHolderId,
    kid: key.kid,
    x: key.publicKey,
    retired: key.retiredAt !== null,
  };
}

/**
 * A remote action for the bridge to carry (docs/bridge-api.md "Remote actions"): fetch a nonce from the lock, ask for
 * the command, hand it to the lock; never after `expiresAt`.
 */
export function actionChange(action: RemoteActionRecord): Record<string, unknown> {
  return {
    actionId: action.id,
    lockId: action.lockId,
    action: action.action,
    expiresAt: new Date(action.expiresAt).toISOString(),
  };
}

/** Appends changes inside a transaction; the caller notifies waiting bridges after commit. */
export class FeedWriter {
  constructor(
    private readonly tx: Tx,
    private readonly ctx: CloudContext,
  ) {}

  async key(key: KeyRecord, vendorConnectionId: string): Promise<void> {
    await this.tx.changes.append(
      "key",
      key.lockHolderId,
      vendorConnectionId,
      keyChange(key, this.ctx.settings.openEndedTokenSeconds),
      this.ctx.clock.now(),
    );
  }

  /** Many keys at once (a batch job's chunk), in the order given. */
  async keys(items: readonly { key: KeyRecord; vendorConnectionId: string }[]): Promise<void> {
    if (items.length === 0) return;
    const at = this.ctx.clock.now();
    await this.tx.changes.appendMany(
      items.map(({ key, vendorConnectionId }) => ({
        kind: "key",
        lockHolderId: key.lockHolderId,
        vendorConnectionId,
        payload: keyChange(key, this.ctx.settings.openEndedTokenSeconds),
        at,
      })),
    );
  }

  async vendorConnection(vc: VendorConnectionRecord): Promise<void> {
    if (vc.bridgeId === null) return; // virtual connections have no bridge to tell
    await this.tx.changes.append(
      "vendor_connection",
      vc.lockHolderId,
      vc.id,
      vendorConnectionChange(vc),
      this.ctx.clock.now(),
    );
  }

  /** The lock as it stands, its claim read here: a claim by its own holder only (never another tenant's). */
  async lock(lock: LockRecord, removed: boolean): Promise<void> {
    const claim = await this.tx.lockClaims.get(lock.id, lock.lockHolderId);
    await this.tx.changes.append(
      "lock",
      lock.lockHolderId,
      lock.vendorConnectionId,
      lockChange(lock, removed, claim !== undefined),
      this.ctx.clock.now(),
    );
  }

  async action(action: RemoteActionRecord, vendorConnectionId: string): Promise<void> {
    await this.tx.changes.append(
      "action",
      action.lockHolderId,
      vendorConnectionId,
      actionChange(action),
      this.ctx.clock.now(),
    );
  }

  async issuer(key: IssuerKeyRecord): Promise<void> {
    await this.tx.changes.append("issuer", key.lockHolderId, null, issuerChange(key), this.ctx.clock.now());
  }
}
