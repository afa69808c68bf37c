import { normalizeIP } from "@fastify/rate-limit";
import { errors, TokenAnswer, TokenRequest } from "@latchkey/protocol/contracts";
import type { Static } from "@sinclair/typebox";
import type { FastifyRequest, onRequestHookHandler, preHandlerHookHandler } from "fastify";
import type { CloudContext } from "../context.js";
import { issueToken } from "../domain/tokens.js";
import { clientCredentials, invalidClient } from "../http/client-auth.js";
import { ApiError } from "../http/errors.js";
import type { TypedApp } from "../http/typed.js";

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
      const creds = credentialsOf(request);
      const token = await issueToken(ctx, { ...creds, scope: request.body.scope });
      if (!token) throw invalidClient(creds.basic);
      return {
        access_token: token.accessToken,
        token_type: "bearer" as const,
        expires_in: token.expiresInSeconds,
        scope: token.scope,
      };
    },
  );
}
