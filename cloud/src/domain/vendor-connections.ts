import { vendorCredentialDigest } from "@latchkey/protocol";
import type { CloudContext } from "../context.js";
import { FeedWriter } from "../feed/changes.js";
import type { LockHolderRecord, VendorConnectionRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { commit, read } from "./commit.js";
import { conflict, invalid, notFound } from "./errors.js";
import { newLockRecord, offboardLock } from "./locks.js";
import { virtualBattery } from "./virtual-battery.js";
import { connectionStateEvent, queueWebhookEvent } from "./webhook-events.js";

/** What creating a vendor connection takes: cloud-hosted virtual locks, or credentials a bridge checks. */
export type NewVendorConnection =
  | { vendor: "virtual"; locksToCreate: number }
  | { vendor: "sim" | "ble"; username: string; password: string; bridgeId: string };

/** The lock holder's live vendor connection `id`; anyone else's, or a deleted one, is a 404 (domain/access.ts). */
export async function connectionOf(tx: Tx, lh: LockHolderRecord, id: string): Promise<VendorConnectionRecord> {
  const vc = await tx.vendorConnections.get(id);
  if (!vc || vc.lockHolderId !== lh.id || vc.deletedAt !== null) throw notFound("vendor connection");
  return vc;
}

/**
 * The lock holder's vendor connection `id` to read, a deleted one included: it reads as `disconnected` (its state since
 * the delete), as in Unloc's states (docs/unloc-api-notes.md), so a client polling it sees it end rather than vanish.
 * Anyone else's is a 404; everything that changes a connection still takes only live ones (connectionOf).
 */
export async function readableConnectionOf(tx: Tx, lh: LockHolderRecord, id: string): Promise<VendorConnectionRecord> {
  const vc = await tx.vendorConnections.get(id);
  if (!vc || vc.lockHolderId !== lh.id) throw notFound("vendor connection");
  return vc.deletedAt === null ? vc : { ...vc, state: "disconnected" };
}

/**
 * Whether these credentials already back a live connection (changelog: 409, the existing one untouched). Each
 * candidate is checked with its own salt, so no password is ever stored or compared in the clear. scrypt runs on the
 * thread pool, one candidate at a time (review 12.11): the event loop keeps serving other requests meanwhile.
 */
async function sameCredentials(
  candidates: VendorConnectionRecord[],
  vendor: string,
  username: string,
  password: string,
): Promise<VendorConnectionRecord | undefined> {
  for (const vc of candidates) {
    if (vc.credentialSalt === null || vc.credentialDigest === null) continue;
    if ((await vendorCredentialDigest(vendor, username, password, vc.credentialSalt)) === vc.credentialDigest)
      return vc;
  }
  return undefined;
}

const credentialsInUse = (vendor: string, clash: VendorConnectionRecord) =>
  conflict(`these ${vendor} credentials are already used by vendor connection ${clash.id}`);

/**
 * The credential check above runs before the write's transaction (scrypt is slow by design and must not hold the
 * store), so a connection with the same credentials may have been created in between, by a concurrent request or
 * another cloud process. The write re-reads the candidates and checks only those it has not checked yet (almost
 * always none); both stores serialize these transactions, so of two racing creates one sees the other.
 */
async function refuseNewClash(
  tx: Tx,
  integratorId: string,
  checked: VendorConnectionRecord[],
  vendor: string,
  username: string,
  password: string,
): Promise<void> {
  const known = new Set(checked.map((c) => c.id));
  const fresh = (await tx.vendorConnections.liveWithUsername(integratorId, vendor, username)).filter(
    (c) => !known.has(c.id),
  );
  const clash = await sameCredentials(fresh, vendor, username, password);
  if (clash) throw credentialsInUse(vendor, clash);
}

async function credentialCheck(ctx: CloudContext, vendor: string, username: string, password: string) {
  const salt = Buffer.from(ctx.random(16)).toString("base64url");
  return { credentialSalt: salt, credentialDigest: await vendorCredentialDigest(vendor, username, password, salt) };
}

/** A virtual connection, connected at once, with its test locks (battery and online simulated: virtual-battery.ts). */
async function createVirtual(ctx: CloudContext, lh: LockHolderRecord, locksToCreate: number) {
  const now = ctx.clock.now();
  const vc: VendorConnectionRecord = {
    id: ctx.ids.next("vc"),
    lockHolderId: lh.id,
    vendor: "virtual",
    username: null,
    credentialSalt: null,
    credentialDigest: null,
    bridgeId: null,
    state: "connected",
    reason: null,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
  };
  await commit(ctx, async (tx) => {
    await tx.vendorConnections.insert(vc);
    for (let i = 1; i <= locksToCreate; i++) {
      const id = `virtual-${Buffer.from(ctx.random(6)).toString("hex")}`;
      const lock = newLockRecord(vc, id, `Virtual lock ${i}`, now, true);
      await tx.locks.insert(lock);
      await tx.locks.setBattery(lock.id, virtualBattery(lock, now));
    }
  });
  return vc;
}

/**
 * A connection a bridge serves: `connecting` until the bridge, told through the change feed, has checked the
 * credentials. The bridge must be the lock holder's (400 `unknown_bridge`); credentials a live connection of the
 * integrator already uses are a 409, the existing one untouched.
 */
async function createBridged(
  ctx: CloudContext,
  integratorId: string,
  lh: LockHolderRecord,
  body: Extract<NewVendorConnection, { vendor: "sim" | "ble" }>,
) {
  const now = ctx.clock.now();
  const { vendor, username, password, bridgeId } = body;
  const candidates = await read(ctx, async (tx) => {
    const bridge = await tx.bridges.get(bridgeId);
    if (!bridge || bridge.lockHolderId !== lh.id) {
      throw invalid(
        `bridgeId: no bridge ${JSON.stringify(bridgeId)} is registered under this lock holder`,
        "unknown_bridge",
      );
    }
    return tx.vendorConnections.liveWithUsername(integratorId, vendor, username);
  });
  const existing = await sameCredentials(candidates, vendor, username, password);
  if (existing) throw credentialsInUse(vendor, existing);
  const vc: VendorConnectionRecord = {
    id: ctx.ids.next("vc"),
    lockHolderId: lh.id,
    vendor,
    username,
    ...(await credentialCheck(ctx, vendor, username, password)),
    bridgeId,
    state: "connecting",
    reason: null,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
  };
  await commit(ctx, async (tx) => {
    await refuseNewClash(tx, integratorId, candidates, vendor, username, password);
    await tx.vendorConnections.insert(vc);
    await new FeedWriter(tx, ctx).vendorConnection(vc);
  });
  return vc;
}

/** Creates a vendor connection under `lh` (read by the caller: access is the caller's check, domain/access.ts). */
export function createVendorConnection(
  ctx: CloudContext,
  integratorId: string,
  lh: LockHolderRecord,
  body: NewVendorConnection,
): Promise<VendorConnectionRecord> {
  return body.vendor === "virtual"
    ? createVirtual(ctx, lh, body.locksToCreate)
    : createBridged(ctx, integratorId, lh, body);
}

/**
 * Tells the bridge of a connection's new state through the change feed, and the integrator's webhooks
 * (`vendor_connection.state_changed`) when it is not the state it was `before`.
 */
async function updated(tx: Tx, ctx: CloudContext, before: VendorConnectionRecord): Promise<VendorConnectionRecord> {
  const vc = (await tx.vendorConnections.get(before.id))!;
  await new FeedWriter(tx, ctx).vendorConnection(vc);
  const event = connectionStateEvent(before, vc.state, vc.reason);
  if (event) await queueWebhookEvent(tx, ctx, event);
  return vc;
}

/** Refresh: the bridge re-reads the vendor's locks (a virtual connection has nothing to re-read). */
export async function refreshVendorConnection(tx: Tx, ctx: CloudContext, lh: LockHolderRecord, id: string) {
  const current = await connectionOf(tx, lh, id);
  const state = current.vendor === "virtual" ? "connected" : "refreshing";
  await tx.vendorConnections.update(current.id, { state, reason: null }, ctx.clock.now());
  return updated(tx, ctx, current);
}

/**
 * A new vendor password, checked again by the bridge (`connecting`). As on create, credentials another live
 * connection uses are a 409; a virtual connection has no password (400 `not_applicable`).
 */
export async function updateVendorPassword(
  ctx: CloudContext,
  integratorId: string,
  lh: LockHolderRecord,
  id: string,
  password: string,
): Promise<VendorConnectionRecord> {
  const { current, candidates } = await read(ctx, async (tx) => {
    const vc = await connectionOf(tx, lh, id);
    if (vc.vendor === "virtual" || vc.username === null) {
      throw invalid("a virtual vendor connection has no password", "not_applicable");
    }
    return {
      current: vc,
      candidates: await tx.vendorConnections.liveWithUsername(integratorId, vc.vendor, vc.username),
    };
  });
  const username = current.username!;
  const clash = await sameCredentials(
    candidates.filter((c) => c.id !== current.id),
    current.vendor,
    username,
    password,
  );
  if (clash) throw credentialsInUse(current.vendor, clash);
  const check = await credentialCheck(ctx, current.vendor, username, password);
  return commit(ctx, async (tx) => {
    await refuseNewClash(tx, integratorId, [...candidates, current], current.vendor, username, password);
    await tx.vendorConnections.update(current.id, { ...check, state: "connecting", reason: null }, ctx.clock.now());
    return updated(tx, ctx, current);
  });
}

/** Deletes a connection: its locks are offboarded and their keys revoked. */
/** Deletes a live connection (offboarding its locks) and answers it as it now reads: `disconnected`. */
export async function deleteVendorConnection(
  tx: Tx,
  ctx: CloudContext,
  lh: LockHolderRecord,
  id: string,
): Promise<VendorConnectionRecord> {
  const vc = await connectionOf(tx, lh, id);
  for (const lock of await tx.locks.listForConnection(vc.id)) await offboardLock(tx, ctx, lock, vc);
  await tx.vendorConnections.markDeleted(vc.id, ctx.clock.now());
  // Deleted is `disconnected` for good (markDeleted), the last state change the integrator hears of.
  await updated(tx, ctx, vc);
  return readableConnectionOf(tx, lh, vc.id);
}
