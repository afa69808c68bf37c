import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { CloudContext } from "../../context.js";
import { lockHolderFor } from "../../domain/access.js";
import { commit, read } from "../../domain/commit.js";
import { bridgeView } from "../../domain/views.js";
import { integratorOf } from "../../http/auth.js";
import { notFound } from "../../http/errors.js";
import { errors, IdParam, Obj, PageQuery } from "../../schemas/common.js";
import { Bridge, BridgeList, CreateBridge, CreatedBridge } from "../../schemas/integrator.js";
import { hashSecret, newSecret } from "../../security/secrets.js";
import type { BridgeRecord } from "../../store/records.js";
import { LhParams } from "./lock-holders.js";

const PageQuerySchema = Obj(PageQuery);
const BridgeParams = Obj({ lockHolderId: IdParam, bridgeId: IdParam });

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
      const { lockHolderId, bridgeId } = request.params as Static<typeof BridgeParams>;
      const bridge = await read(ctx, async (tx) => {
        const lh = await lockHolderFor(tx, integratorOf(request), lockHolderId);
        const b = await tx.bridges.get(bridgeId);
        if (!b || b.lockHolderId !== lh.id) throw notFound("bridge");
        return b;
      });
      return bridgeView(ctx, bridge);
    },
  );
}
