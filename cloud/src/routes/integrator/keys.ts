import {
  BatchCreateKeys,
  CreateKeyOnLock,
  CreateKeyWithLockId,
  errors,
  IdParam,
  JobAccepted,
  Key,
  KeyList,
  KeyListQuery,
  Obj,
  UpdateKey,
} from "@latchkey/protocol/contracts";
import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { CloudContext } from "../../context.js";
import { lockHolderFor, lockInBody, lockOf } from "../../domain/access.js";
import { assertClaimed } from "../../domain/claims.js";
import { commit, read } from "../../domain/commit.js";
import { userIdFilter } from "../../domain/event-list.js";
import { checkMetadata, createKey, keyHolderNumber, keyWindow, newKeyRecord, revokeKey } from "../../domain/keys.js";
import { keyView } from "../../domain/views.js";
import { integratorOf } from "../../http/auth.js";
import { ApiError, badRequest, notFound } from "../../http/errors.js";
import type { JobRecord, KeyRecord, LockRecord } from "../../store/records.js";
import { LhParams } from "./lock-holders.js";
import { LockParams } from "./locks.js";

const KeyParams = Obj({ lockHolderId: IdParam, keyId: IdParam });
type KeyParams = Static<typeof KeyParams>;

const CREATE_DESCRIPTION =
  "Give `end` or `durationMinutes` (from `start`, default now), not both. `userId` is a mobile number (422 " +
  "`invalid_phone_number` naming why if it is not one: a landline, libphonenumber's FIXED_LINE, is refused; " +
  "FIXED_LINE_OR_MOBILE is taken). `metadata` is your own JSON object (at most 4 KiB), returned as stored and never " +
  "put in key tokens. 409 `lock_not_claimed` when the lock holder has not claimed the lock with its setup code " +
  "(virtual locks are claimed by construction); 403 when the lock's vendor connection is in error.";

