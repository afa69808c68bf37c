import {
  BatchCreateKeys,
  CreateKeyOnLock,
  CreateKeyWithLockId,
  EditKey,
  errors,
  IdParam,
  JobAccepted,
  Key,
  KeyList,
  KeyListQuery,
  Obj,
  UpdateKey,
} from "@latchkey/protocol/contracts";
import type { CloudContext } from "../../context.js";
import { keyOf, lockOf } from "../../domain/access.js";
import { userIdFilter } from "../../domain/event-list.js";
import { createKey, editKey, type KeyInput, revokeKey, startKeyBatch } from "../../domain/keys.js";
import { pageAnswer, pageRequest } from "../../domain/pages.js";
import { keyView } from "../../domain/views.js";
import { integratorOf } from "../../http/auth.js";
import { type LockHolderRequest, lockHolderScope } from "../../http/lock-holder.js";
import { route, type TypedApp } from "../../http/typed.js";
import { LhParams } from "./lock-holders.js";
import { LockParams } from "./locks.js";

const KeyParams = Obj({ lockHolderId: IdParam, keyId: IdParam });

const CREATE_DESCRIPTION =
  "Give `end` or `durationMinutes` (from `start`, default now), not both. `userId` is a mobile number (422 " +
  "`invalid_phone_number` naming why if it is not one: a landline, libphonenumber's FIXED_LINE, is refused; " +
  "FIXED_LINE_OR_MOBILE is taken). `metadata` is your own JSON object (at most 4 KiB), returned as stored and never " +
  "put in key tokens. 409 `lock_not_claimed` when the lock holder has not claimed the lock with its setup code " +
  "(virtual locks are claimed by construction); 403 when the lock's vendor connection is in error.";

export function keyRoutes(app: TypedApp, ctx: CloudContext): void {
  const lockHolder = lockHolderScope(ctx);
  /** Both single-key routes: the lock named in the path or in the body, the same work and answer. */
  const created = async (request: LockHolderRequest, lockId: string, input: KeyInput) =>
    keyView(
      ctx,
      await lockHolder.commit(request, async (tx, lh) => createKey(tx, ctx, lh, await lockOf(tx, lh, lockId), input)),
    );
  app.post(
    "/lock-holders/:lockHolderId/locks/:lockId/keys",
    route("integrator", {
      operationId: "createKeyOnLock",
      tags: ["keys"],
      summary: "Create a key for a lock",
      description: CREATE_DESCRIPTION,
      params: LockParams,
      body: CreateKeyOnLock,
      response: { 201: Key, ...errors(400, 404, 409, 422) },
    }),
    async (request, reply) => {
      reply.code(201);
      return created(request, request.params.lockId, request.body);
    },
  );

  app.post(
    "/lock-holders/:lockHolderId/keys",
    route("integrator", {
      operationId: "createKey",
      tags: ["keys"],
      summary: "Create a key, the lock id in the body",
      description: `Same as creating a key under /locks/{lockId}/keys. ${CREATE_DESCRIPTION}`,
      params: LhParams,
      body: CreateKeyWithLockId,
      response: { 201: Key, ...errors(400, 404, 409, 422) },
    }),
    async (request, reply) => {
      const { lockId, ...input } = request.body;
      reply.code(201);
      return created(request, lockId, input);
    },
  );

  app.post(
    "/lock-holders/:lockHolderId/keys/batch",
    route("integrator", {
      operationId: "createKeysBatch",
      tags: ["keys"],
      summary: "Create many keys in a background job",
      description:
        "Every item is validated first: if any is invalid the answer is 400 naming it (409 `lock_not_claimed` naming " +
        "it for a lock not claimed) and no job starts. Otherwise 202 with a job id; the keys are `creating` until " +
        "the job reaches them. Poll GET /jobs/{jobId}.",
      params: LhParams,
      body: BatchCreateKeys,
      // 422: an item's recurrence on a lock with no timezone (lock_timezone_required), as for a single key.
      response: { 202: JobAccepted, ...errors(400, 404, 409, 422) },
    }),
    async (request, reply) => {
      const { keys } = request.body;
      const p = integratorOf(request);
      const job = await lockHolder.commit(request, (tx, lh) => startKeyBatch(tx, ctx, p.integratorId, lh, keys));
      ctx.wake.jobs();
      reply.code(202);
      return { jobId: job.id };
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/keys",
    route("integrator", {
      operationId: "listKeys",
      tags: ["keys"],
      summary: "List keys",
      description:
        "Filters combine: `lockId`, `userId` (a phone number, E.164 or national in the lock holder's country; a bad " +
        "one is a 400 naming it) and `state` (the state now). Unknown ids match nothing. Pages by id as everywhere.",
      params: LhParams,
      querystring: KeyListQuery,
      response: { 200: KeyList, ...errors(400, 404) },
    }),
    async (request) => {
      const q = request.query;
      const page = await lockHolder.read(request, async (tx, lh) => {
        return tx.keys.list(lh.id, pageRequest(q), {
          lockId: q.lockId,
          userId: userIdFilter(q.userId, lh),
          state: q.state === undefined ? undefined : { name: q.state, now: ctx.clock.now() },
        });
      });
      return pageAnswer("keys", page, (k) => keyView(ctx, k));
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/keys/:keyId",
    route("integrator", {
      operationId: "getKey",
      tags: ["keys"],
      summary: "Get a key",
      params: KeyParams,
      response: { 200: Key, ...errors(404) },
    }),
    async (request) => {
      const { keyId } = request.params;
      const key = await lockHolder.read(request, (tx, lh) => keyOf(tx, lh, keyId));
      return keyView(ctx, key);
    },
  );

  app.patch(
    "/lock-holders/:lockHolderId/keys/:keyId",
    route("integrator", {
      operationId: "editKey",
      tags: ["keys"],
      summary: "Edit a key",
      description:
        "Change any of `start`, `end` (or `durationMinutes` from the new or kept start, not both), `recurrence`, " +
        "`metadata` and `userName` of a scheduled or active key, validated as at creation; what is left out is " +
        "kept. The key keeps its id. An edit that narrows it (a later start, an earlier end, a new recurrence) " +
        "revokes the tokens minted before it at the lock; the holder's next prefetch gets a token with the new " +
        "terms. Metadata and name alone change no token. 409 `key_not_editable` for a key revoked, expired, in " +
        "error or still being created.",
      params: KeyParams,
      body: EditKey,
      response: { 200: Key, ...errors(400, 404, 409, 422) },
    }),
    async (request) => {
      const { keyId } = request.params;
      const key = await lockHolder.commit(request, async (tx, lh) =>
        editKey(tx, ctx, await keyOf(tx, lh, keyId), request.body),
      );
      return keyView(ctx, key);
    },
  );

  app.put(
    "/lock-holders/:lockHolderId/keys/:keyId",
    route("integrator", {
      operationId: "updateKey",
      tags: ["keys"],
      summary: 'Revoke a key: {"state": "revoked"}',
      params: KeyParams,
      body: UpdateKey,
      response: { 200: Key, ...errors(400, 404) },
    }),
    async (request) => {
      const { keyId } = request.params;
      const key = await lockHolder.commit(request, async (tx, lh) => revokeKey(tx, ctx, await keyOf(tx, lh, keyId)));
      return keyView(ctx, key);
    },
  );
}
