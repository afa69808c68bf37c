import {
  Bridge,
  BridgeList,
  CreateBridge,
  CreatedBridge,
  errors,
  IdParam,
  iso,
  Obj,
  PageQuery,
  RotatedBridgeSecret,
  RotateSecret,
} from "@latchkey/protocol/contracts";
import type { Static } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { CloudContext } from "../../context.js";
import { lockHolderFor } from "../../domain/access.js";
import { commit, read } from "../../domain/commit.js";
import {
  DEFAULT_OVERLAP_SECONDS,
  endTokensOf,
  revokePreviousSecret,
  rotateSecret,
} from "../../domain/secret-rotation.js";
import { bridgeView } from "../../domain/views.js";
import { integratorOf } from "../../http/auth.js";
import { notFound } from "../../http/errors.js";
import { hashSecret, newSecret } from "../../security/secrets.js";
import type { BridgeRecord } from "../../store/records.js";
import type { Tx } from "../../store/store.js";
import { LhParams } from "./lock-holders.js";

const PageQuerySchema = Obj(PageQuery);
const BridgeParams = Obj({ lockHolderId: IdParam, bridgeId: IdParam });
type BridgeParams = Static<typeof BridgeParams>;

async function bridgeOf(tx: Tx, request: FastifyRequest, params: BridgeParams): Promise<BridgeRecord> {
  const lh = await lockHolderFor(tx, integratorOf(request), params.lockHolderId);
  const b = await tx.bridges.get(params.bridgeId);
  if (!b || b.lockHolderId !== lh.id) throw notFound("bridge");
  return b;
}

/** Gateways registered under a lock holder (beyond Unloc): each gets credentials for the bridge API. */
export function bridgeRoutes(app: FastifyInstance, ctx: CloudContext): void {
  app.post(
    "/lock-holders/:lockHolderId/bridges",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["bridges"],
        summary: "Register a bridge; its secret is shown only in this answer",
        params: LhParams,
        body: CreateBridge,
        response: { 201: CreatedBridge, ...errors(400, 404) },
      },
    },
    async (request, reply) => {
      const { lockHolderId } = request.params as LhParams;
      const body = (request.body ?? {}) as Static<typeof CreateBridge>;
      const secret = newSecret(ctx.random, "lkbs_");
      const bridge = await commit(ctx, async (tx) => {
        const lh = await lockHolderFor(tx, integratorOf(request), lockHolderId);
        const record: BridgeRecord = {
          id: ctx.ids.next("br"),
          lockHolderId: lh.id,
          name: body.name ?? null,
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
      });
      reply.code(201);
      return { bridgeId: bridge.id, secret, bridge: bridgeView(ctx, bridge) };
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/bridges",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["bridges"],
        summary: "List bridges with online, lastSeen and version",
        params: LhParams,
        querystring: PageQuerySchema,
        response: { 200: BridgeList, ...errors(400, 404) },
      },
    },
    async (request) => {
      const { lockHolderId } = request.params as LhParams;
      const q = request.query as Static<typeof PageQuerySchema>;
      const page = await read(ctx, async (tx) => {
        const lh = await lockHolderFor(tx, integratorOf(request), lockHolderId);
        return tx.bridges.list(lh.id, { limit: q.limit ?? 2500, startAfterId: q.startAfterId });
      });
      return {
        bridges: page.items.map((b) => bridgeView(ctx, b)),
        ...(page.startAfterId ? { startAfterId: page.startAfterId } : {}),
      };
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/bridges/:bridgeId",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["bridges"],
        summary: "Get a bridge",
        params: BridgeParams,
        response: { 200: Bridge, ...errors(404) },
      },
    },
    async (request) => {
      const bridge = await read(ctx, (tx) => bridgeOf(tx, request, request.params as BridgeParams));
      return bridgeView(ctx, bridge);
    },
  );

  app.post(
    "/lock-holders/:lockHolderId/bridges/:bridgeId/secret/rotate",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["bridges"],
        summary: "Rotate a bridge's secret; the new one is shown only in this answer",
        description:
          "The old secret keeps working for `overlapSeconds` (default a day, at most 7 days) so the bridge's config can " +
          "be updated, then stops; 0 revokes it and the bridge's tokens issued for it at once. A secret kept from an " +
          "earlier rotation is revoked. See docs/bridge-api.md.",
        params: BridgeParams,
        body: RotateSecret,
        response: { 200: RotatedBridgeSecret, ...errors(400, 404) },
      },
    },
    async (request) => {
      const body = (request.body ?? {}) as Static<typeof RotateSecret>;
      const secret = newSecret(ctx.random, "lkbs_");
      const now = ctx.clock.now();
      const { bridge, expiresOldAt } = await commit(ctx, async (tx) => {
        const b = await bridgeOf(tx, request, request.params as BridgeParams);
        const change = rotateSecret(b, hashSecret(secret), now, body.overlapSeconds ?? DEFAULT_OVERLAP_SECONDS);
        await tx.bridges.setSecrets(b.id, change.next);
        await endTokensOf(tx, change.revoked);
        return { bridge: b, expiresOldAt: change.expiresOldAt };
      });
      return { bridgeId: bridge.id, secret, expiresOldAt: iso(expiresOldAt) };
    },
  );

  app.delete(
    "/lock-holders/:lockHolderId/bridges/:bridgeId/secret/previous",
    {
      config: { auth: "integrator" },
      schema: {
        tags: ["bridges"],
        summary: "Revoke a bridge's old secret now, ending its overlap and the tokens issued for it",
        description: "Idempotent: with no old secret kept, nothing changes.",
        params: BridgeParams,
        response: { 204: { type: "null", description: "the old secret no longer works" }, ...errors(404) },
      },
    },
    async (request, reply) => {
      await commit(ctx, async (tx) => {
        const b = await bridgeOf(tx, request, request.params as BridgeParams);
        const change = revokePreviousSecret(b);
        await tx.bridges.setSecrets(b.id, change.next);
        await endTokensOf(tx, change.revoked);
      });
      reply.code(204).send();
    },
  );
}
