import {
  errors,
  IdParam,
  Lock,
  LockDetail,
  LockList,
  LockListQuery,
  Obj,
  PatchLock,
} from "@latchkey/protocol/contracts";
import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { CloudContext } from "../../context.js";
import { lockHolderFor, lockOf } from "../../domain/access.js";
import { claimOf } from "../../domain/claims.js";
import { commit, read } from "../../domain/commit.js";
import { mergeAddress } from "../../domain/locks.js";
import { missingEvents } from "../../domain/reports.js";
import { lockView } from "../../domain/views.js";
import { integratorOf } from "../../http/auth.js";
import { conflict } from "../../http/errors.js";
import { LhParams } from "./lock-holders.js";

export const LockParams = Obj({ lockHolderId: IdParam, lockId: IdParam });
export type LockParams = Static<typeof LockParams>;

export function lockRoutes(app: FastifyInstance, ctx: CloudContext): void {
  app.get(
    "/lock-holders/:lockHolderId/locks",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["locks"],
        summary: "List locks (with battery and online)",
        params: LhParams,
        querystring: LockListQuery,
        response: { 200: LockList, ...errors(400, 404) },
      },
    },
    async (request) => {
      const { lockHolderId } = request.params as LhParams;
      const q = request.query as Static<typeof LockListQuery>;
      const page = await read(ctx, async (tx) => {
        const lh = await lockHolderFor(tx, integratorOf(request), lockHolderId);
        const locks = await tx.locks.list(
          lh.id,
          { limit: q.limit ?? 2500, startAfterId: q.startAfterId },
          q.sort ?? "created",
          q.order ?? "asc",
        );
        const claims = await tx.lockClaims.getMany(locks.items.map((l) => l.id));
        return { ...locks, claims: claims.filter((c) => c.lockHolderId === lh.id) };
      });
      const claims = new Map(page.claims.map((c) => [c.lockId, c]));
      return {
        locks: page.items.map((l) => lockView(l, claims.get(l.id))),
        ...(page.startAfterId ? { startAfterId: page.startAfterId } : {}),
      };
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/locks/:lockId",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["locks"],
        summary: "Get a lock",
        params: LockParams,
        response: { 200: LockDetail, ...errors(404) },
      },
    },
    async (request) => {
      const { lockHolderId, lockId } = request.params as LockParams;
      const [lock, claim, reports] = await read(ctx, async (tx) => {
        const lh = await lockHolderFor(tx, integratorOf(request), lockHolderId);
        const claim = await claimOf(tx, lh, lockId);
        return [await lockOf(tx, lh, lockId), claim, claim ? await tx.lockReports.get(lockId) : undefined] as const;
      });
      return { ...lockView(lock, claim), missingEvents: missingEvents(reports) };
    },
  );

  app.patch(
    "/lock-holders/:lockHolderId/locks/:lockId",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["locks"],
        summary:
          "Update a lock: name, imageUrl, timezone, address (null removes it; a partial address merges), " +
          "maxStale (claimed locks only)",
        params: LockParams,
        body: PatchLock,
        response: { 200: Lock, ...errors(400, 404, 409) },
      },
    },
    async (request) => {
      const { lockHolderId, lockId } = request.params as LockParams;
      const body = request.body as Static<typeof PatchLock>;
      const [lock, claim] = await commit(ctx, async (tx) => {
        const lh = await lockHolderFor(tx, integratorOf(request), lockHolderId);
        const current = await lockOf(tx, lh, lockId);
        if (body.maxStale !== undefined) {
          const claimed = await claimOf(tx, lh, lockId);
          if (!claimed) throw conflict("maxStale: the lock is not claimed; claim it with its setup code first");
          await tx.lockClaims.setMaxStale(lockId, lh.id, body.maxStale);
        }
        await tx.locks.update(current.id, {
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(body.imageUrl !== undefined ? { imageUrl: body.imageUrl } : {}),
          ...(body.timezone !== undefined ? { timezone: body.timezone } : {}),
          ...(body.address !== undefined
            ? { address: body.address === null ? null : mergeAddress(current.address, body.address) }
            : {}),
        });
        return [(await tx.locks.get(current.id))!, await claimOf(tx, lh, lockId)] as const;
      });
      return lockView(lock, claim);
    },
  );
}