export function keyRoutes(app: FastifyInstance, ctx: CloudContext): void {
  app.post(
    "/lock-holders/:lockHolderId/locks/:lockId/keys",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["keys"],
        summary: "Create a key for a lock",
        description: CREATE_DESCRIPTION,
        params: LockParams,
        body: CreateKeyOnLock,
        response: { 201: Key, ...errors(400, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const { lockHolderId, lockId } = request.params as LockParams;
      const body = request.body as Static<typeof CreateKeyOnLock>;
      const key = await commit(ctx, async (tx) => {
        const lh = await lockHolderFor(tx, integratorOf(request), lockHolderId);
        return createKey(tx, ctx, lh, await lockOf(tx, lh, lockId), body);
      });
      reply.code(201);
      return keyView(ctx, key);
    },
  );

  app.post(
    "/lock-holders/:lockHolderId/keys",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["keys"],
        summary: "Create a key, the lock id in the body",
        description: `Same as creating a key under /locks/{lockId}/keys. ${CREATE_DESCRIPTION}`,
        params: LhParams,
        body: CreateKeyWithLockId,
        response: { 201: Key, ...errors(400, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const { lockHolderId } = request.params as LhParams;
      const { lockId, ...input } = request.body as Static<typeof CreateKeyWithLockId>;
      const key = await commit(ctx, async (tx) => {
        const lh = await lockHolderFor(tx, integratorOf(request), lockHolderId);
        return createKey(tx, ctx, lh, await lockOf(tx, lh, lockId), input);
      });
      reply.code(201);
      return keyView(ctx, key);
    },
  );

  app.post(
    "/lock-holders/:lockHolderId/keys/batch",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["keys"],
        summary: "Create many keys in a background job",
        description:
          "Every item is validated first: if any is invalid the answer is 400 naming it (409 `lock_not_claimed` naming " +
          "it for a lock not claimed) and no job starts. Otherwise 202 with a job id; the keys are `creating` until " +
          "the job reaches them. Poll GET /jobs/{jobId}.",
        params: LhParams,
        body: BatchCreateKeys,
        response: { 202: JobAccepted, ...errors(400, 404, 409) },
      },
    },
    async (request, reply) => {
      const { lockHolderId } = request.params as LhParams;
      const { keys } = request.body as Static<typeof BatchCreateKeys>;
      const p = integratorOf(request);
      const job = await commit(ctx, async (tx) => {
        const lh = await lockHolderFor(tx, p, lockHolderId);
        const now = ctx.clock.now();
        const jobId = ctx.ids.next("job");
        const records: KeyRecord[] = [];
        // Batches name the same few locks over and over: read each once.
        const locks = new Map<string, LockRecord>();
        for (const [index, item] of keys.entries()) {
          const field = `body.keys.${index}`;
          const window = keyWindow(item, now, field);
          checkMetadata(item.metadata, ctx.settings.metadataMaxBytes, field);
          let userId: string;
          try {
            userId = keyHolderNumber(item.userId, lh, field);
          } catch (e) {
            throw e instanceof ApiError ? badRequest(e.errorDescription, "invalid_phone_number") : e;
          }
          let lock = locks.get(item.lockId);
          if (!lock) {
            lock = await lockInBody(tx, lh, item.lockId, `${field}.lockId`);
            await assertClaimed(tx, lock, `${field}.lockId`);
            locks.set(lock.id, lock);
          }
          records.push(newKeyRecord(ctx, lh, lock, item, window, userId, { status: "creating", jobId }));
        }
        await tx.keys.insertMany(records);
        const record: JobRecord = {
          id: jobId,
          integratorId: p.integratorId,
          lockHolderId: lh.id,
          kind: "keys.batch",
          status: "pending",
          total: records.length,
          done: 0,
          keyIds: records.map((r) => r.id),
          results: [],
          createdAt: now,
          updatedAt: now,
        };
        await tx.jobs.insert(record);
        return record;
      });
      ctx.wake.jobs();
      reply.code(202);
      return { jobId: job.id };
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/keys",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["keys"],
        summary: "List keys",
        description:
          "Filters combine: `lockId`, `userId` (a phone number, E.164 or national in the lock holder's country; a bad " +
          "one is a 400 naming it) and `state` (the state now). Unknown ids match nothing. Pages by id as everywhere.",
        params: LhParams,
        querystring: KeyListQuery,
        response: { 200: KeyList, ...errors(400, 404) },
      },
    },
    async (request) => {
      const { lockHolderId } = request.params as LhParams;
      const q = request.query as Static<typeof KeyListQuery>;
      const page = await read(ctx, async (tx) => {
        const lh = await lockHolderFor(tx, integratorOf(request), lockHolderId);
        return tx.keys.list(
          lh.id,
          { limit: q.limit ?? 2500, startAfterId: q.startAfterId },
          {
            lockId: q.lockId,
            userId: userIdFilter(q.userId, lh),
            state: q.state === undefined ? undefined : { name: q.state, now: ctx.clock.now() },
          },
        );
      });
      return {
        keys: page.items.map((k) => keyView(ctx, k)),
        ...(page.startAfterId ? { startAfterId: page.startAfterId } : {}),
      };
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/keys/:keyId",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["keys"],
        summary: "Get a key",
        params: KeyParams,
        response: { 200: Key, ...errors(404) },
      },
    },
    async (request) => {
      const { lockHolderId, keyId } = request.params as KeyParams;
      const key = await read(ctx, async (tx) => {
        const lh = await lockHolderFor(tx, integratorOf(request), lockHolderId);
        const k = await tx.keys.get(keyId);
        if (!k || k.lockHolderId !== lh.id) throw notFound("key");
        return k;
      });
      return keyView(ctx, key);
    },
  );

  app.put(
    "/lock-holders/:lockHolderId/keys/:keyId",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["keys"],
        summary: 'Revoke a key: {"state": "revoked"}',
        params: KeyParams,
        body: UpdateKey,
        response: { 200: Key, ...errors(400, 404) },
      },
    },
    async (request) => {
      const { lockHolderId, keyId } = request.params as KeyParams;
      const key = await commit(ctx, async (tx) => {
        const lh = await lockHolderFor(tx, integratorOf(request), lockHolderId);
        const k = await tx.keys.get(keyId);
        if (!k || k.lockHolderId !== lh.id) throw notFound("key");
        return revokeKey(tx, ctx, k);
      });
      return keyView(ctx, key);
    },
  );
}
