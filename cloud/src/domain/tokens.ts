import type { CloudContext } from "../context.js";
import { hashSecret, newSecret } from "../security/secrets.js";
import type { AccessTokenRecord } from "../store/records.js";
import type { Tx } from "../store/store.js";
import { commit, read } from "./commit.js";
import { invalid } from "./errors.js";
import { matchSecret, type SecretMatch } from "./secret-rotation.js";

const LOCK_HOLDER_SCOPE = /^lockHolder\.admin:(.+)$/;

/** What a client asks for at `POST /auth/v1/token` (docs/bridge-api.md for bridges). */
export interface TokenRequest {
  clientId: string;
  clientSecret: string;
  /** `integrator.admin`, `lockHolder.admin:<id>` or `bridge`. */
  scope: string;
}

export interface IssuedToken {
  accessToken: string;
  expiresInSeconds: number;
  scope: string;
}

type Grant = Omit<AccessTokenRecord, "tokenHash" | "expiresAt" | "issuedUnder"> & { secret: SecretMatch };

/**
 * OAuth2 client credentials (RFC 6749 section 4.4) for integrators and bridges. Answers undefined for an unknown
 * client or a wrong secret (the caller refuses as its transport says: 401 `invalid_client`); a scope the client may
 * not have is `invalid` (`invalid_scope`).
 */
export async function issueToken(ctx: CloudContext, request: TokenRequest): Promise<IssuedToken | undefined> {
  const now = ctx.clock.now();
  const grant = await read(ctx, (tx) => grantOf(tx, request, now));
  if (grant === undefined) return undefined;
  const accessToken = newSecret(ctx.random, "lkat_");
  // A token issued for an old secret in its overlap ends with the overlap (review 12.7, secret-rotation.ts).
  const { secret, ...record } = grant;
  const expiresAt = Math.min(now + ctx.settings.accessTokenTtlSeconds * 1000, secret.expiresAt ?? Infinity);
  await commit(ctx, (tx) =>
    tx.tokens.insert({ ...record, tokenHash: hashSecret(accessToken), expiresAt, issuedUnder: secret.hash }),
  );
  return { accessToken, expiresInSeconds: Math.ceil((expiresAt - now) / 1000), scope: grant.scope };
}

async function grantOf(tx: Tx, request: TokenRequest, now: number): Promise<Grant | undefined> {
  const { clientId, clientSecret, scope } = request;
  if (scope === "bridge") {
    const bridge = await tx.bridges.get(clientId);
    const secret = bridge && matchSecret(clientSecret, bridge, now);
    if (!bridge || !secret) return undefined;
    return {
      secret,
      kind: "bridge",
      subjectId: bridge.id,
      integratorId: null,
      lockHolderId: bridge.lockHolderId,
      scope: "bridge",
    };
  }
  const client = await tx.integrators.getClient(clientId);
  const secret = client && matchSecret(clientSecret, client, now);
  if (!client || !secret) return undefined;
  const integrator = {
    secret,
    kind: "integrator" as const,
    subjectId: client.integratorId,
    integratorId: client.integratorId,
  };
  if (scope === "integrator.admin") return { ...integrator, lockHolderId: null, scope };
  const match = LOCK_HOLDER_SCOPE.exec(scope);
  if (match) {
    const lh = await tx.lockHolders.get(match[1]!);
    if (!lh || lh.integratorId !== client.integratorId) {
      throw invalid(`scope: lock holder ${match[1]} is not one of this integrator's`, "invalid_scope");
    }
    return { ...integrator, lockHolderId: lh.id, scope };
  }
  throw invalid("scope must be integrator.admin, lockHolder.admin:<lockHolderId> or bridge", "invalid_scope");
}
