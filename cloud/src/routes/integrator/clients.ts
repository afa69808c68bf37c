import { errors, IdParam, iso, Obj, RotatedClientSecret, RotateSecret } from "@latchkey/protocol/contracts";
import type { CloudContext } from "../../context.js";
import { clientOf, clientSecrets, newClientSecret } from "../../domain/clients.js";
import { commit } from "../../domain/commit.js";
import { revokeStoredPrevious, rotateStoredSecret } from "../../domain/secret-rotation.js";
import { integratorOf } from "../../http/auth.js";
import { route, type TypedApp } from "../../http/typed.js";

const ClientParams = Obj({ integratorId: IdParam, clientId: IdParam });

/**
 * The integrator's own OAuth2 client credentials (review 12.7; cloud/README.md "Rotating secrets"). Only an
 * integrator.admin token may change them: a token scoped to one lock holder must not take over the whole integrator.
 */
export function clientRoutes(app: TypedApp, ctx: CloudContext): void {
  app.post(
    "/integrator/:integratorId/clients/:clientId/secret/rotate",
    route("integrator.admin", {
      operationId: "rotateClientSecret",
      tags: ["integrator"],
      summary: "Rotate your client secret; the new one is shown only in this answer",
      description:
        "The old secret keeps working for `overlapSeconds` (default a day, at most 7 days), then stops; 0 revokes " +
        "it at once, with every access token issued for it (the one making this call too, if it was). A secret " +
        "kept from an earlier rotation is revoked.",
      params: ClientParams,
      body: RotateSecret,
      response: { 200: RotatedClientSecret, ...errors(400, 404) },
    }),
    async (request) => {
      const p = integratorOf(request);
      const { integratorId, clientId } = request.params;
      const secret = newClientSecret(ctx);
      const now = ctx.clock.now();
      const expiresOldAt = await commit(ctx, async (tx) => {
        const client = await clientOf(tx, p, integratorId, clientId);
        return rotateStoredSecret(tx, clientSecrets(tx, client), secret, now, request.body?.overlapSeconds);
      });
      return { clientId, secret, expiresOldAt: iso(expiresOldAt) };
    },
  );

  app.delete(
    "/integrator/:integratorId/clients/:clientId/secret/previous",
    route("integrator.admin", {
      operationId: "revokePreviousClientSecret",
      tags: ["integrator"],
      summary: "Revoke your old client secret now, ending its overlap and the tokens issued for it",
      description: "Idempotent: with no old secret kept, nothing changes.",
      params: ClientParams,
      response: { 204: { type: "null", description: "the old secret no longer works" }, ...errors(404) },
    }),
    async (request, reply) => {
      const p = integratorOf(request);
      const { integratorId, clientId } = request.params;
      await commit(ctx, async (tx) =>
        revokeStoredPrevious(tx, clientSecrets(tx, await clientOf(tx, p, integratorId, clientId))),
      );
      reply.code(204).send();
    },
  );
}
