import type { CloudContext } from "../context.js";
import { hashSecret, newSecret } from "../security/secrets.js";
import type { BridgeRecord, LockHolderRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { notFound } from "./errors.js";
import { bridgeHeard } from "./lock-presence.js";
import { type SecretHolder, storedIn } from "./secret-rotation.js";

/** A bridge's client secret (shown once, stored hashed). Made outside the transaction so a retry keeps it. */
export const newBridgeSecret = (ctx: CloudContext): string => newSecret(ctx.random, "lkbs_");

/** The lock holder's bridge; another's (or none) is a 404, as for every object (access.ts). */
export async function bridgeOf(tx: Tx, lh: LockHolderRecord, bridgeId: string): Promise<BridgeRecord> {
  const b = await tx.bridges.get(bridgeId);
  if (!b || b.lockHolderId !== lh.id) throw notFound("bridge");
  return b;
}

/**
 * Registers a gateway under `lh` (beyond Unloc) with `secret`, its credentials for the bridge API (docs/bridge-api.md);
 * it has not been seen yet.
 */
export async function registerBridge(
  tx: Tx,
  ctx: CloudContext,
  lh: LockHolderRecord,
  name: string | null,
  secret: string,
): Promise<BridgeRecord> {
  const record: BridgeRecord = {
    id: ctx.ids.next("br"),
    lockHolderId: lh.id,
    name,
    secretHash: hashSecret(secret),
    previousSecretHash: null,
    previousSecretExpiresAt: null,
    createdAt: ctx.clock.now(),
    lastSeenAt: null,
    version: null,
    locksOnline: null,
  };
  await tx.bridges.insert(record);
  return record;
}

/** Where a bridge keeps its secrets, for secret-rotation.ts. */
export const bridgeSecrets = (tx: Tx, bridge: BridgeRecord): SecretHolder =>
  storedIn(bridge, (next) => tx.bridges.setSecrets(bridge.id, next));

/**
 * The bridge's heartbeat (docs/bridge-api.md): its lastSeen, version and count of locks online, and its locks that its
 * silence took offline show again what it last reported (docs/webhooks.md "Presence").
 */
export async function recordHeartbeat(
  tx: Tx,
  ctx: CloudContext,
  bridgeId: string,
  version: string,
  locksOnline: number | null,
): Promise<void> {
  await tx.bridges.heartbeat(bridgeId, ctx.clock.now(), version, locksOnline);
  await bridgeHeard(tx, ctx, bridgeId);
}
