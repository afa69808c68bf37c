import { vendorCredentialDigest } from "@latchkey/protocol";
import {
  CreateVendorConnection,
  errors,
  IdParam,
  Obj,
  PageQuery,
  UpdatePassword,
  VendorConnectionAnswer,
  VendorConnectionList,
} from "@latchkey/protocol/contracts";
import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { CloudContext } from "../../context.js";
import { lockHolderFor } from "../../domain/access.js";
import { commit, read } from "../../domain/commit.js";
import { offboardLock } from "../../domain/locks.js";
import { vendorConnectionView } from "../../domain/views.js";
import { virtualBattery } from "../../domain/virtual-battery.js";
import { FeedWriter } from "../../feed/changes.js";
import { integratorOf } from "../../http/auth.js";
import { badRequest, conflict, notFound } from "../../http/errors.js";
import type { LockHolderRecord, LockRecord, Vendor, VendorConnectionRecord } from "../../store/records.js";
import type { Tx } from "../../store/store.js";
import { LhParams } from "./lock-holders.js";

const VcParams = Obj({ lockHolderId: IdParam, vendorConnectionId: IdParam });
type VcParams = Static<typeof VcParams>;
const PageQuerySchema = Obj(PageQuery);

async function connectionOf(tx: Tx, lh: LockHolderRecord, id: string): Promise<VendorConnectionRecord> {
  const vc = await tx.vendorConnections.get(id);
  if (!vc || vc.lockHolderId !== lh.id || vc.deletedAt !== null) throw notFound("vendor connection");
  return vc;
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
  if (clash) throw conflict(`these ${vendor} credentials are already used by vendor connection ${clash.id}`);
}

async function credentialCheck(ctx: CloudContext, vendor: string, username: string, password: string) {
  const salt = Buffer.from(ctx.random(16)).toString("base64url");
  return { credentialSalt: salt, credentialDigest: await vendorCredentialDigest(vendor, username, password, salt) };
}

const answer = (vc: VendorConnectionRecord) => ({ vendorConnection: vendorConnectionView(vc) });

