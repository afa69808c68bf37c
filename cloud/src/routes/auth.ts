import { normalizeIP } from "@fastify/rate-limit";
import { errors, TokenAnswer, TokenRequest } from "@latchkey/protocol/contracts";
import type { Static } from "@sinclair/typebox";
import type { FastifyRequest, onRequestHookHandler, preHandlerHookHandler } from "fastify";
import type { CloudContext } from "../context.js";
import { commit, read } from "../domain/commit.js";
import { invalid } from "../domain/errors.js";
import { matchSecret, type SecretMatch } from "../domain/secret-rotation.js";
import { clientCredentials, invalidClient } from "../http/client-auth.js";
import { ApiError } from "../http/errors.js";
import type { TypedApp } from "../http/typed.js";
import { hashSecret, newSecret } from "../security/secrets.js";
import type { AccessTokenRecord } from "../store/records.js";

const LOCK_HOLDER_SCOPE = /^lockHolder\.admin:(.+)$/;

/**
 * Limits on `POST /auth/v1/token` (docs/app-api.md "Limits"), by @fastify/rate-limit (registered on `app` by the
 * caller): per client address before the body is read, and per `client_id` once it is validated (a limiter of its
 * own, checked by hand: the plugin runs only one of its route hooks per request). A 429 carries Retry-After. Counts
 * live in this process's memory.
 */
function tokenRateLimits(app: TypedApp, settings: CloudContext["settings"]) {
  const timeWindow = settings.tokenRateWindowSeconds * 1000;
  const onRequest: onRequestHookHandler[] = [];
  // Credentials first: a request that sends them wrongly is refused before it counts against any client id.
  const preHandler: preHandlerHookHandler[] = [async (request) => void credentialsOf(request)];
  if (settings.tokenRequestsPerAddress > 0) {
    onRequest.push(
      app.rateLimit({
        max: settings.tokenRequestsPerAddress,
        timeWindow,
        keyGenerator: (request) => `address:${normalizeIP(request.ip, 64)}`,
      }),
    );
  }
  if (settings.tokenRequestsPerClient > 0) {
    const perClient = app.createRateLimit({
      max: settings.tokenRequestsPerClient,
      timeWindow,
      keyGenerator: (request) => `client:${credentialsOf(request).clientId}`,
    });
    preHandler.push(async (request) => {
      const limit = await perClient(request);
      if (!limit.isAllowed && limit.isExceeded) {
        throw new ApiError(429, "too_many_requests", "too many token requests for this client; try again later", {
          "retry-after": String(limit.ttlInSeconds),
        });
      }
    });
  }
  return { onRequest, preHandler };
}

// Route hooks are not typed from the route's schema; these run after validation, so the body is a TokenRequest.
const credentialsOf = (request: FastifyRequest) =>
  clientCredentials(request.headers.authorization, request.body as Static<typeof TokenRequest>);

/** The @fastify/rate-limit refusal in the API's error shape (the plugin has set Retry-After). */
export function tokenRateLimitError(_request: unknown, context: { after: string }): ApiError {
  return new ApiError(429, "too_many_requests", `too many token requests; try again in ${context.after}`);
}

/** OAuth2 client credentials (RFC 6749 section 4.4) for integrators and bridges: `POST /auth/v1/token`. */
export function authRoutes(app: TypedApp, ctx: CloudContext): void {
  app.post(
    "/auth/v1/token",
    {
      config: { auth: "public" },
      ...tokenRateLimits(app, ctx.settings),
      schema: {
        operationId: "getAccessToken",
        tags: ["auth"],
        summary: "Get an access token (OAuth2 client credentials)",
        description:
          "JSON or application/x-www-form-urlencoded. The client authenticates with HTTP Basic (RFC 6749 section " +
          "2.3.1: `Authorization: Basic base64(client_id:client_secret)`, each form-encoded first) or with " +
          "`client_id` and `client_secret` in the body; not both (400). Scopes: `integrator.admin`, " +
          "`lockHolder.admin:<id>`, `bridge`. Unknown or missing credentials: 401 `invalid_client` (with " +
          "`WWW-Authenticate: Basic` when Basic was used or nothing was sent).",
        consumes: ["application/json", "application/x-www-form-urlencoded"],
        // No bearer token here: client credentials, in the body or as HTTP Basic.
        security: [{}, { clientBasic: [] }],
        body: TokenRequest,
        response: { 200: TokenAnswer, ...errors(400, 429) },
      },
    },
    async (request) => {
      const body = request.body;
      const creds = credentialsOf(request);
      const now = ctx.clock.now();
      type Grant = Omit<AccessTokenRecord, "tokenHash" | "expiresAt" | "issuedUnder"> & { secret: SecretMatch };
      const grant = await read(ctx, async (tx): Promise<Grant> => {
        if (body.scope === "bridge") {
          const bridge = await tx.bridges.get(creds.clientId);
          const secret = bridge && matchSecret(creds.clientSecret, bridge, now);
          if (!bridge || !secret) throw invalidClient(creds.basic);
          return {
            secret,
            kind: "bridge",
            subjectId: bridge.id,
            integratorId: null,
            lockHolderId: bridge.lockHolderId,
            scope: "bridge",
          };
        }
        const client = await tx.integrators.getClient(creds.clientId);
        const secret = client && matchSecret(creds.clientSecret, client, now);
        if (!client || !secret) throw invalidClient(creds.basic);
        if (body.scope === "integrator.admin") {
          return {
            secret,
            kind: "integrator",
            subjectId: client.integratorId,
            integratorId: client.integratorId,
            lockHolderId: null,
            scope: body.scope,
          };
        }
        const match = LOCK_HOLDER_SCOPE.exec(body.scope);
        if (match) {
          const lh = await tx.lockHolders.get(match[1]!);
          if (!lh || lh.integratorId !== client.integratorId) {
            throw invalid(`scope: lock holder ${match[1]} is not one of this integrator's`, "invalid_scope");
          }
          return {
            secret,
            kind: "integrator",
            subjectId: client.integratorId,
            integratorId: client.integratorId,
            lockHolderId: lh.id,
            scope: body.scope,
          };
        }
        throw invalid("scope must be integrator.admin, lockHolder.admin:<lockHolderId> or bridge", "invalid_scope");
      });
      const accessToken = newSecret(ctx.random, "lkat_");
      // A token issued for an old secret in its overlap ends with the overlap (review 12.7, secret-rotation.ts).
      const { secret, ...record } = grant;
      const expiresAt = Math.min(now + ctx.settings.accessTokenTtlSeconds * 1000, secret.expiresAt ?? Infinity);
      await commit(ctx, (tx) =>
        tx.tokens.insert({ ...record, tokenHash: hashSecret(accessToken), expiresAt, issuedUnder: secret.hash }),
      );
      const expiresIn = Math.ceil((expiresAt - now) / 1000);
      return { access_token: accessToken, token_type: "bearer" as const, expires_in: expiresIn, scope: grant.scope };
    },
  );
}
