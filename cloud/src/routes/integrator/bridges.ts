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
import { bridgeOf, bridgeSecrets, newBridgeSecret, registerBridge } from "../../domain/bridges.js";
import { pageAnswer, pageRequest } from "../../domain/pages.js";
import { revokeStoredPrevious, rotateStoredSecret } from "../../domain/secret-rotation.js";
import { bridgeView } from "../../domain/views.js";
import { lockHolderScope } from "../../http/lock-holder.js";
import { route, type TypedApp } from "../../http/typed.js";
import { LhParams } from "./lock-holders.js";

const PageQuerySchema = Obj(PageQuery);
const BridgeParams = Obj({ lockHolderId: IdParam, bridgeId: IdParam });

/** Gateways registered under a lock holder (beyond Unloc): each gets credentials for the bridge API. */
export function bridgeRoutes(app: TypedApp, ctx: CloudContext): void {
  const lockHolder = lockHolderScope(ctx);
  app.post(
    "/lock-holders/:lockHolderId/bridges",
    route("integrator", {
      operationId: "createBridge",
      tags: ["bridges"],
      summary: "Register a bridge; its secret is shown only in this answer",
      params: LhParams,
      body: CreateBridge,
      response: { 201: CreatedBridge, ...errors(400, 404) },
    }),
    async (request, reply) => {
      const name = request.body?.name ?? null;
      const secret = newBridgeSecret(ctx);
      const bridge = await lockHolder.commit(request, (tx, lh) => registerBridge(tx, ctx, lh, name, secret));
      reply.code(201);
      return { bridgeId: bridge.id, secret, bridge: bridgeView(ctx, bridge) };
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/bridges",
    route("integrator", {
      operationId: "listBridges",
      tags: ["bridges"],
      summary: "List bridges with online, lastSeen and version",
      params: LhParams,
      querystring: PageQuerySchema,
      response: { 200: BridgeList, ...errors(400, 404) },
    }),
    async (request) => {
      const q = request.query;
      const page = await lockHolder.read(request, (tx, lh) => tx.bridges.list(lh.id, pageRequest(q)));
      return pageAnswer("bridges", page, (b) => bridgeView(ctx, b));
    },
  );

  app.get(
    "/lock-holders/:lockHolderId/bridges/:bridgeId",
    route("integrator", {
      operationId: "getBridge",
      tags: ["bridges"],
      summary: "Get a bridge",
      params: BridgeParams,
      response: { 200: Bridge, ...errors(404) },
    }),
    async (request) => {
      const bridge = await lockHolder.read(request, (tx, lh) => bridgeOf(tx, lh, request.params.bridgeId));
      return bridgeView(ctx, bridge);
    },
  );

  app.post(
    "/lock-holders/:lockHolderId/bridges/:bridgeId/secret/rotate",
    route("integrator", {
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
    }),
    async (request) => {
      const secret = newBridgeSecret(ctx);
      const now = ctx.clock.now();
      const expiresOldAt = await lockHolder.commit(request, async (tx, lh) => {
        const bridge = await bridgeOf(tx, lh, request.params.bridgeId);
        return rotateStoredSecret(tx, bridgeSecrets(tx, bridge), secret, now, request.body?.overlapSeconds);
      });
      return { bridgeId: request.params.bridgeId, secret, expiresOldAt: iso(expiresOldAt) };
    },
  );

  app.delete(
    "/lock-holders/:lockHolderId/bridges/:bridgeId/secret/previous",
    route("integrator", {
      operationId: "revokePreviousBridgeSecret",
      tags: ["bridges"],
      summary: "Revoke a bridge's old secret now, ending its overlap and the tokens issued for it",
      description: "Idempotent: with no old secret kept, nothing changes.",
      params: BridgeParams,
      response: { 204: { type: "null", description: "the old secret no longer works" }, ...errors(404) },
    }),
    async (request, reply) => {
      await lockHolder.commit(request, async (tx, lh) =>
        revokeStoredPrevious(tx, bridgeSecrets(tx, await bridgeOf(tx, lh, request.params.bridgeId))),
      );
      reply.code(204).send();
    },
  );
}