export function vendorConnectionRoutes(app: FastifyInstance, ctx: CloudContext): void {
  app.get(
    "/lock-holders/:lockHolderId/vendor-connections",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["vendor connections"],
        summary: "List vendor connections",
        params: LhParams,
        querystring: PageQuerySchema,
        response: { 200: VendorConnectionList, ...errors(400, 404) },
      },
    },
    async (request) => {
      const { lockHolderId } = request.params as LhParams;
      const q = request.query as Static<typeof PageQuerySchema>;
      const page = await read(ctx, async (tx) => {
        const lh = await lockHolderFor(tx, integratorOf(request), lockHolderId);
        return tx.vendorConnections.list(lh.id, { limit: q.limit ?? 2500, startAfterId: q.startAfterId });
      });
      return {
        vendorConnections: page.items.map(vendorConnectionView),
        ...(page.startAfterId ? { startAfterId: page.startAfterId } : {}),
      };
    },
  );

  app.post(
    "/lock-holders/:lockHolderId/vendor-connections",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["vendor connections"],
        summary: "Create a vendor connection",
        description:
          "`virtual` creates up to 100 cloud-hosted test locks at once. `sim` and `ble` are served by the named bridge, " +
          "which checks the credentials; poll the connection while it is `connecting`. Credentials already used by a live " +
          "connection → 409, the existing one untouched.",
        params: LhParams,
        body: CreateVendorConnection,
        response: { 201: VendorConnectionAnswer, ...errors(400, 404, 409) },
      },
    },
    async (request, reply) => {
      const p = integratorOf(request);
      const { lockHolderId } = request.params as LhParams;
      const body = request.body as Static<typeof CreateVendorConnection>;
      const now = ctx.clock.now();
      const lh = await read(ctx, (tx) => lockHolderFor(tx, p, lockHolderId));
      let vc: VendorConnectionRecord;
      if (body.vendor === "virtual") {
        vc = {
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
        const record = vc;
        await commit(ctx, async (tx) => {
          await tx.vendorConnections.insert(record);
          for (let i = 1; i <= body.locksToCreate; i++) {
            const lock: LockRecord = {
              id: `virtual-${Buffer.from(ctx.random(6)).toString("hex")}`,
              lockHolderId: lh.id,
              vendorConnectionId: record.id,
              vendor: "virtual",
              name: `Virtual lock ${i}`,
              imageUrl: null,
              address: null,
              timezone: null,
              createdAt: now,
              removedAt: null,
              battery: null,
              online: true,
              presenceTsS: null,
              eventSeq: 0,
            };
            await tx.locks.insert(lock);
            await tx.locks.setBattery(lock.id, virtualBattery(lock, now));
          }
        });
      } else {
        const { vendor, username, password, bridgeId } = body;
        const candidates = await read(ctx, async (tx) => {
          const bridge = await tx.bridges.get(bridgeId);
          if (!bridge || bridge.lockHolderId !== lh.id) {
            throw badRequest(
              `bridgeId: no bridge ${JSON.stringify(bridgeId)} is registered under this lock holder`,
              "unknown_bridge",
            );
          }
          return tx.vendorConnections.liveWithUsername(p.integratorId, vendor, username);
        });
        const existing = await sameCredentials(candidates, vendor, username, password);
        if (existing) {
          throw conflict(`these ${vendor} credentials are already used by vendor connection ${existing.id}`);
        }
        vc = {
          id: ctx.ids.next("vc"),
          lockHolderId: lh.id,
          vendor: vendor as Vendor,
          username,
          ...(await credentialCheck(ctx, vendor, username, password)),
          bridgeId,
          state: "connecting",
          reason: null,
          createdAt: now,
          updatedAt: now,
          deletedAt: null,
        };
        const record = vc;
        await commit(ctx, async (tx) => {
          await refuseNewClash(tx, p.integratorId, candidates, vendor, username, password);
          await tx.vendorConnections.insert(record);
          await new FeedWriter(tx, ctx).vendorConnection(record);
        });
      }
      reply.code(201);
      return answer(vc);
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/vendor-connections/:vendorConnectionId",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["vendor connections"],
        summary: "Get a vendor connection (poll it while connecting or refreshing)",
        params: VcParams,
        response: { 200: VendorConnectionAnswer, ...errors(404) },
      },
    },
    async (request) => {
      const { lockHolderId, vendorConnectionId } = request.params as VcParams;
      const vc = await read(ctx, async (tx) =>
        connectionOf(tx, await lockHolderFor(tx, integratorOf(request), lockHolderId), vendorConnectionId),
      );
      return answer(vc);
    },
  );

  app.put(
    "/lock-holders/:lockHolderId/vendor-connections/:vendorConnectionId/refresh",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["vendor connections"],
        summary: "Refresh: the bridge re-reads the vendor's locks; locks gone at the vendor are offboarded",
        params: VcParams,
        response: { 200: VendorConnectionAnswer, ...errors(404) },
      },
    },
    async (request) => {
      const { lockHolderId, vendorConnectionId } = request.params as VcParams;
      const vc = await commit(ctx, async (tx) => {
        const current = await connectionOf(
          tx,
          await lockHolderFor(tx, integratorOf(request), lockHolderId),
          vendorConnectionId,
        );
        const state = current.vendor === "virtual" ? "connected" : "refreshing";
        await tx.vendorConnections.update(current.id, { state, reason: null }, ctx.clock.now());
        const updated = (await tx.vendorConnections.get(current.id))!;
        await new FeedWriter(tx, ctx).vendorConnection(updated);
        return updated;
      });
      return answer(vc);
    },
  );

  app.put(
    "/lock-holders/:lockHolderId/vendor-connections/:vendorConnectionId/update-password",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["vendor connections"],
        summary: "Replace the vendor password; the bridge checks it again",
        params: VcParams,
        body: UpdatePassword,
        response: { 200: VendorConnectionAnswer, ...errors(400, 404, 409) },
      },
    },
    async (request) => {
      const p = integratorOf(request);
      const { lockHolderId, vendorConnectionId } = request.params as VcParams;
      const { password } = request.body as Static<typeof UpdatePassword>;
      const { current, candidates } = await read(ctx, async (tx) => {
        const vc = await connectionOf(tx, await lockHolderFor(tx, p, lockHolderId), vendorConnectionId);
        if (vc.vendor === "virtual" || vc.username === null) {
          throw badRequest("a virtual vendor connection has no password", "not_applicable");
        }
        return {
          current: vc,
          candidates: await tx.vendorConnections.liveWithUsername(p.integratorId, vc.vendor, vc.username),
        };
      });
      const username = current.username!;
      const clash = await sameCredentials(
        candidates.filter((c) => c.id !== current.id),
        current.vendor,
        username,
        password,
      );
      if (clash)
        throw conflict(`these ${current.vendor} credentials are already used by vendor connection ${clash.id}`);
      const check = await credentialCheck(ctx, current.vendor, username, password);
      const vc = await commit(ctx, async (tx) => {
        await refuseNewClash(tx, p.integratorId, [...candidates, current], current.vendor, username, password);
        await tx.vendorConnections.update(current.id, { ...check, state: "connecting", reason: null }, ctx.clock.now());
        const updated = (await tx.vendorConnections.get(current.id))!;
        await new FeedWriter(tx, ctx).vendorConnection(updated);
        return updated;
      });
      return answer(vc);
    },
  );

  app.delete(
    "/lock-holders/:lockHolderId/vendor-connections/:vendorConnectionId",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["vendor connections"],
        summary: "Delete a vendor connection: its locks are offboarded and their keys revoked",
        params: VcParams,
        response: { 204: { type: "null", description: "deleted" }, ...errors(404) },
      },
    },
    async (request, reply) => {
      const { lockHolderId, vendorConnectionId } = request.params as VcParams;
      await commit(ctx, async (tx) => {
        const vc = await connectionOf(
          tx,
          await lockHolderFor(tx, integratorOf(request), lockHolderId),
          vendorConnectionId,
        );
        for (const lock of await tx.locks.listForConnection(vc.id)) await offboardLock(tx, ctx, lock, vc);
        await tx.vendorConnections.markDeleted(vc.id, ctx.clock.now());
        await new FeedWriter(tx, ctx).vendorConnection((await tx.vendorConnections.get(vc.id))!);
      });
      reply.code(204).send();
    },
  );
}
