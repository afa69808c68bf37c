import {
  errors,
  FoundLocks,
  FoundLocksAnswer,
  Heartbeat,
  IdParam,
  Obj,
  StateReport,
} from "@latchkey/protocol/contracts";
import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { CloudContext } from "../../context.js";
import { commit } from "../../domain/commit.js";
import { offboardLock } from "../../domain/locks.js";
import { FeedWriter } from "../../feed/changes.js";
import { bridgeOf } from "../../http/auth.js";
import { notFound } from "../../http/errors.js";
import type { LockRecord, VendorConnectionRecord } from "../../store/records.js";
import type { Tx } from "../../store/store.js";

const VcParams = Obj({ vendorConnectionId: IdParam });

async function servedConnection(tx: Tx, bridgeId: string, id: string): Promise<VendorConnectionRecord> {
  const vc = await tx.vendorConnections.get(id);
  if (!vc || vc.bridgeId !== bridgeId || vc.deletedAt !== null) throw notFound("vendor connection");
  return vc;
}

/** What a bridge tells the cloud: connection states, the locks it found, that it is alive. */
export function reportRoutes(app: FastifyInstance, ctx: CloudContext): void {
  app.put(
    "/vendor-connections/:vendorConnectionId/state",
    {
      config: { auth: "bridge" },
      schema: {
        tags: ["bridge API"],
        summary: "Report a vendor connection's state",
        params: VcParams,
        body: StateReport,
        response: { 204: { type: "null", description: "recorded" }, ...errors(400, 404) },
      },
    },
    async (request, reply) => {
      const bridge = bridgeOf(request);
      const { vendorConnectionId } = request.params as Static<typeof VcParams>;
      const { state, reason } = request.body as Static<typeof StateReport>;
      await commit(ctx, async (tx) => {
        const vc = await servedConnection(tx, bridge.bridgeId, vendorConnectionId);
        await tx.vendorConnections.update(vc.id, { state, reason: reason ?? null }, ctx.clock.now());
      });
      reply.code(204).send();
    },
  );

  app.put(
    "/vendor-connections/:vendorConnectionId/locks",
    {
      config: { auth: "bridge" },
      schema: {
        tags: ["bridge API"],
        summary: "Report the full list of locks found for a vendor connection",
        description:
          "New ids are created under the connection's lock holder; an id owned by another connection is `conflict`. " +
          "While the connection is `refreshing`, its locks missing from the list are offboarded (keys revoked).",
        params: VcParams,
        body: FoundLocks,
        response: { 200: FoundLocksAnswer, ...errors(400, 404) },
      },
    },
    async (request) => {
      const bridge = bridgeOf(request);
      const { vendorConnectionId } = request.params as Static<typeof VcParams>;
      const { locks } = request.body as Static<typeof FoundLocks>;
      const results = await commit(ctx, async (tx) => {
        const vc = await servedConnection(tx, bridge.bridgeId, vendorConnectionId);
        const feed = new FeedWriter(tx, ctx);
        const now = ctx.clock.now();
        const out: { id: string; status: "created" | "existing" | "conflict" }[] = [];
        const seen = new Set<string>();
        for (const found of locks) {
          if (seen.has(found.id)) continue;
          seen.add(found.id);
          const existing = await tx.locks.get(found.id);
          if (existing && existing.removedAt === null) {
            out.push({ id: found.id, status: existing.vendorConnectionId === vc.id ? "existing" : "conflict" });
            continue;
          }
          const name = found.name ?? found.id;
          if (existing) {
            await tx.locks.reassign(found.id, vc.lockHolderId, vc.id, vc.vendor, name, now);
          } else {
            const lock: LockRecord = {
              id: found.id,
              lockHolderId: vc.lockHolderId,
              vendorConnectionId: vc.id,
              vendor: vc.vendor,
              name,
              imageUrl: null,
              address: null,
              timezone: null,
              createdAt: now,
              removedAt: null,
              battery: null,
              online: false,
              presenceTsS: null,
              eventSeq: 0,
            };
            await tx.locks.insert(lock);
          }
          await feed.lock((await tx.locks.get(found.id))!, false);
          out.push({ id: found.id, status: "created" });
        }
        if (vc.state === "refreshing") {
          for (const lock of await tx.locks.listForConnection(vc.id)) {
            if (!seen.has(lock.id)) await offboardLock(tx, ctx, lock, vc);
          }
        }
        return out;
      });
      return { locks: results };
    },
  );

  app.post(
    "/heartbeat",
    {
      config: { auth: "bridge" },
      schema: {
        tags: ["bridge API"],
        summary: "Bridge heartbeat: sets online and lastSeen",
        body: Heartbeat,
        response: { 204: { type: "null", description: "recorded" }, ...errors(400) },
      },
    },
    async (request, reply) => {
      const bridge = bridgeOf(request);
      const { version, locksOnline } = request.body as Static<typeof Heartbeat>;
      await commit(ctx, (tx) => tx.bridges.heartbeat(bridge.bridgeId, ctx.clock.now(), version, locksOnline ?? null));
      reply.code(204).send();
    },
  );
}
