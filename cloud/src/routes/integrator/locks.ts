import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { CloudContext } from "../../context.js";
import { lockHolderFor, lockOf } from "../../domain/access.js";
import { commit, read } from "../../domain/commit.js";
import { mergeAddress } from "../../domain/locks.js";
import { lockView } from "../../domain/views.js";
import { integratorOf } from "../../http/auth.js";
import { errors, IdParam, Obj } from "../../schemas/common.js";
import { Lock, LockList, LockListQuery, PatchLock } from "../../schemas/connections.js";
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
        return tx.locks.list(
          lh.id,
          { limit: q.limit ?? 2500, startAfterId: q.startAfterId },
          q.sort ?? "created",
          q.order ?? "asc",
        );
      });
      return { locks: page.items.map(lockView), ...(page.startAfterId ? { startAfterId: page.startAfterId } : {}) };
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
        response: { 200: Lock, ...errors(404) },
      },
    },
    async (request) => {
      const { lockHolderId, lockId } = request.params as LockParams;
      const lock = await read(ctx, async (tx) =>
        lockOf(tx, await lockHolderFor(tx, integratorOf(request), lockHolderId), lockId),
      );
      return lockView(lock);
    },
  );

  app.patch(
    "/lock-holders/:lockHolderId/locks/:lockId",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["locks"],
        summary: "Update a lock: name, imageUrl, timezone, address (null removes it; a partial address merges)",
        params: LockParams,
        body: PatchLock,
        response: { 200: Lock, ...errors(400, 404) },
      },
    },
    async (request) => {
      const { lockHolderId, lockId } = request.params as LockParams;
      const body = request.body as Static<typeof PatchLock>;
      const lock = await commit(ctx, async (tx) => {
        const current = await lockOf(tx, await lockHolderFor(tx, integratorOf(request), lockHolderId), lockId);
        await tx.locks.update(current.id, {
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(body.imageUrl !== undefined ? { imageUrl: body.imageUrl } : {}),
          ...(body.timezone !== undefined ? { timezone: body.timezone } : {}),
          ...(body.address !== undefined
            ? { address: body.address === null ? null : mergeAddress(current.address, body.address) }
            : {}),
        });
        return (await tx.locks.get(current.id))!;
      });
      return lockView(lock);
    },
  );
}
