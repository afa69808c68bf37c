import type { FastifyInstance, FastifyRequest } from "fastify";
import type { CloudContext } from "../context.js";
import type { Principal } from "../domain/access.js";
import { forbidden } from "../domain/errors.js";
import { hashSecret } from "../security/secrets.js";
import { ApiError, unauthorized } from "./errors.js";

export type { Principal };

/** What a route demands. Every route names one: a route without it is refused (reject by default). */
export type AuthRequirement = "public" | "integrator" | "integrator.admin" | "bridge" | "app";

declare module "fastify" {
  interface FastifyContextConfig {
    auth?: AuthRequirement;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;

export function installAuth(app: FastifyInstance, ctx: CloudContext): void {
  app.addHook("onRequest", async (request) => {
    const requirement = request.routeOptions.config?.auth;
    const url = request.routeOptions.url;
    if (url === undefined) return; // no route: the not-found handler answers
    if (requirement === undefined) {
      if (url === "/docs" || url.startsWith("/docs/")) return;
      throw forbidden("this route is not open to any caller");
    }
    if (requirement === "public") return;
    request.principal = await authenticate(request, ctx);
    const p = request.principal;
    const allowed =
      (requirement === "integrator" && p.kind === "integrator") ||
      (requirement === "integrator.admin" && p.kind === "integrator" && p.lockHolderId === null) ||
      (requirement === "bridge" && p.kind === "bridge") ||
      (requirement === "app" && p.kind === "app");
    if (!allowed) {
      throw forbidden(
        requirement === "integrator.admin" && p.kind === "integrator"
          ? "this route needs the integrator.admin scope"
          : `a ${p.kind} token cannot be used on this route`,
        "insufficient_scope",
      );
    }
  });
}

async function authenticate(request: FastifyRequest, ctx: CloudContext): Promise<Principal> {
  const header = request.headers.authorization;
  if (header === undefined) throw unauthorized("send an access token as Authorization: Bearer <token>");
  const match = BEARER.exec(header);
  if (!match) throw unauthorized("the Authorization header must be Bearer <token>");
  const token = await ctx.store.transaction((tx) => tx.tokens.get(hashSecret(match[1]!)));
  if (token === undefined || token.expiresAt <= ctx.clock.now()) {
    throw unauthorized("the access token is unknown or has expired");
  }
  switch (token.kind) {
    case "integrator":
      return { kind: "integrator", integratorId: token.integratorId!, lockHolderId: token.lockHolderId };
    case "bridge":
      return { kind: "bridge", bridgeId: token.subjectId, lockHolderId: token.lockHolderId! };
    case "app":
      return { kind: "app", deviceId: token.subjectId, userId: token.scope.slice("app:".length) };
  }
}

/** Any request that went through the auth hook: a route's typed request, or a plain one. */
type Authenticated = Pick<FastifyRequest, "principal">;

function principalOf<K extends Principal["kind"]>(request: Authenticated, kind: K): Extract<Principal, { kind: K }> {
  const p = request.principal;
  if (p?.kind !== kind) throw new ApiError(403, "forbidden", `this route needs a ${kind} token`);
  return p as Extract<Principal, { kind: K }>;
}

export const integratorOf = (request: Authenticated) => principalOf(request, "integrator");
export const bridgeOf = (request: Authenticated) => principalOf(request, "bridge");
export const deviceOf = (request: Authenticated) => principalOf(request, "app");
