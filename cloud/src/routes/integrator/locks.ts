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
import type { CloudContext } from "../../context.js";
import { lockOf } from "../../domain/access.js";
import { claimOf } from "../../domain/claims.js";
import { updateLock } from "../../domain/locks.js";
import { pageAnswer, pageRequest } from "../../domain/pages.js";
import { missingEvents } from "../../domain/reports.js";
import { lockView } from "../../domain/views.js";
import { lockHolderScope } from "../../http/lock-holder.js";
import { route, type TypedApp } from "../../http/typed.js";
import { LhParams } from "./lock-holders.js";

export const LockParams = Obj({ lockHolderId: IdParam, lockId: IdParam });

export function lockRoutes(app: TypedApp, ctx: CloudContext): void {
  const lockHolder = lockHolderScope(ctx);
  app.get(
    "/lock-holders/:lockHolderId/locks",
    route("integrator", {
      operationId: "listLocks",
      tags: ["locks"],
      summary: "List locks (with battery and online)",
      params: LhParams,
      querystring: LockListQuery,
      response: { 200: LockList, ...errors(400, 404) },
    }),
    async (request) => {
      const q = request.query;
      const page = await lockHolder.read(request, async (tx, lh) => {
        const locks = await tx.locks.list(lh.id, pageRequest(q), q.sort ?? "created", q.order ?? "asc");
        const claims = await tx.lockClaims.getMany(locks.items.map((l) => l.id));
        return { ...locks, claims: claims.filter((c) => c.lockHolderId === lh.id) };
      });
      const claims = new Map(page.claims.map((c) => [c.lockId, c]));
      return pageAnswer("locks", page, (l) => lockView(l, claims.get(l.id)));
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/locks/:lockId",
    route("integrator", {
      operationId: "getLock",
      tags: ["locks"],
      summary: "Get a lock",
      params: LockParams,
      response: { 200: LockDetail, ...errors(404) },
    }),
    async (request) => {
      const { lockId } = request.params;
      const [lock, claim, reports] = await lockHolder.read(request, async (tx, lh) => {
        const claim = await claimOf(tx, lh, lockId);
        return [await lockOf(tx, lh, lockId), claim, claim ? await tx.lockReports.get(lockId) : undefined] as const;
      });
      return { ...lockView(lock, claim), missingEvents: missingEvents(reports) };
    },
  );

  app.patch(
    "/lock-holders/:lockHolderId/locks/:lockId",
    route("integrator", {
      operationId: "updateLock",
      tags: ["locks"],
      summary:
        "Update a lock: name, imageUrl, timezone, address (null removes it; a partial address merges), " +
        "maxStale (claimed locks only)",
      params: LockParams,
      body: PatchLock,
      response: { 200: Lock, ...errors(400, 404, 409) },
    }),
    async (request) => {
      const { lockId } = request.params;
      const [lock, claim] = await lockHolder.commit(request, (tx, lh) => updateLock(tx, ctx, lh, lockId, request.body));
      return lockView(lock, claim);
    },
  );
}
