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
import type { CloudContext } from "../../context.js";
import { notFound } from "../../domain/errors.js";
import {
  DEFAULT_OVERLAP_SECONDS,
  endTokensOf,
  revokePreviousSecret,
  rotateSecret,
} from "../../domain/secret-rotation.js";
import { bridgeView } from "../../domain/views.js";
import { lockHolderScope } from "../../http/lock-holder.js";
import type { TypedApp } from "../../http/typed.js";
import { hashSecret, newSecret } from "../../security/secrets.js";
import type { BridgeRecord, LockHolderRecord } from "../../store/records.js";
import type { Tx } from "../../store/store.js";
import { LhParams } from "./lock-holders.js";

const PageQuerySchema = Obj(PageQuery);
const BridgeParams = Obj({ lockHolderId: IdParam, bridgeId: IdParam });

async function bridgeOf(tx: Tx, lh: LockHolderRecord, bridgeId: string): Promise<BridgeRecord> {
  const b = await tx.bridges.get(bridgeId);
  if (!b || b.lockHolderId !== lh.id) throw notFound("bridge");
  return b;
}

/** Gateways registered under a lock holder (beyond Unloc): each gets credentials for the bridge API. */
export function bridgeRoutes(app: TypedApp, ctx: CloudContext): void {
  const lockHolder = lockHolderScope(ctx);
  app.post(
    "/lock-holders/:lockHolderId/bridges",
    {
      config: { auth: "integrator" },
      schema: {
        operationId: "createBridge",
        tags: ["bridges"],
        summary: "Register a bridge; its secret is shown only in this answer",
        params: LhParams,
        body: CreateBridge,
        response: { 201: CreatedBridge, ...errors(400, 404) },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const secret = newSecret(ctx.random, "lkbs_");
      const bridge = await lockHolder.commit(request, async (tx, lh) => {
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
        operationId: "listBridges",
        tags: ["bridges"],
        summary: "List bridges with online, lastSeen and version",
        params: LhParams,
        querystring: PageQuerySchema,
        response: { 200: BridgeList, ...errors(400, 404) },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await lockHolder.read(request, (tx, lh) =>
        tx.bridges.list(lh.id, { limit: q.limit ?? 2500, startAfterId: q.startAfterId }),
      );
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
        operationId: "getBridge",
        tags: ["bridges"],
        summary: "Get a bridge",
        params: BridgeParams,
        response: { 200: Bridge, ...errors(404) },
      },
    },
    async (request) => {
      const bridge = await lockHolder.read(request, (tx, lh) => bridgeOf(tx, lh, request.params.bridgeId));
      return bridgeView(ctx, bridge);
    },
  );

  app.post(
    "/lock-holders/:lockHolderId/bridges/:bridgeId/secret/rotate",
    {
      config: { auth: "integrator" },
      schema: {
        operationId: "rotateBridgeSecret",
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
      const body = request.body ?? {};
      const secret = newSecret(ctx.random, "lkbs_");
      const now = ctx.clock.now();
      const { bridge, expiresOldAt } = await lockHolder.commit(request, async (tx, lh) => {
        const b = await bridgeOf(tx, lh, request.params.bridgeId);
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
        operationId: "revokePreviousBridgeSecret",
        tags: ["bridges"],
        summary: "Revoke a bridge's old secret now, ending its overlap and the tokens issued for it",
        description: "Idempotent: with no old secret kept, nothing changes.",
        params: BridgeParams,
        response: { 204: { type: "null", description: "the old secret no longer works" }, ...errors(404) },
      },
    },
    async (request, reply) => {
      await lockHolder.commit(request, async (tx, lh) => {
        const b = await bridgeOf(tx, lh, request.params.bridgeId);
        const change = revokePreviousSecret(b);
        await tx.bridges.setSecrets(b.id, change.next);
        await endTokensOf(tx, change.revoked);
      });
      reply.code(204).send();
    },
  );
}
