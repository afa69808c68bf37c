import {
  ACTION_ERRORS,
  Action,
  ActionList,
  CreateAction,
  errorsWithExamples,
  IdParam,
  Obj,
  PageQuery,
} from "@latchkey/protocol/contracts";
import type { CloudContext } from "../../context.js";
import { lockOf } from "../../domain/access.js";
import { actionOf, actionView, createAction } from "../../domain/actions.js";
import { pageAnswer, pageRequest } from "../../domain/pages.js";
import { lockHolderScope } from "../../http/lock-holder.js";
import { route, type TypedApp } from "../../http/typed.js";
import { LockParams } from "./locks.js";

const ActionParams = Obj({ lockHolderId: IdParam, lockId: IdParam, actionId: IdParam });
const PageQuerySchema = Obj(PageQuery);

/**
 * Remote unlock and lock (docs/design.md section 4, docs/bridge-api.md "Remote actions"): only on the lock holder's own
 * claimed locks (404 for any other lock, as on every lock route; 409 `lock_not_claimed`).
 */
export function actionRoutes(app: TypedApp, ctx: CloudContext): void {
  const lockHolder = lockHolderScope(ctx);
  app.post(
    "/lock-holders/:lockHolderId/locks/:lockId/actions",
    route("integrator", {
      operationId: "createAction",
      tags: ["locks"],
      summary: "Unlock or lock a lock remotely",
      description:
        "202 with the action: `pending` until the lock's bridge fetches the signed command (`sent`), `succeeded` " +
        "once the lock's own sealed report of the unlock or lock arrives, `failed` when the bridge reports the lock " +
        "unreachable or refusing, `expired` after 60 s. Poll GET …/actions/{actionId}. A virtual lock runs it at " +
        "once (answered `succeeded`). 409 `lock_not_claimed`; 403 `vendor_connection_error`.",
      params: LockParams,
      body: CreateAction,
      response: {
        202: Action,
        ...errorsWithExamples({
          400: [ACTION_ERRORS.badRequest],
          403: [ACTION_ERRORS.connectionError],
          404: [ACTION_ERRORS.notFoundLock],
          409: [ACTION_ERRORS.notClaimed],
        }),
      },
    }),
    async (request, reply) => {
      const { lockId } = request.params;
      const { action } = request.body;
      const record = await lockHolder.commit(request, async (tx, lh) =>
        createAction(tx, ctx, lh, await lockOf(tx, lh, lockId), action),
      );
      // `pending` for a bridge to carry; a virtual lock's is `succeeded` at once.
      ctx.metrics.countActions(record.status);
      reply.code(202);
      return actionView(record, ctx.clock.now());
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/locks/:lockId/actions/:actionId",
    route("integrator", {
      operationId: "getAction",
      tags: ["locks"],
      summary: "Get a remote action",
      params: ActionParams,
      response: { 200: Action, ...errorsWithExamples({ 404: [ACTION_ERRORS.notFoundAction] }) },
    }),
    async (request) => {
      const { lockId, actionId } = request.params;
      const action = await lockHolder.read(request, async (tx, lh) =>
        actionOf(tx, await lockOf(tx, lh, lockId), actionId),
      );
      return actionView(action, ctx.clock.now());
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/locks/:lockId/actions",
    route("integrator", {
      operationId: "listActions",
      tags: ["locks"],
      summary: "List a lock's remote actions, oldest first",
      params: LockParams,
      querystring: PageQuerySchema,
      response: { 200: ActionList, ...errorsWithExamples({ 404: [ACTION_ERRORS.notFoundLock] }, 400) },
    }),
    async (request) => {
      const { lockId } = request.params;
      const q = request.query;
      const page = await lockHolder.read(request, async (tx, lh) => {
        const lock = await lockOf(tx, lh, lockId);
        return tx.remoteActions.listForLock(lock.id, pageRequest(q));
      });
      const now = ctx.clock.now();
      return pageAnswer("actions", page, (a) => actionView(a, now));
    },
  );
}
