import { errors, IdParam, iso, Obj, RotatedClientSecret, RotateSecret } from "@latchkey/protocol/contracts";
import type { Static } from "@sinclair/typebox";
import type { CloudContext } from "../../context.js";
import { commit } from "../../domain/commit.js";
import { notFound } from "../../domain/errors.js";
import {
  DEFAULT_OVERLAP_SECONDS,
  endTokensOf,
  revokePreviousSecret,
  rotateSecret,
} from "../../domain/secret-rotation.js";
import type { Principal } from "../../http/auth.js";
import { integratorOf } from "../../http/auth.js";
import type { TypedApp } from "../../http/typed.js";
import { hashSecret, newSecret } from "../../security/secrets.js";
import type { ClientRecord } from "../../store/records.js";
import type { Tx } from "../../store/store.js";

const ClientParams = Obj({ integratorId: IdParam, clientId: IdParam });
type ClientParams = Static<typeof ClientParams>;

/** The caller's own client; anyone else's (or none) is a 404, as for every object (domain/access.ts). */
async function clientOf(tx: Tx, request: { principal?: Principal; params: ClientParams }): Promise<ClientRecord> {
  const p = integratorOf(request);
  const { integratorId, clientId } = request.params;
  if (integratorId !== p.integratorId) throw notFound("integrator");
  const client = await tx.integrators.getClient(clientId);
  if (!client || client.integratorId !== p.integratorId) throw notFound("client");
  return client;
}

/**
 * The integrator's own OAuth2 client credentials (review 12.7; cloud/README.md "Rotating secrets"). Only an
 * integrator.admin token may change them: a token scoped to one lock holder must not take over the whole integrator.
 */
export function clientRoutes(app: TypedApp, ctx: CloudContext): void {
  app.post(
    "/integrator/:integratorId/clients/:clientId/secret/rotate",
    {
      config: { auth: "integrator.admin" },
      schema: {
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
      },
    },
    async (request) => {
      const body = request.body ?? {};
      const secret = newSecret(ctx.random, "lkcs_");
      const now = ctx.clock.now();
      const { client, expiresOldAt } = await commit(ctx, async (tx) => {
        const c = await clientOf(tx, request);
        const change = rotateSecret(c, hashSecret(secret), now, body.overlapSeconds ?? DEFAULT_OVERLAP_SECONDS);
        await tx.integrators.setClientSecrets(c.clientId, change.next);
        await endTokensOf(tx, change.revoked);
        return { client: c, expiresOldAt: change.expiresOldAt };
      });
      return { clientId: client.clientId, secret, expiresOldAt: iso(expiresOldAt) };
    },
  );

  app.delete(
    "/integrator/:integratorId/clients/:clientId/secret/previous",
    {
      config: { auth: "integrator.admin" },
      schema: {
        operationId: "revokePreviousClientSecret",
        tags: ["integrator"],
        summary: "Revoke your old client secret now, ending its overlap and the tokens issued for it",
        description: "Idempotent: with no old secret kept, nothing changes.",
        params: ClientParams,
        response: { 204: { type: "null", description: "the old secret no longer works" }, ...errors(404) },
      },
    },
    async (request, reply) => {
      await commit(ctx, async (tx) => {
        const c = await clientOf(tx, request);
        const change = revokePreviousSecret(c);
        await tx.integrators.setClientSecrets(c.clientId, change.next);
        await endTokensOf(tx, change.revoked);
      });
      reply.code(204).send();
    },
  );
}
